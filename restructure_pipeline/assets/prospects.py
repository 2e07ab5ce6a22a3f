"""``prospects``: ``"Prospect"`` linked to its company, and the quarantine of rows that are not."""

import time

import dagster as dg
import polars as pl

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.assets.metadata import markdown_table, quarantine_by_reason, table_schema, values_too_long
from restructure_pipeline.automation.partitions import SINGLE_RUN
from restructure_pipeline.identity.index_limits import MAX_DOCUMENT_ID_BYTES, MAX_INDEXED_VALUE_BYTES
from restructure_pipeline.identity.merge import company_name_owners
from restructure_pipeline.identity.names import clean_company_name_column
from restructure_pipeline.identity.reasons import QuarantineReason
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
        result = write_prospects(conn, company_name_owners, _clean_names, new_cuid)
        total = conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0]
        by_reason = quarantine_by_reason(conn)
        quarantined = sum(by_reason.values())
        too_long = values_too_long(conn) if by_reason.get(QuarantineReason.VALUE_TOO_LONG) else []
        schema = table_schema(conn, "public", "Prospect")
    context.log.info(
        f"Recomputed {result.recomputed} prospects ({result.inserted_or_updated} written, {result.deleted} removed); "
        f"{quarantined} rows quarantined"
    )
    metadata: dict[str, object] = {
        "dagster/row_count": total,
        "dagster/column_schema": schema,
        "prospects_recomputed": result.recomputed,
        "prospects_written": result.inserted_or_updated,
        "prospects_removed": result.deleted,
        "resolved_by_company_name": result.resolved_by_name,
        "companies_retired": result.companies_retired,
        "quarantined": quarantined,
        "quarantine_by_reason": markdown_table(["reason", "rows"], sorted(by_reason.items())),
        **{f"quarantined/{reason}": count for reason, count in by_reason.items()},
        "duration_seconds": round(time.perf_counter() - started, 3),
    }
    if too_long:
        # The quarantine row says only the reason: name the column, so the source can be fixed.
        metadata["values_too_long"] = markdown_table(["source", "row", "column", "bytes"], too_long)
        context.log.warning(
            f"{by_reason[QuarantineReason.VALUE_TOO_LONG]} rows quarantined as value_too_long "
            f"(over {MAX_INDEXED_VALUE_BYTES} bytes in an indexed column, or a Customer id over "
            f"{MAX_DOCUMENT_ID_BYTES}), e.g. "
            + "; ".join(f"{source}, {row}: {column} is {size} bytes" for source, row, column, size in too_long[:5])
        )
    return dg.MaterializeResult(metadata=metadata)
