"""The documents Postgres builds for indexing equal the reference ``to_document``, value for value."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.search_index.documents import to_document
from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS
from restructure_pipeline.store.search_sync import (
    SOURCE_RELATIONS,
    count_where,
    existing_document_ids,
    iter_documents,
    iter_documents_where,
)
from restructure_pipeline.store.view import refresh_view

_TRICKY_TEXT = 'Quote " back\\slash\ttab\nnewline é 漢字 😀 </script> \u2028'


def _load_tricky_rows(conn: psycopg.Connection) -> None:
    apply_migrations(conn)
    conn.execute(
        """
        INSERT INTO "Company" (id, domain, name, industry, "minEmployeeSize", "maxEmployeeSize", revenue,
                               city, "externalSource", "externalId", "createdAt", "updatedAt")
        VALUES ('c1', 'acme.com', %(text)s, '', -2147483648, 2147483647, 9223372036854775807,
                NULL, 'legacy', 'acme.com', %(early)s, %(late)s),
               ('c2', 'empty.example', NULL, NULL, NULL, NULL, NULL, NULL, 'legacy', 'empty.example', %(early)s, %(early)s)
        """,
        {"text": _TRICKY_TEXT, "early": datetime(1999, 12, 31, 23, 59, 59), "late": datetime(2024, 2, 29, 12, 0, 0, 7000)},
    )
    conn.execute(
        """
        INSERT INTO "Prospect" (id, "firstName", "lastName", email, "jobTitle", "companyId",
                                "externalSource", "externalId", "createdAt", "updatedAt")
        VALUES ('p1', %(text)s, '', 'a@acme.com', NULL, 'c1', 'legacy', 'x1', %(at)s, %(at)s)
        """,
        {"text": _TRICKY_TEXT, "at": datetime(2030, 1, 1, 0, 0, 0, 999000)},
    )
    refresh_view(conn)


def test_sql_documents_equal_to_document(conn: psycopg.Connection) -> None:
    _load_tricky_rows(conn)
    for definition in INDEX_DEFINITIONS:
        with conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(sql.SQL("SELECT * FROM {}").format(SOURCE_RELATIONS[definition.logical_name]))
            expected = dict(to_document(definition, row) for row in rows)
        with conn.transaction():
            built = {doc_id: json.loads(source) for doc_id, source in iter_documents(conn, definition, 1)}
        assert built == expected, definition.logical_name
        # Same types too: an integer stays an integer, an empty string stays a string.
        for doc_id, source in built.items():
            assert {k: type(v) for k, v in source.items()} == {k: type(v) for k, v in expected[doc_id].items()}
    assert set(built) == {"p1", "c2"}  # the view: a prospect's row by prospect id, a lone company's by company id


def test_documents_where_selects_by_id_and_counts_what_it_streams(conn: psycopg.Connection) -> None:
    _load_tricky_rows(conn)
    condition, params = sql.SQL("id = ANY(%s)"), (["c2", "missing"],)
    companies = next(d for d in INDEX_DEFINITIONS if d.logical_name == "companies")
    with conn.transaction():  # the named cursor lives in a transaction
        found = list(iter_documents_where(conn, companies, condition, params, 1))
    assert [(doc_id, json.loads(source)["domain"]) for doc_id, source in found] == [("c2", "empty.example")]
    assert count_where(conn, companies, condition, params) == 1

    view = next(d for d in INDEX_DEFINITIONS if d.logical_name == "company_prospect_view")
    everything = sql.SQL("TRUE")
    with conn.transaction():
        streamed = {doc_id for doc_id, _ in iter_documents_where(conn, view, everything, (), 1)}
    assert streamed == {"p1", "c2"}
    assert count_where(conn, view, everything, ()) == 2


def test_existing_document_ids_are_the_ids_rows_have_and_fall_back_to_the_company_id(conn: psycopg.Connection) -> None:
    _load_tricky_rows(conn)
    companies, prospects, view = (
        next(d for d in INDEX_DEFINITIONS if d.logical_name == name) for name in ("companies", "prospects", "company_prospect_view")
    )
    asked = ["c1", "c2", "p1", "missing"]
    assert sorted(existing_document_ids(conn, companies, asked)) == ["c1", "c2"]
    assert existing_document_ids(conn, prospects, asked) == ["p1"]
    # c1 has a prospect, so its view rows are the prospect's (p1); c2 has none and keeps its company-only row.
    assert sorted(existing_document_ids(conn, view, asked)) == ["c2", "p1"]
