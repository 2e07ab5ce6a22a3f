"""Checks on ``customer_extract``: the staging table is a faithful, consistent copy of the sources."""

import dagster as dg

from restructure_pipeline.assets.extract import customer_extract
from restructure_pipeline.checks.results import check_result, count_and_samples
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.sources.legacy import legacy_table_exists

_IDENTITIES_WITHOUT_ONE_CURRENT_ROW = """
SELECT "externalSource", "externalId", count(*) FILTER (WHERE is_current) AS current_rows
FROM restructure.source_record
WHERE "externalSource" IS NOT NULL AND "externalId" IS NOT NULL
GROUP BY "externalSource", "externalId"
HAVING count(*) FILTER (WHERE is_current) <> 1
"""

_LEGACY_DIFFERENCES = """
SELECT 'not staged' AS problem, c.id FROM "Customer" c
WHERE NOT EXISTS (SELECT 1 FROM restructure.source_record s WHERE s.source = 'legacy' AND s.source_ref = c.id)
UNION ALL
SELECT 'staged but gone from Customer', s.source_ref FROM restructure.source_record s
WHERE s.source = 'legacy' AND NOT EXISTS (SELECT 1 FROM "Customer" c WHERE c.id = s.source_ref)
"""


@dg.asset_check(asset=customer_extract, blocking=True, description="Every identity has exactly one current row.")
def one_current_row_per_identity(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        problems, samples = count_and_samples(conn, _IDENTITIES_WITHOUT_ONE_CURRENT_ROW)
    return check_result(problems, samples, ["externalSource", "externalId", "current_rows"])


@dg.asset_check(
    asset=customer_extract, blocking=True,
    description='Every "Customer" row is staged, and nothing staged as legacy is missing from "Customer".',
)
def legacy_rows_all_staged(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        if not legacy_table_exists(conn):
            return dg.AssetCheckResult(passed=True, metadata={"note": 'no "Customer" table (cleaned up)'})
        differences, samples = count_and_samples(conn, _LEGACY_DIFFERENCES)
        customers = conn.execute('SELECT count(*) FROM "Customer"').fetchone()[0]
    return check_result(differences, samples, ["problem", "id"], customer_rows=customers)
