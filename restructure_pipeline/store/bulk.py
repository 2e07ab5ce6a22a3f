"""Moving polars frames in and out of Postgres in bulk (COPY), never row by row."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import polars as pl
import psycopg
from psycopg import sql

# One advisory lock id shared by every step that writes the pipeline's tables: two runs
# never interleave writes, whatever the run queue does.
WRITE_LOCK_KEY = 0x5245_5357

_COPY_BLOCK_ROWS = 50_000
_FETCH_CHUNK_ROWS = 200_000


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


def id_blocks(count: int, new_id: Callable[[], str]) -> Iterator[pl.Series]:
    """``count`` fresh ids as ``id`` series of at most a COPY block each.

    A first load gives every company a new id: a few million Python strings at once would
    set the step's memory, a block of them does not.
    """
    for offset in range(0, count, _COPY_BLOCK_ROWS):
        size = min(_COPY_BLOCK_ROWS, count - offset)
        yield pl.Series("id", [new_id() for _ in range(size)], dtype=pl.Utf8)


def id_block_count(count: int) -> int:
    """How many series :func:`id_blocks` yields for ``count`` ids."""
    return -(-count // _COPY_BLOCK_ROWS)


def copy_frame_with_ids(conn: psycopg.Connection, table: sql.Composable, keys: pl.DataFrame, ids: Iterable[pl.Series]) -> int:
    """COPY ``keys`` into ``table`` with an ``id`` column taken from ``ids`` (as :func:`id_blocks` cuts them)."""
    blocks = iter(ids)
    for offset in range(0, keys.height, _COPY_BLOCK_ROWS):
        block = keys.slice(offset, _COPY_BLOCK_ROWS)
        block_ids = next(blocks)
        if block_ids.len() != block.height:
            raise ValueError(f"an id block of {block_ids.len()} for {block.height} rows")
        copy_frame(conn, table, block.with_columns(block_ids))
    return keys.height


def copy_frame_with_new_ids(
    conn: psycopg.Connection, table: sql.Composable, keys: pl.DataFrame, new_id: Callable[[], str]
) -> int:
    """COPY ``keys`` into ``table`` with an ``id`` column of fresh ids, a block at a time."""
    return copy_frame_with_ids(conn, table, keys, id_blocks(keys.height, new_id))


def fetch_frame(
    conn: psycopg.Connection, query: sql.Composable | str, schema: dict[str, pl.DataType], params: Sequence = ()
) -> pl.DataFrame:
    """Run a query and return its rows as one frame of ``schema`` (the query's columns, in order).

    Read by COPY like :func:`copy_out_frames`, so a result of millions of rows costs
    polars memory, not a Python tuple per row.
    """
    statement = sql.SQL(query) if isinstance(query, str) else query
    frames = list(copy_out_frames(conn, statement, schema, _FETCH_CHUNK_ROWS, params))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def copy_out_frames(
    conn: psycopg.Connection, query: sql.Composable, schema: dict[str, pl.DataType], chunk_rows: int,
    params: Sequence = (),
) -> Iterator[pl.DataFrame]:
    """Stream a query's rows as frames of ``schema`` (the query's columns, in order) through COPY.

    ``COPY (query) TO STDOUT`` in CSV goes straight into polars' CSV reader: no Python
    object per value. The server sends one row per COPY message, so joining messages never
    splits a row. The connection is busy until the stream ends: read on a connection of
    its own. Timestamps are read in ISO form, which the caller's session must keep.
    ``params`` are bound by psycopg on the client (COPY takes no server-side parameters).
    """
    statement = sql.SQL("COPY ({query}) TO STDOUT (FORMAT csv)").format(query=query)
    with conn.cursor() as cursor, cursor.copy(statement, params or None) as copy:
        rows: list[bytes] = []
        for row in copy:
            rows.append(bytes(row))
            if len(rows) == chunk_rows:
                yield csv_frame(b"".join(rows), schema)
                rows.clear()
        if rows:
            yield csv_frame(b"".join(rows), schema)


def csv_frame(csv: bytes, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Parse Postgres CSV (unquoted empty = NULL, quoted empty = empty text) into ``schema``."""
    text = pl.read_csv(
        io.BytesIO(csv), has_header=False, new_columns=list(schema), infer_schema=False,
        schema_overrides=dict.fromkeys(schema, pl.String),
    )
    return text.select(_from_text(name, dtype) for name, dtype in schema.items())


def _from_text(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return column.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit=dtype.time_unit)
    if dtype == pl.Boolean:
        return column.replace_strict({"t": True, "f": False}, return_dtype=pl.Boolean)
    return column.cast(dtype)


# Indexes no constraint stands on: not a primary key or unique constraint's, and not
# referenced by a foreign key (which would have to go too).
_DEFERRABLE_INDEXES = """
SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = %(table)s::regclass AND (%(unique_too)s OR NOT i.indisunique)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY c.relname
"""

_DEFERRABLE_KEYS = """
SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
WHERE k.conrelid = %(table)s::regclass AND k.contype IN ('p', 'u') AND %(unique_too)s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = k.conindid)
ORDER BY k.contype, k.conname
"""

_DEFERRABLE_FOREIGN_KEYS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = %(table)s::regclass AND contype = 'f'
ORDER BY conname
"""

_LOADABLE = """
SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = %(table)s::regclass
"""


@contextmanager
def bulk_load(conn: psycopg.Connection, schema: str, table: str, *, unique_too: bool = False) -> Iterator[bool]:
    """Load an *empty* table the way pg_restore does: indexes and foreign keys after the rows.

    Inside the caller's transaction: when the table is empty and ours, its non-unique
    indexes and its foreign keys are dropped, and re-created (the keys validated in one
    pass) when the block ends. Unique indexes stay, so ``ON CONFLICT`` keeps its arbiter,
    unless ``unique_too``: then primary keys and unique indexes go as well (except those a
    foreign key references), for a caller that inserts rows it knows to be unique, and
    they are checked when re-created. Yields whether it deferred anything; a table with
    rows is loaded as it is, since its readers must keep their indexes.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
        raise RuntimeError("bulk_load needs a transaction: the dropped indexes must never be visible")
    params = {"table": f'"{schema}"."{table}"', "unique_too": unique_too}
    relation = sql.Identifier(schema, table)
    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(relation)).fetchone()[0]
    if not (empty and conn.execute(_LOADABLE, params).fetchone()[0]):
        yield False
        return
    keys = conn.execute(_DEFERRABLE_KEYS, params).fetchall()
    indexes = conn.execute(_DEFERRABLE_INDEXES, params).fetchall()
    foreign_keys = conn.execute(_DEFERRABLE_FOREIGN_KEYS, params).fetchall()
    for name, _ in [*foreign_keys, *keys]:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(relation, sql.Identifier(name)))
    for index_schema, name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index_schema, name)))
    yield True
    for name, definition in keys:
        _add_constraint(conn, relation, name, definition)
    for _, _, definition in indexes:
        conn.execute(definition)
    for name, definition in foreign_keys:
        _add_constraint(conn, relation, name, definition)


def _add_constraint(conn: psycopg.Connection, relation: sql.Identifier, name: str, definition: str) -> None:
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(relation, sql.Identifier(name), sql.SQL(definition)))
