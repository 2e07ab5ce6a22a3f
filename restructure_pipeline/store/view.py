"""Refreshing ``company_prospect_view``, and recording the search-outbox position each refresh covers."""

from __future__ import annotations

import psycopg
from psycopg import sql

from restructure_pipeline.store import search_sync
from restructure_pipeline.store.bulk import take_write_lock

VIEW_NAME = "company_prospect_view"


def refresh_view(conn: psycopg.Connection) -> bool:
    """Refresh the view; concurrently (readers never blocked) once it has been populated.

    Returns whether the refresh was concurrent. The first population cannot be. The write
    lock keeps the tables and the outbox still, so the view holds every change up to the
    outbox position recorded with the refresh and none after it.
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
        search_sync.record_view_refresh(conn, VIEW_NAME)
    return bool(populated)
