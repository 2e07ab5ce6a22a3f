"""``companies``: ``"Company"``, one row per company domain, merged from its source rows."""

import time

import dagster as dg

from restructure_pipeline.assets.extract import customer_extract
from restructure_pipeline.assets.metadata import markdown_table, table_schema
from restructure_pipeline.automation.partitions import SINGLE_RUN
from restructure_pipeline.identity.merge import merge_company_attributes
from restructure_pipeline.ids import new_cuid
from restructure_pipeline.resources import PipelineSettings, PostgresResource
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.store.companies import write_companies

_LARGEST_COMPANIES = """
SELECT c.domain, c.name, c.industry, c.country, largest.source_rows
FROM (
    SELECT company_domain, count(*) AS source_rows FROM restructure.source_record
    WHERE is_current AND record_problem IS NULL AND company_domain IS NOT NULL
    GROUP BY company_domain ORDER BY source_rows DESC, company_domain LIMIT 10
) largest
JOIN "Company" c ON c.domain = largest.company_domain
ORDER BY largest.source_rows DESC, c.domain
"""


@dg.asset(
    deps=[customer_extract],
    backfill_policy=SINGLE_RUN,
    group_name="restructure",
    kinds={"postgres", "polars"},
    description="Company (Prisma model): one row per registrable email domain, attributes merged across its rows.",
)
def companies(
    context: dg.AssetExecutionContext, postgres: PostgresResource, settings: PipelineSettings
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with postgres.connect() as conn, postgres.connect() as reader:
        apply_migrations(conn)
        result = write_companies(conn, reader, merge_company_attributes, new_cuid, settings.chunk_rows)
        total = conn.execute('SELECT count(*) FROM "Company"').fetchone()[0]
        largest = conn.execute(_LARGEST_COMPANIES).fetchall()
        schema = table_schema(conn, "public", "Company")
    context.log.info(
        f"Recomputed {result.domains_recomputed} domains: {result.inserted} new companies, {result.updated} updated"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "dagster/column_schema": schema,
            "domains_recomputed": result.domains_recomputed,
            "companies_inserted": result.inserted,
            "companies_updated": result.updated,
            "largest_companies": markdown_table(["domain", "name", "industry", "country", "source rows"], largest),
            "duration_seconds": round(time.perf_counter() - started, 3),
        }
    )
