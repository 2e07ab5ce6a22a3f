"""Digests of what readers see, comparable across two databases and two index prefixes.

Two kinds of comparison, used by the fault tests:

- :func:`exact_snapshot`: every column of every pipeline table of ONE database (ids,
  timestamps, queues, outbox, sync positions). "The committed state is intact" means the
  exact snapshot after a fault equals the one taken before it.
- :func:`table_digest` / :func:`index_digest`: the state of a database (or of its three
  aliases) with the values that legitimately differ between two clean runs removed, so a
  database that went through a fault and a rerun can be compared with a twin database that
  ran the same input once. Volatile, hence left out:

  * ids made with random cuids: every company id (companies are compared by ``domain``, a
    prospect's company by its domain) and the ids of prospects that did not come from
    ``"Customer"`` (compared by ``(externalSource, externalId)``). Legacy prospects keep
    the Customer's id, so theirs is compared too.
  * ``createdAt`` / ``updatedAt`` of companies (``updatedAt`` is the write time);
    ``createdAt`` of drop-only prospects (the drop's registration time); ``updatedAt`` of
    a prospect whose current row is not its legacy row (a drop row stamped at
    registration). A legacy prospect's ``createdAt`` (its earliest row's) is compared.
  * ``first_seen_at`` / ``last_seen_at`` of the quarantine.

Each digest is ``(row count, md5 of the sorted rows)``; the ``*_rows`` functions return the
sorted rows themselves so a failing test can show what differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import psycopg
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError
from opensearchpy.helpers import scan

Digest = tuple[int, str]

# A prospect id is "legacy" when it is a Customer id (staged rows keep customer_id); its
# updatedAt is stable only while its current row is that legacy row.
_LEGACY = "EXISTS (SELECT 1 FROM restructure.source_record s WHERE s.customer_id = {id})"
_LEGACY_CURRENT = "EXISTS (SELECT 1 FROM restructure.source_record s WHERE s.customer_id = {id} AND s.is_current)"

_PROSPECT_COLUMNS = (
    'salutation, "firstName", "lastName", email, "jobTitle", "jobTitleLevel", department, "jobTitleLink", '
    'address, city, state, country, "zipCode", phone, "mobilePhone"'
)

TABLE_QUERIES: dict[str, str] = {
    "Company": """
        SELECT domain, name, industry, "minEmployeeSize", "maxEmployeeSize", "employeeSizeLink", revenue,
               address, city, state, country, "zipCode", phone, "mobilePhone", "externalSource", "externalId"
        FROM "Company"
    """,
    "Prospect": f"""
        SELECT p."externalSource", p."externalId",
               CASE WHEN {_LEGACY.format(id="p.id")} THEN p.id END AS legacy_id,
               CASE WHEN {_LEGACY.format(id="p.id")} THEN p."createdAt" END AS created_at,
               CASE WHEN {_LEGACY_CURRENT.format(id="p.id")} THEN p."updatedAt" END AS updated_at,
               {", ".join("p." + column.strip() for column in _PROSPECT_COLUMNS.split(","))},
               coalesce(c.domain, '<no company ' || p."companyId" || '>') AS company_domain
        FROM "Prospect" p LEFT JOIN "Company" c ON c.id = p."companyId"
    """,
    "restructure.customer_quarantine": """
        SELECT source, source_ref, line, "externalSource", "externalId", reason, raw::text AS raw
        FROM restructure.customer_quarantine
    """,
    "company_prospect_view": f"""
        SELECT v.domain, v.company_name, v.industry, v.min_employee_size, v.max_employee_size, v.revenue,
               v.company_address, v.company_city, v.company_state, v.company_country, v.company_zip_code,
               v.company_phone, v.company_mobile_phone,
               p."externalSource", p."externalId",
               CASE WHEN {_LEGACY.format(id="v.prospect_id")} OR p.id IS NULL THEN v.prospect_id END AS prospect_id,
               v.salutation, v.first_name, v.last_name, v.email, v.job_title, v.job_title_level, v.department,
               v.job_title_link, v.prospect_address, v.prospect_city, v.prospect_state, v.prospect_country,
               v.prospect_zip_code, v.prospect_phone, v.prospect_mobile_phone,
               CASE WHEN {_LEGACY.format(id="v.prospect_id")} THEN v.created_at END AS created_at,
               CASE WHEN {_LEGACY_CURRENT.format(id="v.prospect_id")} THEN v.updated_at END AS updated_at
        FROM company_prospect_view v LEFT JOIN "Prospect" p ON p.id = v.prospect_id
    """,
}

# Every table the pipeline writes, for exact (same-database) snapshots.
EXACT_TABLES: tuple[str, ...] = (
    '"Company"', '"Prospect"', "company_prospect_view", "restructure.customer_quarantine",
    "restructure.source_record", "restructure.drop_file", "restructure.pending_key", "restructure.pending_domain",
    "restructure.pending_company_name", "restructure.pending_everything", "restructure.pending_source",
    "restructure.search_outbox", "restructure.search_sync",
)


def digest_of(rows: list[str]) -> Digest:
    """``(count, md5)`` of rows already sorted (as :func:`table_rows` and :func:`index_rows` return them)."""
    return len(rows), hashlib.md5("\n".join(rows).encode()).hexdigest()


def _text_rows(conn: psycopg.Connection, query: str) -> list[str]:
    return sorted(text for (text,) in conn.execute(f"SELECT r::text FROM ({query}) r").fetchall())


def table_rows(conn: psycopg.Connection) -> dict[str, list[str]]:
    """The id-independent rows of the four reader-facing relations, each sorted (as text)."""
    return {name: _text_rows(conn, query) for name, query in TABLE_QUERIES.items()}


def table_digest(conn: psycopg.Connection) -> dict[str, Digest]:
    """``{"Company" | "Prospect" | "restructure.customer_quarantine" | "company_prospect_view": (count, md5)}``."""
    return {name: digest_of(rows) for name, rows in table_rows(conn).items()}


def exact_snapshot(conn: psycopg.Connection) -> dict[str, Digest]:
    """Every column of every pipeline table (same database only: ids and times included)."""
    populated = conn.execute(
        "SELECT ispopulated FROM pg_matviews WHERE schemaname = 'public' AND matviewname = 'company_prospect_view'"
    ).fetchone()
    return {
        table: digest_of(_text_rows(conn, f"SELECT * FROM {table}"))
        if table != "company_prospect_view" or (populated and populated[0]) else (-1, "not populated")
        for table in EXACT_TABLES
    }


def alias_documents(client: OpenSearch, alias: str) -> dict[str, dict[str, Any]]:
    """``{_id: _source}`` of every document behind ``alias`` (same prefix only: ids included)."""
    return {doc.pop("_id"): doc for doc in _sources(client, alias)}


def alias_state(client: OpenSearch, prefix: str) -> dict[str, tuple[list[str], int]]:
    """``{alias: (the indices it points at, documents behind it)}`` for the three aliases of ``prefix``."""
    state = {}
    for logical in ("companies", "prospects", "company_prospect_view"):
        alias = prefix + logical
        try:
            live = sorted(client.indices.get_alias(name=alias).keys())
        except NotFoundError:
            live = []
        state[alias] = (live, client.count(index=alias)["count"] if live else -1)
    return state


def prospect_stability(conn: psycopg.Connection) -> dict[str, bool]:
    """Legacy prospect ids -> whether their ``updatedAt`` is stable (their current row is the legacy one).

    Pass it to :func:`index_digest`: ids absent from it are random cuids.
    """
    rows = conn.execute(
        f'SELECT p.id, {_LEGACY_CURRENT.format(id="p.id")} FROM "Prospect" p WHERE {_LEGACY.format(id="p.id")}'
    ).fetchall()
    return dict(rows)


def _logical_name(alias: str) -> tuple[str, str]:
    """``(prefix, logical name)`` of an alias (the longest logical name that ends it)."""
    for logical in ("company_prospect_view", "companies", "prospects"):
        if alias.endswith(logical):
            return alias[: -len(logical)], logical
    raise ValueError(f"{alias!r} is not an alias of companies, prospects or company_prospect_view")


def _sources(client: OpenSearch, alias: str) -> list[dict[str, Any]]:
    try:
        return [{"_id": hit["_id"], **hit["_source"]} for hit in scan(client, index=alias, query={"query": {"match_all": {}}})]
    except NotFoundError:
        return []


def index_rows(client: OpenSearch, alias: str, stability: Mapping[str, bool] | None = None) -> list[str]:
    """The id-independent documents behind ``alias``, as sorted canonical JSON strings.

    ``stability`` is :func:`prospect_stability` of the database the alias was built from
    (the legacy prospect ids); without it every prospect id and timestamp counts as volatile.
    A prospect's ``companyId`` is replaced by that company's domain, read from the
    ``companies`` alias of the same prefix (``<missing company>`` when it is not there).
    """
    stability = stability or {}
    prefix, logical = _logical_name(alias)
    documents = _sources(client, alias)
    rows = []
    if logical == "companies":
        for doc in documents:
            if doc["_id"] != doc.get("id"):
                doc["_id_mismatch"] = True
            for volatile in ("_id", "id", "createdAt", "updatedAt"):
                doc.pop(volatile, None)
            rows.append(doc)
    elif logical == "prospects":
        domains = {doc["_id"]: doc.get("domain") for doc in _sources(client, prefix + "companies")}
        for doc in documents:
            if doc["_id"] != doc.get("id"):
                doc["_id_mismatch"] = True
            doc["companyDomain"] = domains.get(doc.pop("companyId", None), "<missing company>")
            _keep_stable(doc, doc.pop("_id"), stability, "id", "createdAt", "updatedAt")
            rows.append(doc)
    else:
        for doc in documents:
            prospect_id = doc.get("prospect_id")
            expected_id = prospect_id if prospect_id is not None else doc.get("company_id")
            if doc["_id"] != expected_id:
                doc["_id_mismatch"] = True
            doc.pop("_id")
            doc.pop("company_id", None)
            if prospect_id is not None:
                _keep_stable(doc, prospect_id, stability, "prospect_id", "created_at", "updated_at")
            rows.append(doc)
    return sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)


def _keep_stable(doc: dict, prospect_id: str, stability: Mapping[str, bool], id_field: str, created: str, updated: str) -> None:
    if prospect_id not in stability:
        doc.pop(id_field, None)
        doc.pop(created, None)
        doc.pop(updated, None)
    elif not stability[prospect_id]:
        doc.pop(updated, None)


def index_digest(client: OpenSearch, alias: str, stability: Mapping[str, bool] | None = None) -> Digest:
    """``(document count, md5 of the sorted id-independent documents)`` behind ``alias``."""
    return digest_of(index_rows(client, alias, stability))
