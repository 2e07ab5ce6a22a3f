"""Streams the legacy ``"Customer"`` table in chunks of Customer-shaped polars frames."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import psycopg
from psycopg import sql

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS
from restructure_pipeline.store.bulk import copy_out_frames

LEGACY_PARTITION = "legacy"
LEGACY_TABLE = "Customer"

LEGACY_COLUMNS: tuple[str, ...] = ("id", "externalSource", "externalId", *ATTRIBUTE_COLUMNS, "createdAt", "updatedAt")

LEGACY_SCHEMA = {
    column: (
        pl.Int32
        if column in ("minEmployeeSize", "maxEmployeeSize")
        else pl.Int64
        if column == "revenue"
        else pl.Datetime("ms")
        if column in ("createdAt", "updatedAt")
        else pl.Utf8
    )
    for column in LEGACY_COLUMNS
}


def legacy_table_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'public."{LEGACY_TABLE}"',)).fetchone()
    return bool(row and row[0])


def count_legacy_rows(conn: psycopg.Connection) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(LEGACY_TABLE))
    return conn.execute(query).fetchone()[0]


def begin_legacy_read(conn: psycopg.Connection) -> str:
    """Make ``conn``'s transaction (just begun) read in one snapshot; returns it (``pg_snapshot`` text)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]


def record_legacy_read(conn: psycopg.Connection, snapshot: str) -> None:
    """Record the snapshot of the read just staged (in the staging transaction)."""
    conn.execute(
        """
        INSERT INTO restructure.legacy_read (snapshot, read_at) VALUES (%s::pg_snapshot, now() AT TIME ZONE 'UTC')
        ON CONFLICT (legacy) DO UPDATE SET snapshot = EXCLUDED.snapshot, read_at = EXCLUDED.read_at
        """,
        (snapshot,),
    )


def iter_legacy_chunks(conn: psycopg.Connection, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Yield the whole table in chunks of ``LEGACY_SCHEMA``, streamed by one COPY (one snapshot).

    ``conn`` is busy until the last chunk: write on another connection meanwhile.
    """
    query = sql.SQL("SELECT {columns} FROM {table}").format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in LEGACY_COLUMNS),
        table=sql.Identifier(LEGACY_TABLE),
    )
    yield from copy_out_frames(conn, query, LEGACY_SCHEMA, chunk_rows)
