"""Checks on ``company_prospect_view``: it holds exactly the live join."""

import dagster as dg
from psycopg import sql

from restructure_pipeline.assets.view import company_prospect_view
from restructure_pipeline.checks.results import check_result
from restructure_pipeline.resources import PostgresResource
from restructure_pipeline.store.view import VIEW_NAME

# The view's own definition, read back from the catalog, is the live join to compare with.
_VIEW_DEFINITION = "SELECT pg_get_viewdef(to_regclass(%s), true)"

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
    with postgres.connect() as conn, conn.transaction():
        definition = conn.execute(_VIEW_DEFINITION, (VIEW_NAME,)).fetchone()[0].rstrip().rstrip(";")
        view_rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(VIEW_NAME))).fetchone()[0]
        join_rows = conn.execute(
            'SELECT count(*) FROM "Company" c LEFT JOIN "Prospect" p ON c.id = p."companyId"'
        ).fetchone()[0]
        different = conn.execute(
            sql.SQL(_DIFFERENCE).format(view=sql.Identifier(VIEW_NAME), definition=sql.SQL(definition))
        ).fetchone()[0]
    return check_result(
        different + abs(view_rows - join_rows), view_rows=view_rows, join_rows=join_rows, differing_rows=different
    )
