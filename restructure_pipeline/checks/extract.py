"""Checks on ``customer_extract``: the staging table is a faithful, consistent copy of the sources.

A drop run checks the identities it queued, and the legacy table only if it staged it
(see :mod:`restructure_pipeline.checks.scope`).
"""

import dagster as dg

from restructure_pipeline.assets.extract import customer_extract
from restructure_pipeline.automation.partitions import LEGACY_PARTITION
from restructure_pipeline.checks.results import SAMPLE_ROWS, check_result, count_and_samples
from restructure_pipeline.checks.scope import QUEUED_BY_THE_RUN, WHOLE_TABLE, checks_whole_tables, staged_sources
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.sources.legacy import legacy_table_exists

_IDENTITIES_WITHOUT_ONE_CURRENT_ROW = """
SELECT "externalSource", "externalId", count(*) FILTER (WHERE is_current) AS current_rows
FROM restructure.source_record
WHERE "externalSource" IS NOT NULL AND "externalId" IS NOT NULL
GROUP BY "externalSource", "externalId"
HAVING count(*) FILTER (WHERE is_current) <> 1
"""

# Staging changes which row is current only for the identities it queues.
_QUEUED_IDENTITIES_WITHOUT_ONE_CURRENT_ROW = """
SELECT s."externalSource", s."externalId", count(*) FILTER (WHERE s.is_current) AS current_rows
FROM restructure.source_record s
JOIN restructure.pending_key k USING ("externalSource", "externalId")
GROUP BY s."externalSource", s."externalId"
HAVING count(*) FILTER (WHERE s.is_current) <> 1
"""

# "Customer" against its staged rows as of the snapshot the last staging read it in
# (restructure.legacy_read; none recorded: as the table is now). The app may write to it
# meanwhile: a row whose version was committed after the read (its xmin is not visible in the
# read's snapshot) arrived since, and a staged row gone from "Customer" was deleted since
# (staging keeps exactly the rows it read). Both wait for the next full refresh; a row the read
# saw and staging lost is the problem. xmin is a 32-bit xid: it is widened to the snapshot's
# 64-bit epoch, one epoch back when it would be past the snapshot.
_LEGACY_COMPARED = """
WITH read AS (
    SELECT snapshot, pg_snapshot_xmax(snapshot)::text::bigint AS xmax FROM restructure.legacy_read
),
unstaged AS (
    SELECT c.id, r.snapshot IS NULL OR pg_visible_in_snapshot(
               (x.xid - CASE WHEN x.xid >= r.xmax THEN 4294967296 ELSE 0 END)::text::xid8, r.snapshot
           ) AS read_then
    FROM "Customer" c
    LEFT JOIN read r ON TRUE
    CROSS JOIN LATERAL (SELECT (r.xmax >> 32 << 32) + c.xmin::text::bigint AS xid) x
    WHERE NOT EXISTS (SELECT 1 FROM restructure.source_record s WHERE s.source = 'legacy' AND s.source_ref = c.id)
),
gone AS (
    SELECT s.source_ref AS id, NOT EXISTS (SELECT 1 FROM read) AS read_then
    FROM restructure.source_record s
    WHERE s.source = 'legacy' AND NOT EXISTS (SELECT 1 FROM "Customer" c WHERE c.id = s.source_ref)
),
compared AS (
    SELECT 'not staged' AS problem, id, read_then FROM unstaged
    UNION ALL
    SELECT 'staged but gone from Customer', id, read_then FROM gone
)
"""

# Problems, rows inserted since the read, staged rows deleted since: one pass over both tables.
_LEGACY_TALLY = _LEGACY_COMPARED + """
SELECT count(*) FILTER (WHERE read_then),
       count(*) FILTER (WHERE NOT read_then AND problem = 'not staged'),
       count(*) FILTER (WHERE NOT read_then AND problem <> 'not staged')
FROM compared
"""

_LEGACY_PROBLEM_SAMPLES = _LEGACY_COMPARED + "SELECT problem, id FROM compared WHERE read_then LIMIT %s"


@dg.asset_check(asset=customer_extract, blocking=True, description="Every identity has exactly one current row.")
def one_current_row_per_identity(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        whole_table = checks_whole_tables(context, conn)
        query = _IDENTITIES_WITHOUT_ONE_CURRENT_ROW if whole_table else _QUEUED_IDENTITIES_WITHOUT_ONE_CURRENT_ROW
        problems, samples = count_and_samples(conn, query)
    return check_result(
        problems, samples, ["externalSource", "externalId", "current_rows"],
        identities_checked=WHOLE_TABLE if whole_table else QUEUED_BY_THE_RUN,
    )


@dg.asset_check(
    asset=customer_extract, blocking=True,
    description=(
        'Every "Customer" row is staged, and nothing staged as legacy is missing from "Customer". '
        "Checked by the runs that stage the legacy table (and when run on its own)."
    ),
)
def legacy_rows_all_staged(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
    staged = staged_sources(context)
    if staged is not None and LEGACY_PARTITION not in staged:
        # "Customer" may have changed since it was last staged; the next full refresh stages it.
        return dg.AssetCheckResult(passed=True, metadata={"note": 'this run did not stage "Customer"'})
    with postgres.connect() as conn:
        if not legacy_table_exists(conn):
            return dg.AssetCheckResult(passed=True, metadata={"note": 'no "Customer" table (cleaned up)'})
        differences, arrived, deleted = conn.execute(_LEGACY_TALLY).fetchone()
        samples = conn.execute(_LEGACY_PROBLEM_SAMPLES, (SAMPLE_ROWS,)).fetchall() if differences else []
        customers = conn.execute('SELECT count(*) FROM "Customer"').fetchone()[0]
    return check_result(
        differences, samples, ["problem", "id"], customer_rows=customers,
        rows_inserted_since_the_read=arrived, rows_deleted_since_the_read=deleted,
    )
