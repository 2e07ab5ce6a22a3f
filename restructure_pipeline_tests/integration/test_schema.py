"""The schema the pipeline creates: no drift from Prisma, idempotent migrations, a readable view."""

from __future__ import annotations

import threading

import psycopg
import pytest

from restructure_pipeline.schema import SchemaMigrationError, apply_migrations, load_migrations
from restructure_pipeline.settings import PROJECT_ROOT
from restructure_pipeline.store.view import refresh_view
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy

PRISMA_MIGRATION = PROJECT_ROOT / "tools" / "prisma" / "migration.sql"

# The catalog, described without any of our own DDL strings: columns, indexes, constraints.
_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attnum
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relname IN ('Company', 'Prospect') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, a.attnum
"""
_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename IN ('Company', 'Prospect')
ORDER BY 1, 2
"""
_CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname IN ('Company', 'Prospect')
ORDER BY 1, 2
"""
_PUBLIC_TABLES = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1
"""


def _catalog(conn: psycopg.Connection) -> dict[str, list]:
    return {
        "columns": conn.execute(_COLUMNS).fetchall(),
        "indexes": conn.execute(_INDEXES).fetchall(),
        "constraints": conn.execute(_CONSTRAINTS).fetchall(),
    }


def test_schema_has_no_drift_from_prisma_migrate(embedded_postgres, conn: psycopg.Connection) -> None:
    apply_migrations(conn)
    reference_url = embedded_postgres.ensure_database("prisma_reference")
    try:
        with psycopg.connect(reference_url, autocommit=True) as reference:
            reference.execute(PRISMA_MIGRATION.read_text(encoding="utf-8"))
            expected = _catalog(reference)
        actual = _catalog(conn)
    finally:
        embedded_postgres.drop_database("prisma_reference")
    assert len(expected["indexes"]) == 22
    assert sorted(name for _, name, kind, _ in expected["constraints"] if kind != "n") == [
        "Company_pkey", "Prospect_companyId_fkey", "Prospect_pkey"
    ]
    assert actual == expected
    # Only the two models and the seed's view live in "public": Prisma would call anything else drift.
    assert conn.execute(_PUBLIC_TABLES).fetchall() == [
        ("Company", "r"), ("Prospect", "r"), ("company_prospect_view", "m")
    ]


def test_migrations_are_idempotent_and_immutable(conn: psycopg.Connection) -> None:
    first = apply_migrations(conn)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert apply_migrations(conn) == []
    conn.execute("UPDATE restructure.schema_migration SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(SchemaMigrationError, match="different checksum"):
        apply_migrations(conn)


def test_view_has_seed_columns_and_indexes(conn: psycopg.Connection) -> None:
    apply_migrations(conn)
    columns = [
        name for (name,) in conn.execute(
            """SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'company_prospect_view'::regclass
               AND a.attnum > 0 ORDER BY a.attnum"""
        )
    ]
    assert columns == [
        "company_id", "domain", "company_name", "industry", "min_employee_size", "max_employee_size", "revenue",
        "company_address", "company_city", "company_state", "company_country", "company_zip_code", "company_phone",
        "company_mobile_phone", "prospect_id", "salutation", "first_name", "last_name", "email", "job_title",
        "job_title_level", "department", "job_title_link", "prospect_address", "prospect_city", "prospect_state",
        "prospect_country", "prospect_zip_code", "prospect_phone", "prospect_mobile_phone", "created_at", "updated_at",
    ]
    indexes = {name for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'company_prospect_view'")}
    assert indexes == {
        "idx_company_prospect_view_company_id", "idx_company_prospect_view_prospect_id",
        "idx_company_prospect_view_email", "idx_company_prospect_view_domain",
        "idx_company_prospect_view_company_name", "idx_company_prospect_view_industry",
        "idx_company_prospect_view_revenue", "company_prospect_view_company_id_prospect_id_key",
    }


def test_view_refresh_never_blocks_a_reader(conn: psycopg.Connection, pipeline: PipelineRunner, database_url: str) -> None:
    load_legacy(conn, [customer(f"c{i}", f"person{i}@company{i % 7}.com", f"Company {i % 7}") for i in range(50)])
    pipeline.full_refresh()
    reader_ready, refresh_done = threading.Event(), threading.Event()
    reads: list[int] = []

    def reader() -> None:
        # Holds its snapshot of the view open across the whole refresh, and keeps reading.
        with psycopg.connect(database_url) as reading, reading.transaction():
            reads.append(reading.execute("SELECT count(*) FROM company_prospect_view").fetchone()[0])
            reader_ready.set()
            while not refresh_done.is_set():
                reads.append(reading.execute("SELECT count(*) FROM company_prospect_view").fetchone()[0])
            reads.append(reading.execute("SELECT count(*) FROM company_prospect_view").fetchone()[0])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert reader_ready.wait(10)
        with psycopg.connect(database_url, autocommit=True, options="-c lock_timeout=5000") as writer:
            assert refresh_view(writer) is True  # concurrent: would time out if it needed the reader gone
            # The plain refresh needs an exclusive lock: the same reader blocks it (so this test can fail).
            with pytest.raises(psycopg.errors.LockNotAvailable):
                writer.execute("SET lock_timeout = '300ms'")
                writer.execute("REFRESH MATERIALIZED VIEW company_prospect_view")
    finally:
        refresh_done.set()
        thread.join(10)
    assert len(reads) >= 2 and set(reads) == {50}
