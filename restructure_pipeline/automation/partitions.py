"""The one partitioning of the pipeline: its input sources.

``customer_extract`` has one partition per source: ``legacy`` for the ``"Customer"``
table and one per CSV drop file (its path relative to the drop folder). Drops are
registered as dynamic partitions by the drop sensor, the CLI, or by hand in the UI.
"""

from __future__ import annotations

import dagster as dg

from restructure_pipeline.sources.legacy import LEGACY_PARTITION

CUSTOMER_SOURCES = dg.DynamicPartitionsDefinition(name="customer_sources")

# Every asset loads a range of sources in one run: one recompute, one index update, however
# many drops a backfill selects (the CLI's --partition-range needs it on every selected asset).
SINGLE_RUN = dg.BackfillPolicy.single_run()

# Run tag set by the full_refresh job: downstream steps recompute every company and prospect.
REFRESH_TAG = "restructure/refresh"
FULL_REFRESH = "full"

# Every job that writes the pipeline's tables carries this tag; the run queue allows one
# such run at a time (dagster.yaml), and a Postgres advisory lock backs that up.
WRITER_TAG = "restructure/writer"
WRITER_TAG_VALUE = "pipeline"

__all__ = ["CUSTOMER_SOURCES", "SINGLE_RUN", "FULL_REFRESH", "LEGACY_PARTITION", "REFRESH_TAG", "WRITER_TAG", "WRITER_TAG_VALUE"]
