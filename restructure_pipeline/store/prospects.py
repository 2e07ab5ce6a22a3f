"""Writes ``"Prospect"`` and ``restructure.customer_quarantine``, and retires stale companies.

Recomputed here: every queued identity (``pending_key``) and every row that joins its
company by cleaned name (personal or missing email), since any company's name may have
changed. A prospect migrated from ``Customer`` keeps the Customer's id; other prospects
keep the id first given to their (externalSource, externalId). The quarantine is
re-evaluated as a whole: a row that now resolves leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS
from restructure_pipeline.store import search_sync
from restructure_pipeline.store.bulk import bulk_load, copy_frame, copy_frame_with_new_ids, fetch_frame, take_write_lock

PROSPECT_ATTRIBUTES: tuple[str, ...] = (
    "salutation", "firstName", "lastName", "email", "jobTitle", "jobTitleLevel", "department", "jobTitleLink",
    "address", "city", "state", "country", "zipCode", "phone", "mobilePhone",
)

_SAME_KEY = '{a}."externalSource" = {b}."externalSource" AND {a}."externalId" = {b}."externalId"'

_STALE_COMPANIES = """
CREATE TEMP TABLE stale_company ON COMMIT DROP AS
SELECT c.id, c.domain
FROM "Company" c
JOIN restructure.pending_domain p ON p.domain = c.domain
WHERE NOT EXISTS (
    SELECT 1 FROM restructure.source_record s
    WHERE s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL
)
"""

_LIVE_COMPANY_NAMES = """
SELECT c.domain, c.name FROM "Company" c
WHERE c.name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stale_company st WHERE st.id = c.id)
"""

_PEOPLE_TO_RESOLVE = """
SELECT s.source || ':' || s.source_ref AS record_key, s.source, s.source_ref, s.company_name_clean
FROM restructure.source_record s
WHERE s.is_current AND s.record_problem IS NULL AND s.needs_name_resolution
"""

_CREATE_RESOLUTION = """
CREATE TEMP TABLE name_resolution (
    source TEXT NOT NULL, source_ref TEXT NOT NULL, resolved_domain TEXT, PRIMARY KEY (source, source_ref)
) ON COMMIT DROP
"""

# The identities to recompute: queued ones, and every one whose current row joins its
# company by name (any company's name may have changed). A table of its own, analyzed, so
# that the next statement is planned with hash joins when they are many (a full refresh)
# and index lookups when they are few (a drop).
_RECOMPUTE_KEYS = """
CREATE TEMP TABLE recompute_key ON COMMIT DROP AS
SELECT "externalSource", "externalId" FROM restructure.pending_key
UNION
SELECT "externalSource", "externalId" FROM restructure.source_record
WHERE is_current AND record_problem IS NULL AND needs_name_resolution
  AND "externalSource" IS NOT NULL AND "externalId" IS NOT NULL;
ANALYZE recompute_key;
"""

# Each recomputed identity's current row, with its lineage (the legacy id, if any, and
# when the identity was first seen) from all its versions, aggregated in one pass.
_PROSPECT_NEXT = """
CREATE TEMP TABLE prospect_next ON COMMIT DROP AS
WITH lineage AS (
    SELECT l."externalSource", l."externalId", min(l.customer_id) AS customer_id, min(l."createdAt") AS first_seen
    FROM restructure.source_record l
    JOIN recompute_key USING ("externalSource", "externalId")
    GROUP BY l."externalSource", l."externalId"
)
SELECT coalesce(s.customer_id, existing.id, lineage.customer_id) AS id,
       {attributes}, s.email_normalized AS email, c.id AS "companyId",
       s."externalSource", s."externalId", lineage.first_seen AS "createdAt", s."updatedAt"
FROM restructure.source_record s
JOIN lineage USING ("externalSource", "externalId")
LEFT JOIN name_resolution r ON r.source = s.source AND r.source_ref = s.source_ref
JOIN "Company" c ON c.domain = coalesce(s.company_domain, r.resolved_domain)
LEFT JOIN "Prospect" existing
       ON existing."externalSource" = s."externalSource" AND existing."externalId" = s."externalId"
WHERE s.is_current AND s.record_problem IS NULL
  AND NOT EXISTS (SELECT 1 FROM stale_company st WHERE st.id = c.id)
