"""Writes ``"Prospect"`` and ``restructure.customer_quarantine``, and retires stale companies.

Recomputed here: every queued identity (``pending_key``; all of them when a full refresh
queued everything, ``pending_everything``), and every person who joins a company by
cleaned name (personal or missing email) when that name is one a company gave up or took
in this run (``pending_company_name``, and the names of the companies retired
here). Who a name resolves to changes only with the companies that carry it, so nobody
else's answer can have changed. A prospect migrated from ``Customer`` keeps the
Customer's id; other prospects keep the id first given to their (externalSource,
externalId). The quarantine is evaluated again for the rows whose answer can have changed
(all of them when everything is queued; else the rows of the recomputed identities and of
the sources staged since, ``pending_source``): a row that now resolves leaves it.
The step runs only once the company step has merged every queued domain
(:class:`UnmergedQueueError` otherwise), and then empties the queues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS
from restructure_pipeline.store import search_sync
from restructure_pipeline.store.bulk import bulk_load, copy_frame, copy_frame_with_new_ids, fetch_frame, take_write_lock
from restructure_pipeline.store.staging import everything_queued

PROSPECT_ATTRIBUTES: tuple[str, ...] = (
    "salutation", "firstName", "lastName", "email", "jobTitle", "jobTitleLevel", "department", "jobTitleLink",
    "address", "city", "state", "country", "zipCode", "phone", "mobilePhone",
)

# Companies of the queued domains (of all, when everything is queued) that lost every row.
_STALE_COMPANIES = """
CREATE TEMP TABLE stale_company ON COMMIT DROP AS
SELECT c.id, c.domain
FROM "Company" c
{queued_domains}
WHERE NOT EXISTS (
    SELECT 1 FROM restructure.source_record s
    WHERE s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL
)
"""

_QUEUED_DOMAINS = "JOIN restructure.pending_domain p ON p.domain = c.domain"

# Names whose companies changed: queued by the company step, and those of the companies retired here.
_CHANGED_NAMES = """
SELECT name FROM restructure.pending_company_name
UNION
SELECT c.name FROM "Company" c JOIN stale_company st ON st.id = c.id WHERE c.name IS NOT NULL
"""

# Whether every person who joins a company by name is queued already (always so when
# everything is queued, and then not asked): then nobody else can be concerned by a changed
# name, and the changed names need not be cleaned and looked up.
_EVERYONE_BY_NAME_QUEUED = """
SELECT NOT EXISTS (
    SELECT 1 FROM restructure.source_record s
    WHERE s.is_current AND s.record_problem IS NULL AND s.needs_name_resolution
      AND NOT EXISTS (SELECT 1 FROM restructure.pending_key k
                      WHERE k."externalSource" = s."externalSource" AND k."externalId" = s."externalId")
)
"""

# Cleaned names in question: the changed ones, then those of the people to resolve too.
_CREATE_NAME_IN_QUESTION = "CREATE TEMP TABLE name_in_question (name_clean TEXT PRIMARY KEY) ON COMMIT DROP"

# The people whose answer may differ from the last run's: queued ones (everyone, when
# everything is queued), and those carrying a changed name. They stay in Postgres: only the
# companies' names go through Python.
_PEOPLE_TO_RESOLVE = """
CREATE TEMP TABLE person_to_resolve ON COMMIT DROP AS
SELECT s.source, s.source_ref, s.company_name_clean
FROM restructure.source_record s
WHERE s.is_current AND s.record_problem IS NULL AND s.needs_name_resolution
  AND s.company_name_clean IN (SELECT name_clean FROM name_in_question)
UNION
SELECT s.source, s.source_ref, s.company_name_clean
FROM restructure.source_record s
{queued_keys}
WHERE s.is_current AND s.record_problem IS NULL AND s.needs_name_resolution;
ANALYZE person_to_resolve;
"""

_QUEUED_KEYS = 'JOIN restructure.pending_key k USING ("externalSource", "externalId")'

# The companies carrying the people's own names decide their answer too.
_PEOPLES_NAMES_IN_QUESTION = """
INSERT INTO name_in_question (name_clean)
SELECT DISTINCT company_name_clean FROM person_to_resolve WHERE company_name_clean IS NOT NULL
ON CONFLICT (name_clean) DO NOTHING;
ANALYZE name_in_question;
"""

# The live companies carrying a name in question, with its cleaned form. A company's name is the
# company value of some of its current rows, and staging cleaned every row's name with the same
# rule: looking it up there spares cleaning every company's name on every run.
_COMPANIES_BY_NAME = """
SELECT DISTINCT c.domain, s.company_name_clean AS name_clean
FROM restructure.source_record s
JOIN "Company" c ON c.domain = s.company_domain AND c.name = s.company
WHERE s.is_current AND s.record_problem IS NULL
  AND s.company_name_clean IN (SELECT name_clean FROM name_in_question)
  AND NOT EXISTS (SELECT 1 FROM stale_company st WHERE st.id = c.id)
"""

_CREATE_NAME_OWNER = "CREATE TEMP TABLE name_owner (name_clean TEXT PRIMARY KEY, domain TEXT NOT NULL) ON COMMIT DROP"

# Each person to resolve, with the domain of the one company carrying their cleaned name (or null).
_RESOLVE = """
CREATE TEMP TABLE name_resolution (
    source TEXT NOT NULL, source_ref TEXT NOT NULL, resolved_domain TEXT, PRIMARY KEY (source, source_ref)
) ON COMMIT DROP;
ANALYZE name_owner;
INSERT INTO name_resolution (source, source_ref, resolved_domain)
SELECT p.source, p.source_ref, o.domain
FROM person_to_resolve p
LEFT JOIN name_owner o ON o.name_clean = p.company_name_clean;
ANALYZE name_resolution;
"""

# The identities to recompute: queued ones, and the people resolved again by name. A table
# of its own, analyzed, so that the next statement is planned with hash joins when they
# are many and index lookups when they are few (a drop's). Not made when everything is
# queued: the statements then read whole tables.
_RECOMPUTE_KEYS = """
CREATE TEMP TABLE recompute_key ON COMMIT DROP AS
SELECT "externalSource", "externalId" FROM restructure.pending_key
UNION
SELECT s."externalSource", s."externalId"
FROM name_resolution r
JOIN restructure.source_record s ON s.source = r.source AND s.source_ref = r.source_ref;
ANALYZE recompute_key;
"""

# Each recomputed identity's current row, with its lineage (the legacy id, if any, and
# when the identity was first seen) from all its versions, aggregated in one pass.
# Queued identities: the lineage of each, joined, which also picks their current rows.
# Everything queued: every current row; the lineage only of the identities with superseded
# versions, left-joined, since an identity with one row is its own lineage (grouping a
# million single rows was half the statement: 5.9 s -> 3.0 s at 1M).
_PROSPECT_NEXT = """
CREATE TEMP TABLE prospect_next ON COMMIT DROP AS
WITH lineage AS (
    SELECT l."externalSource", l."externalId", min(l.customer_id) AS customer_id, min(l."createdAt") AS first_seen
    FROM {lineage_rows}
    GROUP BY l."externalSource", l."externalId"
)
SELECT coalesce(s.customer_id, existing.id, lineage.customer_id) AS id,
       {attributes}, s.email_normalized AS email, c.id AS "companyId",
       s."externalSource", s."externalId", coalesce(lineage.first_seen, s."createdAt") AS "createdAt", s."updatedAt"
FROM restructure.source_record s
{lineage_join} lineage USING ("externalSource", "externalId")
LEFT JOIN name_resolution r ON r.source = s.source AND r.source_ref = s.source_ref
JOIN "Company" c ON c.domain = coalesce(s.company_domain, r.resolved_domain)
LEFT JOIN "Prospect" existing
       ON existing."externalSource" = s."externalSource" AND existing."externalId" = s."externalId"
WHERE s.is_current AND s.record_problem IS NULL AND s."externalSource" IS NOT NULL AND s."externalId" IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM stale_company st WHERE st.id = c.id)
"""

_RECOMPUTED_ROWS = 'restructure.source_record l JOIN recompute_key USING ("externalSource", "externalId")'

# Every identity with a superseded row has several (staging leaves exactly one current row per identity).
_SUPERSEDED_ROWS = """restructure.source_record l
JOIN (
    SELECT DISTINCT "externalSource", "externalId" FROM restructure.source_record
    WHERE NOT is_current AND "externalSource" IS NOT NULL AND "externalId" IS NOT NULL
) superseded USING ("externalSource", "externalId")"""

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

# The recomputed prospects that have no row in prospect_next. {recomputed}: the condition
# that a prospect was recomputed, empty when everything was.
_DELETE_RETIRED = """
WITH deleted AS (
DELETE FROM "Prospect" p
WHERE {recomputed} NOT EXISTS (SELECT 1 FROM prospect_next n
                                WHERE n."externalSource" = p."externalSource" AND n."externalId" = p."externalId")
RETURNING p.id
)
INSERT INTO restructure.search_outbox (entity, entity_id) SELECT 'prospect', id FROM deleted
"""

_RECOMPUTED = """(
        EXISTS (SELECT 1 FROM recompute_key k
                WHERE k."externalSource" = p."externalSource" AND k."externalId" = p."externalId")
     OR EXISTS (SELECT 1 FROM stale_company st WHERE st.id = p."companyId")
  ) AND"""

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

# The quarantine is evaluated again for every row when everything is queued. A drop run
# evaluates again only the rows whose answer it can have changed: those of the identities
# it recomputed (queued, or resolved again by name) and every row of the sources it staged
# (a row without a complete identity is queued by no key), so its cost follows the drop.
_REEVALUATED_ROWS = """
CREATE TEMP TABLE reevaluated_row ON COMMIT DROP AS
SELECT s.source, s.source_ref FROM restructure.source_record s JOIN recompute_key USING ("externalSource", "externalId")
UNION
SELECT s.source, s.source_ref FROM restructure.source_record s JOIN restructure.pending_source USING (source);
ANALYZE reevaluated_row;
"""

_ONLY_REEVALUATED_ROWS = "JOIN reevaluated_row USING (source, source_ref)"

# The quarantine rows the evaluation covers, found by index (also those whose source row is
# gone: their identity is queued, or their source).
_REEVALUATED_QUARANTINE = """
AND (q.source, q.source_ref) IN (
    SELECT r.source, r.source_ref
    FROM restructure.customer_quarantine r JOIN recompute_key USING ("externalSource", "externalId")
    UNION
    SELECT r.source, r.source_ref FROM restructure.customer_quarantine r JOIN restructure.pending_source USING (source)
)"""

# {reevaluated_rows}: _ONLY_REEVALUATED_ROWS in a drop run, empty when everything is queued.
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
{reevaluated_rows}
WHERE s.is_current
  AND (
        s.record_problem IS NOT NULL
        -- Joins by name and has no prospect: resolved to no company (now, or when its name last changed).
     OR (s.needs_name_resolution
         AND NOT EXISTS (SELECT 1 FROM "Prospect" p
                         WHERE p."externalSource" = s."externalSource" AND p."externalId" = s."externalId"))
  )
"""

# {reevaluated_quarantine}: _REEVALUATED_QUARANTINE in a drop run, empty when everything is queued.
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
WHERE NOT EXISTS (SELECT 1 FROM quarantine_next n WHERE n.source = q.source AND n.source_ref = q.source_ref)
{reevaluated_quarantine};
"""

_UNMERGED_QUEUE = """
SELECT (SELECT count(*) FROM restructure.pending_domain WHERE NOT merged),
       EXISTS (SELECT 1 FROM restructure.pending_everything WHERE NOT merged)
"""

_CLEAR_QUEUES = """
DELETE FROM restructure.pending_key; DELETE FROM restructure.pending_domain; DELETE FROM restructure.pending_company_name;
DELETE FROM restructure.pending_everything; DELETE FROM restructure.pending_source;
"""


class UnmergedQueueError(RuntimeError):
    """Domains were queued after the last company step: the prospect step would clear them unmerged."""


@dataclass(frozen=True)
class ProspectWriteResult:
    recomputed: int
    inserted_or_updated: int
    deleted: int
    companies_retired: int
    resolved_by_name: int  # people resolved again by name in this run who found their company


def write_prospects(
    conn: psycopg.Connection,
    name_owners: Callable[[pl.DataFrame], pl.DataFrame],
    clean_names: Callable[[pl.DataFrame], pl.DataFrame],
    new_id: Callable[[], str],
) -> ProspectWriteResult:
    """Recompute queued prospects and those whose company name changed, and the quarantine, in one transaction.

    ``clean_names`` maps a frame with ``name`` to one with ``name_clean`` added; ``name_owners``
    is the cleaned-name rule: companies (domain, name_clean) -> the names that resolve
    (name_clean, domain). A person joins the company that owns their cleaned name.
    """
    with conn.transaction():
        take_write_lock(conn)
        _require_merged_queue(conn)
        everything = everything_queued(conn)
        conn.execute(sql.SQL(_STALE_COMPANIES).format(queued_domains=sql.SQL("" if everything else _QUEUED_DOMAINS)))
        resolved_by_name = _resolve_by_name(conn, name_owners, clean_names, everything)

        if everything:  # the keys would be every identity: the statements below read whole tables
            hash_joins_only = True
        else:
            conn.execute(_RECOMPUTE_KEYS)
            hash_joins_only = _many_keys(conn)
        with _hash_joins_only(conn) if hash_joins_only else nullcontext():
            conn.execute(
                sql.SQL(_PROSPECT_NEXT).format(
                    attributes=sql.SQL(", ").join(
                        sql.SQL("s.{}").format(sql.Identifier(name)) for name in PROSPECT_ATTRIBUTES if name != "email"
                    ),
                    lineage_rows=sql.SQL(_SUPERSEDED_ROWS if everything else _RECOMPUTED_ROWS),
                    lineage_join=sql.SQL("LEFT JOIN" if everything else "JOIN"),
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

        deleted = conn.execute(
            sql.SQL(_DELETE_RETIRED).format(recomputed=sql.SQL("" if everything else _RECOMPUTED))
        ).rowcount
        with bulk_load(conn, "public", "Prospect", unique_too=True) as first_load:
            if first_load:  # every row is new, and every index is rebuilt from the tables
                written = _insert_prospects(conn)
                search_sync.require_rebuilds(conn)
            else:
                written = _upsert_prospects(conn)
        retired = conn.execute(_DELETE_STALE_COMPANIES).rowcount

        if not everything:
            conn.execute(_REEVALUATED_ROWS)
        conn.execute(
            sql.SQL(_QUARANTINE_NEXT).format(
                raw_attributes=sql.SQL(", ").join(
                    sql.SQL("{key}, s.{column}").format(key=sql.Literal(name), column=sql.Identifier(name))
                    for name in ATTRIBUTE_COLUMNS  # the quarantine keeps the record as it came in
                ),
                reevaluated_rows=sql.SQL("" if everything else _ONLY_REEVALUATED_ROWS),
            )
        )
        conn.execute(
            sql.SQL(_SYNC_QUARANTINE).format(
                reevaluated_quarantine=sql.SQL("" if everything else _REEVALUATED_QUARANTINE)
            )
        )
        conn.execute(_CLEAR_QUEUES)
    return ProspectWriteResult(
        recomputed=recomputed,
        inserted_or_updated=written,
        deleted=deleted,
        companies_retired=retired,
        resolved_by_name=resolved_by_name,
    )


def _require_merged_queue(conn: psycopg.Connection) -> None:
    """Refuse to run while the queues hold work the company step has not merged.

    An extract that committed after the last company step (another run's, or one
    materialized without ``companies``) queued domains whose companies are not recomputed:
    prospects would be linked to stale companies, and clearing the queues would lose them.
    """
    domains, everything = conn.execute(_UNMERGED_QUEUE).fetchone()
    if domains or everything:
        queued = "a full refresh's extract queued everything" if everything else f"{domains} domain(s) were queued"
        raise UnmergedQueueError(
            f"{queued} after the last company step: materialize companies, then prospects "
            "(nothing was written; the queues are kept)"
        )


def _resolve_by_name(
    conn: psycopg.Connection,
    name_owners: Callable[[pl.DataFrame], pl.DataFrame],
    clean_names: Callable[[pl.DataFrame], pl.DataFrame],
    everything: bool,
) -> int:
    """Resolve again the people whose answer may have changed, into ``name_resolution``; returns
    how many of them found their company. ``everything``: every identity is queued."""
    if everything or conn.execute(_EVERYONE_BY_NAME_QUEUED).fetchone()[0]:
        changed_names = pl.DataFrame(schema={"name_clean": pl.Utf8})
    else:
        changed = clean_names(fetch_frame(conn, _CHANGED_NAMES, schema={"name": pl.Utf8}))
        changed_names = changed.select("name_clean").drop_nulls().unique()
    conn.execute(_CREATE_NAME_IN_QUESTION)
    copy_frame(conn, sql.Identifier("name_in_question"), changed_names)
    conn.execute("ANALYZE name_in_question")
    conn.execute(sql.SQL(_PEOPLE_TO_RESOLVE).format(queued_keys=sql.SQL("" if everything else _QUEUED_KEYS)))
    conn.execute(_PEOPLES_NAMES_IN_QUESTION)
    companies = fetch_frame(conn, _COMPANIES_BY_NAME, schema={"domain": pl.Utf8, "name_clean": pl.Utf8})
    conn.execute(_CREATE_NAME_OWNER)
    copy_frame(conn, sql.Identifier("name_owner"), name_owners(companies).select("name_clean", "domain"))
    conn.execute(_RESOLVE)
    return conn.execute("SELECT count(resolved_domain) FROM name_resolution").fetchone()[0]


def _many_keys(conn: psycopg.Connection) -> bool:
    """Whether ``recompute_key`` covers much of the staged rows.

    Identities are joined on two columns that Postgres takes for independent, so it
    estimates a few thousand matches where a full refresh has a million, and picks a
    million index lookups (twice the time of hash joins at 1M rows). A drop's few keys
    keep the planner's choice, which is right for them.
    """
    keys, staged = conn.execute(
        "SELECT (SELECT count(*) FROM recompute_key), "
        "(SELECT reltuples FROM pg_class WHERE oid = 'restructure.source_record'::regclass)"
    ).fetchone()
    return keys > _MANY_KEYS_SHARE * max(staged, 1)


@contextmanager
def _hash_joins_only(conn: psycopg.Connection) -> Iterator[None]:
    """Plan the block without nested loops."""
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
