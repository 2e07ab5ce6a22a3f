"""The nightly ``full_refresh`` (cron and timezone from the environment)."""

from __future__ import annotations

import os

import dagster as dg

from restructure_pipeline.automation.jobs import full_refresh
from restructure_pipeline.automation.launch import full_refresh_tags
from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, LEGACY_PARTITION

CRON_ENV = "RESTRUCTURE_FULL_REFRESH_CRON"
TIMEZONE_ENV = "RESTRUCTURE_FULL_REFRESH_TIMEZONE"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"


def build_full_refresh_schedule(cron: str | None = None, timezone: str | None = None) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=full_refresh,
        name="nightly_full_refresh",
        cron_schedule=cron or os.environ.get(CRON_ENV, DEFAULT_CRON),
        execution_timezone=timezone or os.environ.get(TIMEZONE_ENV, DEFAULT_TIMEZONE),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Rebuild everything from the legacy table and every registered drop.",
    )
    def nightly_full_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        if not context.instance.has_dynamic_partition(CUSTOMER_SOURCES.name, LEGACY_PARTITION):
            context.instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, [LEGACY_PARTITION])
        # The range runs first to last registered key, whatever order they were added in.
        keys = list(context.instance.get_dynamic_partitions(CUSTOMER_SOURCES.name))
        return dg.RunRequest(tags=full_refresh_tags(keys))

    return nightly_full_refresh


nightly_full_refresh = build_full_refresh_schedule()