"""

# Share of the staged rows above which a recompute is planned with hash joins only.
_MANY_KEYS_SHARE = 0.1

_CREATE_NEW_IDS = """
CREATE TEMP TABLE new_prospect_id (
    "externalSource" TEXT NOT NULL, "externalId" TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY ("externalSource", "externalId")
) ON COMMIT DROP
"""

_ASSIGN_NEW_IDS = """
UPDATE prospect_next n SET id = fresh.id
FROM new_prospect_id fresh
WHERE n.id IS NULL AND n."externalSource" = fresh."externalSource" AND n."externalId" = fresh."externalId"
"""

_DELETE_RETIRED = """
WITH deleted AS (
DELETE FROM "Prospect" p
WHERE (
        EXISTS (SELECT 1 FROM restructure.pending_key k
                WHERE k."externalSource" = p."externalSource" AND k."externalId" = p."externalId")
     OR EXISTS (SELECT 1 FROM restructure.source_record s
                WHERE s.is_current AND s.needs_name_resolution
                  AND s."externalSource" = p."externalSource" AND s."externalId" = p."externalId")
     OR EXISTS (SELECT 1 FROM stale_company st WHERE st.id = p."companyId")
  )
  AND NOT EXISTS (SELECT 1 FROM prospect_next n
                  WHERE n."externalSource" = p."externalSource" AND n."externalId" = p."externalId")
RETURNING p.id
)
INSERT INTO restructure.search_outbox (entity, entity_id) SELECT 'prospect', id FROM deleted
"""

_UPSERT = """
WITH written AS (
    INSERT INTO "Prospect" (id, {columns}, "externalSource", "externalId", "createdAt", "updatedAt")
    SELECT id, {columns}, "externalSource", "externalId", "createdAt", "updatedAt" FROM prospect_next
    ON CONFLICT ("externalSource", "externalId") DO UPDATE
    SET {assignments}, "updatedAt" = now() AT TIME ZONE 'UTC'
    WHERE ({current}) IS DISTINCT FROM ({excluded})
    RETURNING id
)
INSERT INTO restructure.search_outbox (entity, entity_id) SELECT 'prospect', id FROM written
"""

_INSERT = """
INSERT INTO "Prospect" (id, {columns}, "externalSource", "externalId", "createdAt", "updatedAt")
SELECT id, {columns}, "externalSource", "externalId", "createdAt", "updatedAt" FROM prospect_next
"""

_DELETE_STALE_COMPANIES = """
WITH deleted AS (DELETE FROM "Company" c USING stale_company st WHERE c.id = st.id RETURNING c.id)
INSERT INTO restructure.search_outbox (entity, entity_id) SELECT 'company', id FROM deleted
"""

_QUARANTINE_NEXT = """
CREATE TEMP TABLE quarantine_next ON COMMIT DROP AS
SELECT s.source, s.source_ref, s.line, s."externalSource", s."externalId",
       coalesce(
           s.record_problem,
           CASE WHEN s.email_normalized IS NULL THEN 'missing_email' ELSE 'personal_domain_unresolved' END
       ) AS reason,
       jsonb_strip_nulls(jsonb_build_object(
           'id', s.customer_id, 'externalSource', s."externalSource", 'externalId', s."externalId",
           {raw_attributes}
       -- Raw values that could not be parsed replace their (null) cleaned value.
       )) || jsonb_strip_nulls(coalesce(s.rejected_values, '{{}}'::jsonb)) AS raw
FROM restructure.source_record s
LEFT JOIN name_resolution r ON r.source = s.source AND r.source_ref = s.source_ref
WHERE s.is_current
  AND (s.record_problem IS NOT NULL OR (s.needs_name_resolution AND r.resolved_domain IS NULL))
"""

_SYNC_QUARANTINE = """
INSERT INTO restructure.customer_quarantine AS q
    (source, source_ref, line, "externalSource", "externalId", reason, raw, first_seen_at, last_seen_at)
SELECT source, source_ref, line, "externalSource", "externalId", reason, raw,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM quarantine_next
ON CONFLICT (source, source_ref) DO UPDATE
SET line = EXCLUDED.line, "externalSource" = EXCLUDED."externalSource", "externalId" = EXCLUDED."externalId",
    reason = EXCLUDED.reason, raw = EXCLUDED.raw, last_seen_at = EXCLUDED.last_seen_at;

