"""The one ``Definitions`` object of the code location: assets, checks, jobs and resources."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.assets.extract import customer_extract
from restructure_pipeline.assets.prospects import prospects
from restructure_pipeline.assets.search_index import SEARCH_INDEX_ASSETS
from restructure_pipeline.assets.view import company_prospect_view
from restructure_pipeline.automation.cleanup import cleanup_legacy
from restructure_pipeline.automation.jobs import EXECUTOR, full_refresh, ingest_drop
from restructure_pipeline.automation.schedules import nightly_full_refresh
from restructure_pipeline.automation.sensors import drop_sensor
from restructure_pipeline.checks import companies as company_checks
from restructure_pipeline.checks import extract as extract_checks
from restructure_pipeline.checks import prospects as prospect_checks
from restructure_pipeline.checks import view as view_checks
from restructure_pipeline.checks.search_index import SEARCH_INDEX_CHECKS
from restructure_pipeline.resources import default_resources


def build_definitions(resources: Mapping[str, object] | None = None) -> dg.Definitions:
    """The code location; tests pass resources pointing at their own database."""
    return dg.Definitions(
        assets=[customer_extract, companies, prospects, company_prospect_view, *SEARCH_INDEX_ASSETS],
        asset_checks=[
            *dg.load_asset_checks_from_modules([extract_checks, company_checks, prospect_checks, view_checks]),
            *SEARCH_INDEX_CHECKS,
        ],
        jobs=[full_refresh, ingest_drop, cleanup_legacy],
        schedules=[nightly_full_refresh],
        sensors=[drop_sensor],
        resources=dict(resources) if resources is not None else default_resources(),
        executor=EXECUTOR,
    )


defs = build_definitions()
