"""Checks on ``company_prospect_view``: it holds exactly the live join."""

import dagster as dg
from psycopg import sql

from restructure_pipeline.assets.view import company_prospect_view
from restructure_pipeline.checks.results import check_result
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.store.view import VIEW_NAME

# The view's own definition, read back from the catalog, is the live join to compare with.
_VIEW_DEFINITION = "SELECT pg_get_viewdef(to_regclass(%s), true)"

# An order-independent digest of a row set: equal sets give equal digests in one pass,
# without sorting; only a mismatch pays for the exact EXCEPT ALL count.
_DIGEST = "SELECT count(*), coalesce(sum(hash_record_extended(r, 0)::numeric), 0) FROM ({rows}) r"

_DIFFERENCE = """
SELECT count(*) FROM (
    (SELECT * FROM {view} EXCEPT ALL ({definition}))
    UNION ALL
    (({definition}) EXCEPT ALL SELECT * FROM {view})
) difference
"""


@dg.asset_check(
    asset=company_prospect_view, blocking=True,
    description="The view's rows equal the live Company LEFT JOIN Prospect rows (count and content): it is fresh.",
)
def view_matches_join(postgres: PostgresResource) -> dg.AssetCheckResult:
    view = sql.Identifier(VIEW_NAME)
    with postgres.connect() as conn, conn.transaction():
        definition = sql.SQL(conn.execute(_VIEW_DEFINITION, (VIEW_NAME,)).fetchone()[0].rstrip().rstrip(";"))
        view_rows, view_digest = conn.execute(
            sql.SQL(_DIGEST).format(rows=sql.SQL("SELECT * FROM {}").format(view))
        ).fetchone()
        join_rows, join_digest = conn.execute(sql.SQL(_DIGEST).format(rows=definition)).fetchone()
        different = 0
        if (view_rows, view_digest) != (join_rows, join_digest):
            different = conn.execute(sql.SQL(_DIFFERENCE).format(view=view, definition=definition)).fetchone()[0]
            different = max(different, 1)  # the digests differ: never report a match
    return check_result(
        different + abs(view_rows - join_rows), view_rows=view_rows, join_rows=join_rows, differing_rows=different
    )
