"""How much a check looks at: what its run changed, or everything.

A drop run checks what it staged, so that its checks cost in proportion to the drop: the
identities and domains it queued (``pending_key`` and ``pending_domain``, which the prospect
step empties once it has used them), since staging and the company step change rows for no
others. A full refresh, a check run on its own (from the UI), and a drop run while a full
refresh's "everything" is still queued (its steps then recompute everything) check whole
tables.
"""

from collections.abc import Sequence

import dagster as dg
import psycopg

from restructure_pipeline.automation.partitions import FULL_REFRESH, REFRESH_TAG
from restructure_pipeline.store.staging import everything_queued

WHOLE_TABLE = "all"
QUEUED_BY_THE_RUN = "queued by this run"


def staged_sources(context: dg.AssetCheckExecutionContext) -> Sequence[str] | None:
    """The source partitions the run stages; None for a full refresh or a check run on its own."""
    if context.run.tags.get(REFRESH_TAG) == FULL_REFRESH:
        return None
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    return context.partition_keys


def checks_whole_tables(context: dg.AssetCheckExecutionContext, conn: psycopg.Connection) -> bool:
    return staged_sources(context) is None or everything_queued(conn)
