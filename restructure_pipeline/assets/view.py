"""``company_prospect_view``: the denormalized read model, refreshed without blocking readers."""

import time

import dagster as dg
from psycopg import sql

from restructure_pipeline.assets.metadata import table_schema
from restructure_pipeline.assets.prospects import prospects
from restructure_pipeline.automation.partitions import SINGLE_RUN
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.store import search_sync
from restructure_pipeline.store.view import VIEW_NAME, refresh_view


@dg.asset(
    deps=[prospects],
    backfill_policy=SINGLE_RUN,
    group_name="restructure",
    kinds={"postgres"},
    description="Materialized view company_prospect_view (Company LEFT JOIN Prospect), refreshed concurrently.",
)
def company_prospect_view(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    with postgres.connect() as conn:
        apply_migrations(conn)
        concurrently = refresh_view(conn)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(VIEW_NAME))).fetchone()[0]
        # Its index applies the outbox up to here; later changes wait for the next refresh.
        position = search_sync.refreshed_position(conn, VIEW_NAME)
        schema = table_schema(conn, "public", VIEW_NAME)
    context.log.info(f"Refreshed {VIEW_NAME} ({'concurrently' if concurrently else 'first population'})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": schema,
            "refreshed_concurrently": concurrently,
            "outbox_position": position,
            "duration_seconds": round(time.perf_counter() - started, 3),
        }
    )
