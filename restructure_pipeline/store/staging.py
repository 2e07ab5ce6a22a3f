"""The staging table ``restructure.source_record``: every ingested row, and what changed.

Staging a source replaces that source's rows wholesale in one transaction: new and
changed rows are upserted, rows gone from the source are removed, and the identities and
domains they touch are queued in ``pending_key`` / ``pending_domain`` for the company and
prospect steps, and the source in ``pending_source`` (a full refresh queues everything at
once: one row in ``pending_everything``); a queued domain is unmerged until the company step
recomputes it. Unchanged rows are left alone, so a rerun with the same input queues nothing.
A source staged for the first time (the legacy table on the first run, each new drop) has
nothing to compare with: its rows are copied straight into the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS
from restructure_pipeline.store.bulk import bulk_load, copy_frame, take_write_lock

STAGING_COLUMNS: tuple[str, ...] = (
    "source", "source_ref", "source_seq", "line", "customer_id", "externalSource", "externalId",
    *ATTRIBUTE_COLUMNS, "createdAt", "updatedAt",
    "email_normalized", "domain", "domain_kind", "company_domain", "company_name_clean",
    "record_problem", "needs_name_resolution", "rejected_values", "content_hash",
)

_KEY = sql.SQL('"externalSource", "externalId"')

_CREATE_INCOMING = "CREATE TEMP TABLE incoming (LIKE restructure.source_record INCLUDING DEFAULTS) ON COMMIT DROP"

_DIFF = """
CREATE TEMP TABLE changed_ref ON COMMIT DROP AS
SELECT i.source_ref
FROM incoming i
LEFT JOIN restructure.source_record s ON s.source = i.source AND s.source_ref = i.source_ref
WHERE s.source_ref IS NULL OR s.content_hash <> i.content_hash;

CREATE TEMP TABLE removed_ref ON COMMIT DROP AS
SELECT s.source_ref
FROM restructure.source_record s
WHERE s.source = {source}
  AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.source_ref = s.source_ref);
"""

# A source with new, changed or removed rows: the prospect step evaluates its quarantine rows again.
_QUEUE_SOURCE = "INSERT INTO restructure.pending_source (source) VALUES (%s) ON CONFLICT DO NOTHING"

# Old and new identities of every changed or removed row.
_QUEUE_KEYS_OF_NEW_SOURCE = """
INSERT INTO restructure.pending_key ("externalSource", "externalId")
SELECT DISTINCT "externalSource", "externalId" FROM restructure.source_record
WHERE source = {source} AND "externalSource" IS NOT NULL AND "externalId" IS NOT NULL
ON CONFLICT DO NOTHING
"""

_QUEUE_KEYS = """
INSERT INTO restructure.pending_key ("externalSource", "externalId")
SELECT DISTINCT k."externalSource", k."externalId" FROM (
    SELECT i."externalSource", i."externalId" FROM incoming i JOIN changed_ref c USING (source_ref)
    UNION ALL
    SELECT s."externalSource", s."externalId"
    FROM restructure.source_record s JOIN changed_ref c ON s.source = {source} AND s.source_ref = c.source_ref
    UNION ALL
    SELECT s."externalSource", s."externalId"
    FROM restructure.source_record s JOIN removed_ref r ON s.source = {source} AND s.source_ref = r.source_ref
) k
WHERE k."externalSource" IS NOT NULL AND k."externalId" IS NOT NULL
ON CONFLICT DO NOTHING
"""

# Every domain any row of a queued identity votes for, before and after the change. A domain
# the company step already merged is queued again (its rows changed since).
_QUEUE_DOMAINS_OF_PENDING_KEYS = """
INSERT INTO restructure.pending_domain AS p (domain)
SELECT DISTINCT s.company_domain
FROM restructure.source_record s
JOIN restructure.pending_key k USING ("externalSource", "externalId")
WHERE s.company_domain IS NOT NULL
ON CONFLICT (domain) DO UPDATE SET merged = FALSE WHERE p.merged
"""

_DELETE_REMOVED = """
DELETE FROM restructure.source_record s USING removed_ref r
WHERE s.source = {source} AND s.source_ref = r.source_ref
"""

# Written rows start as current; _RECOMPUTE_CURRENT then demotes the older versions of the
# queued identities, so only the few superseded rows are written twice.
_UPSERT_CHANGED = """
INSERT INTO restructure.source_record ({columns}, is_current)
SELECT {columns}, TRUE FROM incoming i JOIN changed_ref c USING (source_ref)
ON CONFLICT (source, source_ref) DO UPDATE SET {assignments}, is_current = TRUE, ingested_at = EXCLUDED.ingested_at
"""

# The newest row of an identity is its current version: latest updatedAt, then the later
# drop, then the later line. Rows without a complete identity stand alone. Only identities
# with several rows, or a row not yet current, are ranked: most have one row, already
# current (written rows start so), and sorting them all was the bulk of the cost.
# {queued_rows}: the rows of the queued identities (see _QUEUED_ROWS, _ALL_IDENTIFIED_ROWS).
# The unsettled identities are a table of their own, analyzed: usually few or none, and
# then the update looks their rows up by index (estimated inline, at 1M rows the plan
# hashed all of source_record to update no row).
_UNSETTLED_KEYS = """
CREATE TEMP TABLE unsettled_key ON COMMIT DROP AS
SELECT q."externalSource", q."externalId"
FROM {queued_rows}
GROUP BY 1, 2
HAVING count(*) > 1 OR NOT bool_and(q.is_current);
ANALYZE unsettled_key;
"""

_RECOMPUTE_CURRENT = """
UPDATE restructure.source_record s
SET is_current = ranked.rank = 1
FROM (
    SELECT r.source, r.source_ref,
           row_number() OVER (
               PARTITION BY r."externalSource", r."externalId"
               ORDER BY r."updatedAt" DESC, r.source_seq DESC, r.line DESC NULLS LAST, r.source_ref DESC
           ) AS rank
    FROM restructure.source_record r
    JOIN unsettled_key USING ("externalSource", "externalId")
) ranked
WHERE s.source = ranked.source AND s.source_ref = ranked.source_ref
  AND s.is_current IS DISTINCT FROM (ranked.rank = 1)
