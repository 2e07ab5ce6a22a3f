"""Jobs: ``full_refresh`` (every source, everything recomputed) and ``ingest_drop`` (one drop)."""

from __future__ import annotations

import dagster as dg

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.assets.extract import customer_extract
from restructure_pipeline.assets.prospects import prospects
from restructure_pipeline.assets.search_index import SEARCH_INDEX_ASSETS
from restructure_pipeline.assets.view import company_prospect_view
from restructure_pipeline.automation.partitions import FULL_REFRESH, REFRESH_TAG, WRITER_TAG, WRITER_TAG_VALUE

# The steps form one chain, so separate processes per step would only add start-up time.
EXECUTOR = dg.in_process_executor

PIPELINE_ASSETS = dg.AssetSelection.assets(
    customer_extract, companies, prospects, company_prospect_view, *SEARCH_INDEX_ASSETS
)

full_refresh = dg.define_asset_job(
    "full_refresh",
    selection=PIPELINE_ASSETS,
    tags={REFRESH_TAG: FULL_REFRESH, WRITER_TAG: WRITER_TAG_VALUE},
    executor_def=EXECUTOR,
    description=(
        "Stage the legacy table and every drop (run it over all partitions), recompute every company, "
        "prospect and the view, and rebuild the three OpenSearch indices behind their aliases."
    ),
)

ingest_drop = dg.define_asset_job(
    "ingest_drop",
    selection=PIPELINE_ASSETS,
    tags={WRITER_TAG: WRITER_TAG_VALUE},
    executor_def=EXECUTOR,
    description=(
        "Stage one drop (or a few, as a single-run backfill), recompute only what it touched, and update "
        "the live OpenSearch indices in place."
    ),
)
