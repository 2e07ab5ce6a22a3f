"""``prospects``: ``"Prospect"`` linked to its company, and the quarantine of rows that are not."""

import time

import dagster as dg
import polars as pl

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.assets.metadata import markdown_table, quarantine_by_reason, table_schema
from restructure_pipeline.automation.partitions import SINGLE_RUN
from restructure_pipeline.identity.merge import resolve_by_company_name
from restructure_pipeline.identity.names import clean_company_name_column
from restructure_pipeline.ids import new_cuid
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.store.prospects import write_prospects


def _clean_names(companies_frame: pl.DataFrame) -> pl.DataFrame:
    return clean_company_name_column(companies_frame, "name", out="name_clean")


@dg.asset(
    deps=[companies],
    backfill_policy=SINGLE_RUN,
    group_name="restructure",
    kinds={"postgres", "polars"},
    description=(
        "Prospect (Prisma model): one row per person, linked to its company; rows that cannot be "
        "linked go to restructure.customer_quarantine with a reason."
    ),
)
def prospects(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    with postgres.connect() as conn:
        apply_migrations(conn)
        result = write_prospects(conn, resolve_by_company_name, _clean_names, new_cuid)
        total = conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0]
        by_reason = quarantine_by_reason(conn)
        schema = table_schema(conn, "public", "Prospect")
    context.log.info(
        f"Recomputed {result.recomputed} prospects ({result.inserted_or_updated} written, {result.deleted} removed); "
        f"{result.quarantined} rows quarantined"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "dagster/column_schema": schema,
            "prospects_recomputed": result.recomputed,
            "prospects_written": result.inserted_or_updated,
            "prospects_removed": result.deleted,
            "resolved_by_company_name": result.resolved_by_name,
            "companies_retired": result.companies_retired,
            "quarantined": result.quarantined,
            "quarantine_by_reason": markdown_table(["reason", "rows"], sorted(by_reason.items())),
            **{f"quarantined/{reason}": count for reason, count in by_reason.items()},
            "duration_seconds": round(time.perf_counter() - started, 3),
        }
    )