"""

_QUEUED_ROWS = 'restructure.source_record q JOIN restructure.pending_key k USING ("externalSource", "externalId")'

# Everything queued: every row with a complete identity (the key queue holds no incomplete one).
_ALL_IDENTIFIED_ROWS = 'restructure.source_record q WHERE q."externalSource" IS NOT NULL AND q."externalId" IS NOT NULL'

_CURRENT_WITHOUT_IDENTITY = """
UPDATE restructure.source_record
SET is_current = TRUE
WHERE NOT is_current AND ("externalSource" IS NULL OR "externalId" IS NULL)
"""

_QUEUE_EVERYTHING = """
INSERT INTO restructure.pending_everything AS e DEFAULT VALUES
ON CONFLICT (everything) DO UPDATE SET merged = FALSE, queued_at = EXCLUDED.queued_at WHERE e.merged
"""

_EVERYTHING_QUEUED = "SELECT EXISTS (SELECT 1 FROM restructure.pending_everything)"


@dataclass(frozen=True)
class StageResult:
    source: str
    rows: int
    changed: int
    removed: int


def stage_source(
    conn: psycopg.Connection,
    source: str,
    frames: Iterable[pl.DataFrame],
    before_commit: Callable[[psycopg.Connection, int], None] | None = None,
    *,
    queue: bool = True,
) -> StageResult:
    """Make the staged rows of ``source`` equal ``frames`` (staging-shaped), atomically.

    ``before_commit(conn, rows)`` runs last inside the same transaction (e.g. to record the
    drop), so a source is either staged and recorded, or neither. ``queue=False`` leaves
    the queues and current versions to a :func:`queue_everything` in the *same* transaction
    (a full refresh, which recomputes everything anyway): never commit one without it.
    """
    with conn.transaction():
        take_write_lock(conn)
        staged_before = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM restructure.source_record WHERE source = %s)", (source,)
        ).fetchone()[0]
        if staged_before:
            result = _replace_source(conn, source, frames, queue)
        else:
            result = _insert_new_source(conn, source, frames, queue)
        if before_commit is not None:
            before_commit(conn, result.rows)
    return result


def _insert_new_source(conn: psycopg.Connection, source: str, frames: Iterable[pl.DataFrame], queue: bool) -> StageResult:
    rows = 0
    with bulk_load(conn, "restructure", "source_record", unique_too=True):
        for frame in frames:
            # Written rows start as current: see _UPSERT_CHANGED.
            rows += copy_frame(
                conn, sql.Identifier("restructure", "source_record"),
                frame.select(STAGING_COLUMNS).with_columns(is_current=pl.lit(True)),
            )
    if rows and queue:
        conn.execute(_QUEUE_SOURCE, (source,))
        conn.execute(sql.SQL(_QUEUE_KEYS_OF_NEW_SOURCE).format(source=sql.Literal(source)))
        _queue_domains_of_pending_keys(conn)
        _settle_current_versions(conn)
    return StageResult(source=source, rows=rows, changed=rows, removed=0)


def _replace_source(conn: psycopg.Connection, source: str, frames: Iterable[pl.DataFrame], queue: bool) -> StageResult:
    source_literal = sql.Literal(source)
    conn.execute(_CREATE_INCOMING)
    rows = 0
    for frame in frames:
        rows += copy_frame(conn, sql.Identifier("incoming"), frame.select(STAGING_COLUMNS))
    conn.execute("ANALYZE incoming (source_ref)")  # the diff joins on it
    conn.execute(sql.SQL(_DIFF).format(source=source_literal))
    changed = conn.execute("SELECT count(*) FROM changed_ref").fetchone()[0]
    removed = conn.execute("SELECT count(*) FROM removed_ref").fetchone()[0]
    if changed or removed:
        if queue:
            conn.execute(_QUEUE_SOURCE, (source,))
            conn.execute(sql.SQL(_QUEUE_KEYS).format(source=source_literal))
            _queue_domains_of_pending_keys(conn)
        conn.execute(sql.SQL(_DELETE_REMOVED).format(source=source_literal))
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in STAGING_COLUMNS)
        assignments = sql.SQL(", ").join(
            sql.SQL("{name} = EXCLUDED.{name}").format(name=sql.Identifier(name))
            for name in STAGING_COLUMNS
            if name not in ("source", "source_ref")
        )
        conn.execute(sql.SQL(_UPSERT_CHANGED).format(columns=columns, assignments=assignments))
        if queue:
            conn.execute(_QUEUE_DOMAINS_OF_PENDING_KEYS)
            _settle_current_versions(conn)
    # A full refresh stages every source in one transaction: the next one needs the names.
    conn.execute("DROP TABLE incoming, changed_ref, removed_ref")
    return StageResult(source=source, rows=rows, changed=changed, removed=removed)


def queue_everything(conn: psycopg.Connection) -> None:
    """Queue every identity and domain, so the next steps recompute all (a full refresh).

    One row in ``restructure.pending_everything`` says so; the keys and domains already
    queued stay (they are part of everything)."""
    with conn.transaction():
        take_write_lock(conn)
        conn.execute(_QUEUE_EVERYTHING)
        _settle_current_versions(conn, everything=True)


def everything_queued(conn: psycopg.Connection) -> bool:
    """Whether a full refresh queued every identity and domain (until the prospect step clears the queues)."""
    return conn.execute(_EVERYTHING_QUEUED).fetchone()[0]


def _queue_domains_of_pending_keys(conn: psycopg.Connection) -> None:
    # The queue's statistics are the last run's until analyzed: after a full refresh they say
    # every identity, and a drop's keys were joined by scanning all of source_record (66 s at
    # 10M; with _RECOMPUTE_CURRENT's 81 s, most of that drop's staging). At 1M, 0.68 s and
    # 1.84 s planned so, 0.05 s and 0.10 s by index once analyzed (ANALYZE samples at most
    # 30,000 rows: milliseconds for a drop's queue).
    conn.execute("ANALYZE restructure.pending_key")
    conn.execute(_QUEUE_DOMAINS_OF_PENDING_KEYS)


def _settle_current_versions(conn: psycopg.Connection, *, everything: bool = False) -> None:
    """Mark each queued identity's newest row current (every identity's with ``everything``).

    Without ``everything``, the key queue must be analyzed already."""
    queued_rows = _ALL_IDENTIFIED_ROWS if everything else _QUEUED_ROWS
    conn.execute(sql.SQL(_UNSETTLED_KEYS).format(queued_rows=sql.SQL(queued_rows)))
    conn.execute(_RECOMPUTE_CURRENT)
    conn.execute("DROP TABLE unsettled_key")  # the transaction may stage and settle another source
    conn.execute(_CURRENT_WITHOUT_IDENTITY)
    # Fresh statistics for the next steps' plans (autovacuum may not have caught up yet).
    conn.execute("ANALYZE restructure.source_record, restructure.pending_domain")


def staged_counts(conn: psycopg.Connection, sources: Sequence[str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per source, and current rows per record problem, of ``sources`` (None: all), for metadata.

    Given a drop run's sources, both read only the drop's rows: over the whole table they
    took 18 s of a 10M drop's staging."""
    rows = sql.SQL("TRUE") if sources is None else sql.SQL("source = ANY(%(sources)s)")
    params = {"sources": list(sources or ())}
    per_source = conn.execute(
        sql.SQL("SELECT source, count(*) FROM restructure.source_record WHERE {} GROUP BY source").format(rows), params
    ).fetchall()
    problems = conn.execute(
        sql.SQL(
            "SELECT coalesce(record_problem, 'none'), count(*) FROM restructure.source_record "
            "WHERE {} AND is_current GROUP BY 1"
        ).format(rows),
        params,
    ).fetchall()
    return dict(per_source), dict(problems)
