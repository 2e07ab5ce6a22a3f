"""The Postgres side of indexing: consistent snapshots, the search outbox and sync positions.

A rebuild streams a table inside one REPEATABLE READ snapshot and records the outbox
position of that same snapshot, so the incremental updates that follow start exactly
where the rebuilt index stands. The view holds the tables as of its last refresh, so its
position is the one that refresh recorded, not the outbox's latest entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from restructure_pipeline.search_index.documents import checked_document_id, document_id_sql, document_query
from restructure_pipeline.search_index.mappings import IndexDefinition

# Serializes index writers (rebuilds and incremental updates), whatever the run queue does.
SEARCH_LOCK_KEY = 0x5245_5358

SOURCE_RELATIONS: dict[str, sql.Composable] = {
    "companies": sql.Identifier("Company"),
    "prospects": sql.Identifier("Prospect"),
    "company_prospect_view": sql.Identifier("company_prospect_view"),
}

# The one source read from a materialized view rather than from the tables.
VIEW_SOURCE = "company_prospect_view"


#: ``(document id, _source as JSON text)``: what the bulk writer sends.
Document = tuple[str, str]


class ViewNotRefreshedError(RuntimeError):
    """No refresh of the view is recorded, so which changes it holds is unknown."""


@dataclass(frozen=True)
class SyncState:
    alias: str
    live_index: str
    synced_seq: int
    synced_at: datetime


@contextmanager
def search_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the index-writer lock for the duration of the block (session level)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SEARCH_LOCK_KEY,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SEARCH_LOCK_KEY,))


@contextmanager
def snapshot(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A read-only REPEATABLE READ transaction: every read in it sees one moment."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


def outbox_position(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM restructure.search_outbox").fetchone()[0]


def record_view_refresh(conn: psycopg.Connection, view_name: str) -> int:
    """Record the outbox position a refresh of the view covers; returns it.

    Call it in the refresh's transaction, under the write lock: no outbox entry commits
    between the refresh and this read, so the view holds every entry up to it and none after.
    """
    position = outbox_position(conn)
    conn.execute(
        """
        INSERT INTO restructure.view_refresh (view_name, outbox_seq, refreshed_at)
        VALUES (%s, %s, now() AT TIME ZONE 'UTC')
        ON CONFLICT (view_name) DO UPDATE SET outbox_seq = EXCLUDED.outbox_seq, refreshed_at = EXCLUDED.refreshed_at
        """,
        (view_name, position),
    )
    return position


def refreshed_position(conn: psycopg.Connection, view_name: str) -> int | None:
    """The outbox position the view's last refresh covered; None if no refresh is recorded."""
    row = conn.execute(
        "SELECT outbox_seq FROM restructure.view_refresh WHERE view_name = %s", (view_name,)
    ).fetchone()
    return row[0] if row else None


def source_position(conn: psycopg.Connection, logical_name: str) -> int:
    """The outbox position the source's rows reflect, in the caller's snapshot: an index built
    from them may record it.

    A table reflects every committed entry. The view reflects only those its last refresh
    covered; the entries committed since stay pending for its index until the next refresh.
    """
    position = outbox_position(conn)
    if logical_name != VIEW_SOURCE:
        return position
    refreshed = refreshed_position(conn, VIEW_SOURCE)
    if refreshed is None:
        raise ViewNotRefreshedError(
            f"no refresh of {VIEW_SOURCE} is recorded since the tables were first loaded (or since the upgrade "
            f"that records them), so which changes it holds is unknown: materialize {VIEW_SOURCE}, then its index"
        )
    return min(position, refreshed)


def entries_after(conn: psycopg.Connection, position: int) -> int:
    """How many outbox entries are past ``position``."""
    return conn.execute("SELECT count(*) FROM restructure.search_outbox WHERE seq > %s", (position,)).fetchone()[0]


