"""``store.bulk.bulk_load``: an empty table loaded without its indexes ends with exactly the schema it had."""

import psycopg
import pytest

from restructure_pipeline.store.bulk import bulk_load

_SCHEMA = """
CREATE TABLE parent (id TEXT PRIMARY KEY, code TEXT NOT NULL);
CREATE UNIQUE INDEX parent_code_key ON parent (code);
CREATE TABLE child (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES parent (id),
    source TEXT NOT NULL,
    ref TEXT NOT NULL,
    name TEXT,
    CONSTRAINT child_source_ref_key UNIQUE (source, ref)
);
CREATE INDEX child_name_idx ON child (name);
CREATE INDEX child_parent_idx ON child (parent_id);
"""


def _schema_of(conn: psycopg.Connection, table: str) -> tuple[list[tuple], list[tuple]]:
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", (table,)
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY conname",
        (table,),
    ).fetchall()
    return indexes, constraints


def _index_names(conn: psycopg.Connection, table: str) -> set[str]:
    return {name for name, _ in _schema_of(conn, table)[0]}


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(_SCHEMA)
    conn.execute("INSERT INTO parent VALUES ('p1', 'A'), ('p2', 'B')")
    return conn


@pytest.mark.parametrize("unique_too", [False, True])
def test_an_empty_table_is_loaded_without_its_indexes_and_ends_with_the_same_schema(
    tables: psycopg.Connection, unique_too: bool
) -> None:
    conn = tables
    before = _schema_of(conn, "child")
    with conn.transaction(), bulk_load(conn, "public", "child", unique_too=unique_too) as deferred:
        assert deferred
        during = _index_names(conn, "child")
        conn.execute("INSERT INTO child VALUES ('c1', 'p1', 's', '1', 'x'), ('c2', NULL, 's', '2', NULL)")
    assert _schema_of(conn, "child") == before
    assert during == ({"child_pkey", "child_source_ref_key"} if not unique_too else set())
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 2


def test_unique_too_keeps_what_a_foreign_key_stands_on(tables: psycopg.Connection) -> None:
    conn = tables
    conn.execute("CREATE TABLE other (id TEXT PRIMARY KEY)")
    before = _schema_of(conn, "other")
    conn.execute("CREATE TABLE referrer (other_id TEXT REFERENCES other (id))")
    with conn.transaction(), bulk_load(conn, "public", "other", unique_too=True):
        during = _index_names(conn, "other")
    assert during == {"other_pkey"}  # child rows elsewhere reference it: it cannot go
    assert _schema_of(conn, "other") == before


def test_duplicates_loaded_with_unique_too_fail_the_transaction_and_leave_the_table_whole(
    tables: psycopg.Connection,
) -> None:
    conn = tables
    before = _schema_of(conn, "child")
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction(), bulk_load(conn, "public", "child", unique_too=True):
        conn.execute("INSERT INTO child VALUES ('c1', 'p1', 's', '1', 'x'), ('c1', 'p2', 's', '2', 'y')")
    assert _schema_of(conn, "child") == before
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 0


def test_a_foreign_key_is_validated_when_re_created(tables: psycopg.Connection) -> None:
    conn = tables
    with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction(), bulk_load(conn, "public", "child", unique_too=True):
        conn.execute("INSERT INTO child VALUES ('c1', 'nobody', 's', '1', 'x')")
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 0


def test_a_table_with_rows_keeps_its_indexes(tables: psycopg.Connection) -> None:
    conn = tables
    before = _schema_of(conn, "parent")
    with conn.transaction(), bulk_load(conn, "public", "parent", unique_too=True) as deferred:
        assert not deferred
        assert _schema_of(conn, "parent") == before


def test_outside_a_transaction_it_refuses(tables: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError, match="needs a transaction"), bulk_load(tables, "public", "child"):
        pass