DELETE FROM restructure.customer_quarantine q
WHERE NOT EXISTS (SELECT 1 FROM quarantine_next n WHERE n.source = q.source AND n.source_ref = q.source_ref);
"""

_CLEAR_QUEUES = "DELETE FROM restructure.pending_key; DELETE FROM restructure.pending_domain;"


@dataclass(frozen=True)
class ProspectWriteResult:
    recomputed: int
    inserted_or_updated: int
    deleted: int
    companies_retired: int
    resolved_by_name: int
    quarantined: int


def write_prospects(
    conn: psycopg.Connection,
    resolve: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame],
    clean_names: Callable[[pl.DataFrame], pl.DataFrame],
    new_id: Callable[[], str],
) -> ProspectWriteResult:
    """Recompute queued and name-resolved prospects and the quarantine, in one transaction.

    ``clean_names`` maps a frame (domain, name) to (domain, name_clean); ``resolve`` is the
    cleaned-name rule: (people, companies) -> (record_key, resolved_domain).
    """
    with conn.transaction():
        take_write_lock(conn)
        conn.execute(_STALE_COMPANIES)
        companies = clean_names(fetch_frame(conn, _LIVE_COMPANY_NAMES, schema={"domain": pl.Utf8, "name": pl.Utf8}))
        people = fetch_frame(
            conn,
            _PEOPLE_TO_RESOLVE,
            schema={"record_key": pl.Utf8, "source": pl.Utf8, "source_ref": pl.Utf8, "company_name_clean": pl.Utf8},
        )
        resolved = resolve(people.select("record_key", "company_name_clean"), companies.select("domain", "name_clean"))
        resolution = people.select("record_key", "source", "source_ref").join(
            resolved.select("record_key", "resolved_domain"), on="record_key", how="left"
        )
        conn.execute(_CREATE_RESOLUTION)
        copy_frame(conn, sql.Identifier("name_resolution"), resolution.select("source", "source_ref", "resolved_domain"))
        conn.execute("ANALYZE name_resolution")

        conn.execute(_RECOMPUTE_KEYS)
        with _hash_joins_if_many_keys(conn):
            conn.execute(
                sql.SQL(_PROSPECT_NEXT).format(
                    attributes=sql.SQL(", ").join(
                        sql.SQL("s.{}").format(sql.Identifier(name)) for name in PROSPECT_ATTRIBUTES if name != "email"
                    )
                )
            )
        missing = fetch_frame(
            conn,
            'SELECT "externalSource", "externalId" FROM prospect_next WHERE id IS NULL',
            schema={"externalSource": pl.Utf8, "externalId": pl.Utf8},
        )
        conn.execute(_CREATE_NEW_IDS)
        if not missing.is_empty():
            copy_frame_with_new_ids(conn, sql.Identifier("new_prospect_id"), missing, new_id)
            conn.execute(_ASSIGN_NEW_IDS)
        recomputed = conn.execute("SELECT count(*) FROM prospect_next").fetchone()[0]

        deleted = conn.execute(_DELETE_RETIRED).rowcount
        with bulk_load(conn, "public", "Prospect", unique_too=True) as first_load:
            if first_load:  # every row is new, and every index is rebuilt from the tables
                written = _insert_prospects(conn)
                search_sync.require_rebuilds(conn)
            else:
                written = _upsert_prospects(conn)
        retired = conn.execute(_DELETE_STALE_COMPANIES).rowcount

        conn.execute(
            sql.SQL(_QUARANTINE_NEXT).format(
                raw_attributes=sql.SQL(", ").join(
                    sql.SQL("{key}, s.{column}").format(key=sql.Literal(name), column=sql.Identifier(name))
                    for name in ATTRIBUTE_COLUMNS  # the quarantine keeps the record as it came in
                )
            )
        )
        conn.execute(_SYNC_QUARANTINE)
        quarantined = conn.execute("SELECT count(*) FROM quarantine_next").fetchone()[0]
        conn.execute(_CLEAR_QUEUES)
    return ProspectWriteResult(
        recomputed=recomputed,
        inserted_or_updated=written,
        deleted=deleted,
        companies_retired=retired,
        resolved_by_name=int(resolution["resolved_domain"].is_not_null().sum()),
        quarantined=quarantined,
    )



@contextmanager
def _hash_joins_if_many_keys(conn: psycopg.Connection) -> Iterator[None]:
    """Plan the block without nested loops when ``recompute_key`` covers much of the table.

    Identities are joined on two columns that Postgres takes for independent, so it
    estimates a few thousand matches where a full refresh has a million, and picks a
    million index lookups (twice the time of hash joins at 1M rows). A drop's few keys
    keep the planner's choice, which is right for them.
    """
    keys, staged = conn.execute(
        "SELECT (SELECT count(*) FROM recompute_key), "
        "(SELECT reltuples FROM pg_class WHERE oid = 'restructure.source_record'::regclass)"
    ).fetchone()
    if keys <= _MANY_KEYS_SHARE * max(staged, 1):
        yield
        return
    conn.execute("SET LOCAL enable_nestloop = off")
    yield  # on an error the transaction is rolled back, and the SET LOCAL with it
    conn.execute("SET LOCAL enable_nestloop TO DEFAULT")


_WRITTEN_COLUMNS = (*PROSPECT_ATTRIBUTES, "companyId")


def _insert_prospects(conn: psycopg.Connection) -> int:
    """Write ``prospect_next`` into an empty "Prospect", leaving the outbox out; returns rows written."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in _WRITTEN_COLUMNS)
    return conn.execute(sql.SQL(_INSERT).format(columns=columns)).rowcount


def _upsert_prospects(conn: psycopg.Connection) -> int:
    """Write ``prospect_next`` into "Prospect" (changed rows only, with their outbox rows); returns rows written."""
    columns = [sql.Identifier(name) for name in _WRITTEN_COLUMNS]
    statement = sql.SQL(_UPSERT).format(
        columns=sql.SQL(", ").join(columns),
        assignments=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(name) for name in columns),
        current=sql.SQL(", ").join(sql.SQL('"Prospect".{}').format(name) for name in columns),
        excluded=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(name) for name in columns),
    )
    return conn.execute(statement).rowcount
