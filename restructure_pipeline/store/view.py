"""Refreshing ``company_prospect_view``."""

from __future__ import annotations

import psycopg
from psycopg import sql

from restructure_pipeline.store.bulk import take_write_lock

VIEW_NAME = "company_prospect_view"


def refresh_view(conn: psycopg.Connection) -> bool:
    """Refresh the view; concurrently (readers never blocked) once it has been populated.

    Returns whether the refresh was concurrent. The first population cannot be.
    """
    with conn.transaction():
        take_write_lock(conn)
        populated = conn.execute(
            "SELECT ispopulated FROM pg_matviews WHERE schemaname = 'public' AND matviewname = %s", (VIEW_NAME,)
        ).fetchone()[0]
        if populated:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(sql.Identifier(VIEW_NAME)))
        else:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(VIEW_NAME)))
    return bool(populated)