def count_rows(conn: psycopg.Connection, logical_name: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(SOURCE_RELATIONS[logical_name])
    return conn.execute(query).fetchone()[0]


def iter_documents(conn: psycopg.Connection, definition: IndexDefinition, chunk_rows: int) -> Iterator[Document]:
    """Every row as ``(document id, _source JSON)``, streamed through a server-side cursor; caller owns the transaction."""
    yield from iter_documents_where(conn, definition, sql.SQL("TRUE"), (), chunk_rows)


def iter_documents_where(
    conn: psycopg.Connection, definition: IndexDefinition, condition: sql.Composable, params: Sequence, chunk_rows: int
) -> Iterator[Document]:
    """The documents of the rows matching ``condition`` (a WHERE clause over the source's columns),
    streamed through a server-side cursor: a changed company may repeat in 50,000 view rows."""
    query = sql.SQL("{} WHERE {}").format(document_query(definition, SOURCE_RELATIONS[definition.logical_name]), condition)
    with conn.cursor(name=f"index_{definition.logical_name}") as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(query, params)
        for doc_id, source in cursor:
            yield checked_document_id(definition, doc_id), source


def count_where(conn: psycopg.Connection, definition: IndexDefinition, condition: sql.Composable, params: Sequence) -> int:
    """How many documents :func:`iter_documents_where` yields for ``condition``."""
    query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(SOURCE_RELATIONS[definition.logical_name], condition)
    return conn.execute(query, params).fetchone()[0]


def existing_document_ids(conn: psycopg.Connection, definition: IndexDefinition, ids: Sequence[str]) -> list[str]:
    """Those of ``ids`` that are the document id of a row, found through the source's id indexes."""
    id_field = sql.Identifier(definition.id_field)
    condition = sql.SQL("{} = ANY(%(ids)s)").format(id_field)
    if definition.fallback_id_field is not None:
        condition = sql.SQL("{} OR ({} IS NULL AND {} = ANY(%(ids)s))").format(
            condition, id_field, sql.Identifier(definition.fallback_id_field)
        )
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        document_id_sql(definition), SOURCE_RELATIONS[definition.logical_name], condition
    )
    return [doc_id for (doc_id,) in conn.execute(query, {"ids": list(ids)})]


def sample_rows(conn: psycopg.Connection, logical_name: str, size: int) -> list[dict]:
    query = sql.SQL("SELECT * FROM {} ORDER BY random() LIMIT %s").format(SOURCE_RELATIONS[logical_name])
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query, (size,)).fetchall()


def sync_state(conn: psycopg.Connection, alias: str) -> SyncState | None:
    row = conn.execute(
        "SELECT alias, live_index, synced_seq, synced_at FROM restructure.search_sync WHERE alias = %s", (alias,)
    ).fetchone()
    return SyncState(*row) if row else None


def save_sync_state(conn: psycopg.Connection, alias: str, live_index: str, synced_seq: int) -> None:
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO restructure.search_sync (alias, live_index, synced_seq, synced_at)
            VALUES (%s, %s, %s, now() AT TIME ZONE 'UTC')
            ON CONFLICT (alias) DO UPDATE
            SET live_index = EXCLUDED.live_index, synced_seq = EXCLUDED.synced_seq, synced_at = EXCLUDED.synced_at
            """,
            (alias, live_index, synced_seq),
        )
        # Entries every index has caught up with are no longer needed; those past the view's last
        # refresh are kept even so: an index of the view rebuilt before its next refresh needs them.
        conn.execute(
            """
            DELETE FROM restructure.search_outbox
            WHERE seq <= (SELECT min(synced_seq) FROM restructure.search_sync)
              AND seq <= coalesce((SELECT outbox_seq FROM restructure.view_refresh WHERE view_name = %s), 0)
            """,
            (VIEW_SOURCE,),
        )


def forget_sync_state(conn: psycopg.Connection, alias: str) -> None:
    """Make the next run rebuild the alias (after a manual rollback, its position is unknown)."""
    with conn.transaction():
        conn.execute("DELETE FROM restructure.search_sync WHERE alias = %s", (alias,))


def require_rebuilds(conn: psycopg.Connection) -> None:
    """Make the next run of every index step rebuild it, in the caller's transaction.

    For writes that leave the outbox out (a first load of a table). Taking the
    index-writer lock first means no index step is between reading its position and
    saving it, where it would save a position that skips these writes. The view's
    recorded refresh goes too: until the view is refreshed again, no outbox position
    says what it holds.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEARCH_LOCK_KEY,))
    conn.execute("DELETE FROM restructure.search_sync")
    conn.execute("DELETE FROM restructure.view_refresh")


def changed_ids(conn: psycopg.Connection, after_seq: int, upto_seq: int) -> tuple[list[str], list[str]]:
    """(company ids, prospect ids) recorded in the outbox in (after_seq, upto_seq]."""
    rows = conn.execute(
        """
        SELECT entity, array_agg(DISTINCT entity_id ORDER BY entity_id)
        FROM restructure.search_outbox WHERE seq > %s AND seq <= %s GROUP BY entity
        """,
        (after_seq, upto_seq),
    ).fetchall()
    by_entity = dict(rows)
    return by_entity.get("company", []), by_entity.get("prospect", [])


def companies_of_prospects(conn: psycopg.Connection, prospect_ids: Sequence[str]) -> list[str]:
    """The companies of these prospects in the view: what its documents hold, which the tables may have left since."""
    rows = conn.execute(
        "SELECT DISTINCT company_id FROM company_prospect_view WHERE prospect_id = ANY(%s)", (list(prospect_ids),)
    ).fetchall()
    return [company_id for (company_id,) in rows]
