"""The legacy ``"Customer"`` table on a real Postgres: Prisma's DDL, and COPY that loses nothing."""

from __future__ import annotations

import polars as pl
import psycopg
import pytest

from restructure_pipeline.sample_data import (
    CUSTOMER_COLUMNS,
    CUSTOMER_SCHEMA,
    create_legacy_table,
    generate_customers,
    load_customers,
    load_generated_customers,
)

pytestmark = pytest.mark.integration

_CATALOG = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relname = 'Customer' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def _read_back(conn: psycopg.Connection) -> pl.DataFrame:
    cur = conn.execute('SELECT * FROM "Customer" ORDER BY "id"')
    columns = [d.name for d in cur.description]
    return pl.DataFrame(cur.fetchall(), schema=columns, orient="row").cast(CUSTOMER_SCHEMA)


def test_legacy_table_matches_prisma_and_creating_it_twice_is_harmless(conn: psycopg.Connection) -> None:
    create_legacy_table(conn)
    create_legacy_table(conn)
    catalog = conn.execute(_CATALOG).fetchall()
    assert tuple(name for name, *_ in catalog) == CUSTOMER_COLUMNS
    types = {name: (kind, not_null, default) for name, kind, not_null, default in catalog}
    assert types["id"] == ("text", True, None)
    assert types["email"] == ("text", False, None)
    assert types["minEmployeeSize"] == ("integer", False, None)
    assert types["revenue"] == ("bigint", False, None)
    assert types["externalId"] == ("text", True, None)
    assert types["createdAt"] == ("timestamp(3) without time zone", True, "CURRENT_TIMESTAMP")
    assert types["updatedAt"] == ("timestamp(3) without time zone", True, None)
    indexes = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'Customer'").fetchall())
    assert set(indexes) == {"Customer_pkey", "Customer_externalSource_externalId_key", "Customer_email_idx"}
    assert "UNIQUE" in indexes["Customer_externalSource_externalId_key"]


def test_copy_round_trips_every_value(conn: psycopg.Connection) -> None:
    frame = generate_customers(3_000, seed=21)
    create_legacy_table(conn)
    assert load_customers(conn, frame) == 3_000
    back = _read_back(conn)
    # NULL, "" and whitespace-only stay distinct; Unicode and millisecond timestamps survive.
    assert back.equals(frame.sort("id"))
    assert (back["email"] == "").any() and back["email"].null_count() > 0
    assert back["email"].str.contains("bücher.de").any()


def test_a_failed_load_leaves_the_table_unchanged(conn: psycopg.Connection) -> None:
    frame = generate_customers(500, seed=22)
    create_legacy_table(conn)
    load_customers(conn, frame.head(100))
    with pytest.raises(psycopg.errors.UniqueViolation):
        load_customers(conn, frame)  # rows 0..99 again: the whole COPY rolls back
    assert conn.execute('SELECT count(*) FROM "Customer"').fetchone() == (100,)


def test_generated_rows_stream_into_a_new_table(conn: psycopg.Connection) -> None:
    assert load_generated_customers(conn, 2_500, seed=23, chunk_rows=1_000) == 2_500
    count, ids, keys = conn.execute(
        'SELECT count(*), count(DISTINCT "id"), count(DISTINCT ("externalSource", "externalId")) FROM "Customer"'
    ).fetchone()
    assert count == ids == keys == 2_500
    assert _read_back(conn).equals(generate_customers(2_500, seed=23).sort("id"))
