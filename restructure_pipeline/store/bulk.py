"""Moving polars frames in and out of Postgres in bulk (COPY), never row by row."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import polars as pl
import psycopg
from psycopg import sql

# One advisory lock id shared by every step that writes the pipeline's tables: two runs
# never interleave writes, whatever the run queue does.
WRITE_LOCK_KEY = 0x5245_5357

_COPY_BLOCK_ROWS = 50_000


def take_write_lock(conn: psycopg.Connection) -> None:
    """Serialize writers for the rest of the current transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))


def copy_frame(conn: psycopg.Connection, table: sql.Composable, frame: pl.DataFrame) -> int:
    """COPY a frame into ``table`` (columns by name) through polars' CSV writer."""
    if frame.is_empty():
        return 0
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL '\\N')").format(
        table=table, columns=sql.SQL(", ").join(sql.Identifier(name) for name in frame.columns)
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for offset in range(0, frame.height, _COPY_BLOCK_ROWS):
            buffer = io.BytesIO()
            frame.slice(offset, _COPY_BLOCK_ROWS).write_csv(
                buffer, include_header=False, null_value="\\N", quote_style="non_numeric", datetime_format="%Y-%m-%d %H:%M:%S%.3f"
            )
            copy.write(buffer.getvalue())
    return frame.height


def fetch_frame(
    conn: psycopg.Connection, query: sql.Composable | str, params: Sequence | dict | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Run a query and return its rows as a frame (for result sets that fit in a chunk)."""
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        names = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    return pl.DataFrame(rows, schema=schema or names, orient="row")


def iter_frames(
    conn: psycopg.Connection, query: sql.Composable | str, params: Sequence | dict | None,
    chunk_rows: int, schema: dict[str, pl.DataType] | None = None, name: str = "pipeline_stream",
) -> Iterator[pl.DataFrame]:
    """Stream a query through a server-side cursor; the caller owns the transaction."""
    with conn.cursor(name=name) as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(query, params)
        names = [column.name for column in cursor.description]
        while rows := cursor.fetchmany(chunk_rows):
            yield pl.DataFrame(rows, schema=schema or names, orient="row")
