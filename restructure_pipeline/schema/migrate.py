"""Versioned, checksummed schema migrations (``schema/migrations/NNNN_name.sql``).

Each migration runs once, in its own transaction, recorded in
``restructure.schema_migration``; rerunning is a no-op. An applied migration whose file
has since changed is an error, never silently re-applied. A session-level advisory lock
keeps two processes from migrating at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

MIGRATION_LOCK_KEY = 0x5245_5354  # "REST": one advisory lock id for schema changes
_MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS restructure;
CREATE TABLE IF NOT EXISTS restructure.schema_migration (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
)
"""


class SchemaMigrationError(RuntimeError):
    """The database holds a migration history this code does not recognise."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files("restructure_pipeline.schema").joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            migrations.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise SchemaMigrationError(f"duplicate migration versions in {versions}")
    return migrations


def apply_migrations(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; returns the ones applied by this call."""
    migrations = load_migrations()
    applied: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        with conn.transaction():
            conn.execute(_BOOTSTRAP)
        recorded = {
            version: (name, checksum)
            for version, name, checksum in conn.execute(
                "SELECT version, name, checksum FROM restructure.schema_migration"
            ).fetchall()
        }
        known = {migration.version for migration in migrations}
        unknown = sorted(set(recorded) - known)
        if unknown:
            raise SchemaMigrationError(
                f"the database has migrations {unknown} that this version of the pipeline does not ship; "
                "upgrade the pipeline before running it against this database"
            )
        for migration in migrations:
            if migration.version in recorded:
                name, checksum = recorded[migration.version]
                if checksum != migration.checksum:
                    raise SchemaMigrationError(
                        f"migration {migration.version:04d}_{name} was applied with a different checksum; "
                        "migrations are immutable once applied: add a new one instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO restructure.schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            applied.append(migration)
    finally:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied
