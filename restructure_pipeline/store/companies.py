"""Writes ``"Company"``: one row per company domain, merged from the domain's current rows.

Only queued domains (``restructure.pending_domain``, or every domain when a full refresh
queued everything) are recomputed, each from *all* its current source rows. Existing
companies keep their id, ``createdAt`` and external identity; ``updatedAt`` moves only
when merged content changes. A name that changes is
queued, old and new spelling, in ``restructure.pending_company_name``: the people who
join a company by that name are the ones the prospect step must resolve again.
Companies whose domain lost every row are removed by the prospect step, after their
prospects have moved. The recomputed domains are marked merged in the queue, which the
prospect step empties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from restructure_pipeline.prefetch import prefetched
from restructure_pipeline.store import search_sync
from restructure_pipeline.store.bulk import (
    bulk_load,
    copy_frame,
    copy_frame_with_ids,
    copy_out_frames,
    fetch_frame,
    id_block_count,
    id_blocks,
    take_write_lock,
)
from restructure_pipeline.store.staging import everything_queued

COMPANY_ATTRIBUTES: tuple[str, ...] = (
    "name", "industry", "minEmployeeSize", "maxEmployeeSize", "employeeSizeLink", "revenue",
    "address", "city", "state", "country", "zipCode", "phone", "mobilePhone",
)

_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "domain": pl.Utf8, "company": pl.Utf8, "industry": pl.Utf8, "minEmployeeSize": pl.Int32,
    "maxEmployeeSize": pl.Int32, "employeeSizeLink": pl.Utf8, "revenue": pl.Int64, "address": pl.Utf8,
    "city": pl.Utf8, "state": pl.Utf8, "country": pl.Utf8, "zipCode": pl.Utf8, "phone": pl.Utf8,
    "mobilePhone": pl.Utf8, "createdAt": pl.Datetime("ms"), "updatedAt": pl.Datetime("ms"),
    "externalSource": pl.Utf8, "record_key": pl.Utf8,
}

# Current, valid rows of queued domains (of every domain when everything is queued), ordered
# so that a domain never spans two chunks' cut.
_DOMAIN_RECORDS = """
SELECT s.company_domain AS domain, s."company", s."industry", s."minEmployeeSize", s."maxEmployeeSize",
       s."employeeSizeLink", s."revenue", s."address", s."city", s."state", s."country", s."zipCode",
       s."phone", s."mobilePhone", s."createdAt", s."updatedAt", s."externalSource",
       s.source || ':' || s.source_ref AS record_key
FROM restructure.source_record s
{queued_domains}
WHERE s.is_current AND s.record_problem IS NULL AND s.company_domain IS NOT NULL
ORDER BY s.company_domain
"""

_QUEUED_DOMAINS = "JOIN restructure.pending_domain p ON p.domain = s.company_domain"

_CREATE_COMPANY_NEXT = """
CREATE TEMP TABLE company_next (
    domain TEXT PRIMARY KEY, name TEXT, industry TEXT, "minEmployeeSize" INTEGER, "maxEmployeeSize" INTEGER,
    "employeeSizeLink" TEXT, revenue BIGINT, address TEXT, city TEXT, state TEXT, country TEXT,
    "zipCode" TEXT, phone TEXT, "mobilePhone" TEXT
) ON COMMIT DROP
"""

# A company's birth: its earliest row ever seen for the domain, superseded versions included,
# so the answer does not depend on whether drops arrived one by one or all at once.
# One sort: the first row per domain in birth order carries both answers. A table of its
# own, joined where companies are written (updating company_next took 1.4 s at 1M).
# {recomputed_domains}: the join that keeps the domains of company_next, none when
# everything is queued (every domain with a row is recomputed; the join took 0.8 s).
_LINEAGE = """
CREATE TEMP TABLE company_lineage ON COMMIT DROP AS
SELECT DISTINCT ON (s.company_domain) s.company_domain AS domain, s."createdAt", s."externalSource"
FROM restructure.source_record s
{recomputed_domains}
WHERE s.company_domain IS NOT NULL
ORDER BY s.company_domain, s."createdAt", s.source_seq, s.source, s.source_ref
"""

_RECOMPUTED_DOMAINS = "JOIN company_next c ON c.domain = s.company_domain"

_NEW_DOMAINS = """
SELECT n.domain FROM company_next n
WHERE NOT EXISTS (SELECT 1 FROM "Company" c WHERE c.domain = n.domain)
ORDER BY n.domain
"""

# The names a recomputed company gives up or takes (a new company takes its name). Not needed
# when everything is queued: the people they concern are resolved again anyway.
_QUEUE_CHANGED_NAMES = """
INSERT INTO restructure.pending_company_name (name)
SELECT DISTINCT changed.name
FROM company_next n
LEFT JOIN "Company" c ON c.domain = n.domain
CROSS JOIN LATERAL (VALUES (c.name), (n.name)) AS changed (name)
WHERE c.name IS DISTINCT FROM n.name AND changed.name IS NOT NULL
ON CONFLICT (name) DO NOTHING
"""

# Every queued domain has been recomputed (the write lock kept the queues still since this
# step read them); the prospect step clears the queues only when nothing is left unmerged.
_MARK_MERGED = """
UPDATE restructure.pending_domain SET merged = TRUE WHERE NOT merged;
UPDATE restructure.pending_everything SET merged = TRUE WHERE NOT merged;
"""

_CREATE_NEW_IDS = "CREATE TEMP TABLE new_company_id (domain TEXT PRIMARY KEY, id TEXT NOT NULL) ON COMMIT DROP"

# Inserted and changed companies are recorded in the search outbox in the same statement.
_UPSERT = """
WITH written AS (
    INSERT INTO "Company" (id, domain, {attributes}, "externalSource", "externalId", "createdAt", "updatedAt")
    SELECT coalesce(c.id, fresh.id), n.domain, {next_attributes}, l."externalSource", n.domain, l."createdAt",
           now() AT TIME ZONE 'UTC'
    FROM company_next n
    JOIN company_lineage l ON l.domain = n.domain
    LEFT JOIN "Company" c ON c.domain = n.domain
    LEFT JOIN new_company_id fresh ON fresh.domain = n.domain
    ON CONFLICT (domain) DO UPDATE SET {assignments}, "updatedAt" = EXCLUDED."updatedAt"
    WHERE ({current}) IS DISTINCT FROM ({excluded})
    RETURNING id
)
INSERT INTO restructure.search_outbox (entity, entity_id) SELECT 'company', id FROM written
"""


# Into an empty "Company": every domain is new, and the indices are rebuilt from the table.
_INSERT = """
INSERT INTO "Company" (id, domain, {attributes}, "externalSource", "externalId", "createdAt", "updatedAt")
SELECT fresh.id, n.domain, {next_attributes}, l."externalSource", n.domain, l."createdAt", now() AT TIME ZONE 'UTC'
FROM company_next n
JOIN company_lineage l ON l.domain = n.domain
JOIN new_company_id fresh ON fresh.domain = n.domain
"""


@dataclass(frozen=True)
class CompanyWriteResult:
    domains_recomputed: int
    inserted: int
    updated: int


def iter_domain_chunks(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Re-cut a domain-ordered stream so each chunk holds whole domains."""
    carry: pl.DataFrame | None = None
    for frame in frames:
        if carry is not None:
            frame = pl.concat([carry, frame])
        last_domain = frame["domain"][-1]
        complete = frame.filter(pl.col("domain") != last_domain)
        carry = frame.filter(pl.col("domain") == last_domain)
        if not complete.is_empty():
            yield complete
    if carry is not None and not carry.is_empty():
        yield carry


def write_companies(
    conn: psycopg.Connection,
    reader: psycopg.Connection,
    merge: Callable[[pl.DataFrame], pl.DataFrame],
    new_id: Callable[[], str],
    chunk_rows: int,
) -> CompanyWriteResult:
    """Recompute every queued domain with ``merge`` and upsert the result, in one transaction.

    ``reader`` (another connection) streams the queued domains' rows while ``conn`` writes;
    it reads committed rows only, which the write lock taken on ``conn`` keeps still.
    """
    with conn.transaction():
        take_write_lock(conn)
        everything = everything_queued(conn)
        conn.execute(_CREATE_COMPANY_NEXT)
        records = sql.SQL(_DOMAIN_RECORDS).format(queued_domains=sql.SQL("" if everything else _QUEUED_DOMAINS))
        stream = copy_out_frames(reader, records, _RECORD_SCHEMA, chunk_rows)
        domains = _merge_into_company_next(conn, stream, merge)
        new_domains = fetch_frame(conn, _NEW_DOMAINS, schema={"domain": pl.Utf8})
        # A worker thread makes the new companies' ids (cuid2 hashes each one) while Postgres
        # finds their births: about 4 s at 1M rows, beside about 1.3 s.
        ids = prefetched(id_blocks(new_domains.height, new_id), depth=max(1, id_block_count(new_domains.height)))
        with closing(ids):
            conn.execute(
                sql.SQL(_LINEAGE).format(recomputed_domains=sql.SQL("" if everything else _RECOMPUTED_DOMAINS))
            )
            if not everything:
                conn.execute(_QUEUE_CHANGED_NAMES)
            conn.execute(_CREATE_NEW_IDS)
            copy_frame_with_ids(conn, sql.Identifier("new_company_id"), new_domains, ids)
        attributes = [sql.Identifier(name) for name in COMPANY_ATTRIBUTES]
        columns = {
            "attributes": sql.SQL(", ").join(attributes),
            "next_attributes": sql.SQL(", ").join(sql.SQL("n.{}").format(name) for name in attributes),
        }
        with bulk_load(conn, "public", "Company", unique_too=True) as first_load:
            if first_load:
                written = conn.execute(sql.SQL(_INSERT).format(**columns)).rowcount
                search_sync.require_rebuilds(conn)
            else:
                upsert = sql.SQL(_UPSERT).format(
                    **columns,
                    assignments=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(name) for name in attributes),
                    current=sql.SQL(", ").join(sql.SQL('"Company".{}').format(name) for name in attributes),
                    excluded=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(name) for name in attributes),
                )
                written = conn.execute(upsert).rowcount
        conn.execute(_MARK_MERGED)
        inserted = new_domains.height
    return CompanyWriteResult(domains_recomputed=domains, inserted=inserted, updated=max(written - inserted, 0))


def _merge_into_company_next(
    conn: psycopg.Connection, stream: Iterator[pl.DataFrame], merge: Callable[[pl.DataFrame], pl.DataFrame]
) -> int:
    """Merge each whole-domain chunk and COPY it into ``company_next``; returns domains merged."""
    merged_domains = 0
    with closing(prefetched(merge(records) for records in iter_domain_chunks(stream))) as chunks:  # merge the next meanwhile
        for merged in chunks:
            copy_frame(conn, sql.Identifier("company_next"), merged.select("domain", *COMPANY_ATTRIBUTES))
            merged_domains += merged.height
    return merged_domains
