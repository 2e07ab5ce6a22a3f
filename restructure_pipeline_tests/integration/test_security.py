"""Secrets stay secret, and the pipeline runs under a role with only what it needs."""

from __future__ import annotations

import logging
import secrets
import traceback
from urllib.parse import quote

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from restructure_pipeline import cli
from restructure_pipeline.services.postgres import EmbeddedPostgres
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy


@pytest.fixture
def least_privileged_url(embedded_postgres: EmbeddedPostgres, database_url: str, conn: psycopg.Connection):
    """A login role that owns the database (so it may create its schema and tables) and may read "Customer"."""
    role = f"pipeline_{secrets.token_hex(4)}"
    password = f"Zq9-{secrets.token_hex(12)}-unmistakable"
    database = conn.info.dbname
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@gmail.com", "Acme")])
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
        sql.Identifier(role), sql.Literal(password)))
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)))
    conn.execute(sql.SQL('GRANT SELECT ON "Customer" TO {}').format(sql.Identifier(role)))
    url = f"postgresql://{role}:{quote(password)}@127.0.0.1:{embedded_postgres.port}/{database}"
    yield url, role, password
    with psycopg.connect(embedded_postgres.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(sql.Identifier(database)))
        admin.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(role)))
        with psycopg.connect(embedded_postgres.url(database), autocommit=True) as inside:
            inside.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(role)))
            inside.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_pipeline_runs_as_a_least_privileged_role_and_never_shows_its_password(
    least_privileged_url, pipeline: PipelineRunner, conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    url, role, password = least_privileged_url
    pipeline.database_url = url
    caplog.set_level(logging.DEBUG)

    result = pipeline.full_refresh()

    with psycopg.connect(url) as as_role:
        assert as_role.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user").fetchone() == (
            role, False)
        assert as_role.execute('SELECT count(*) FROM "Prospect"').fetchone()[0] == 2
    records = pipeline.instance.all_logs(result.run_id)
    texts = [str(record) for record in records]
    texts += [record.getMessage() for record in caplog.records]
    texts += list(capfd.readouterr())
    assert len(texts) > 50
    leaks = [text[:200] for text in texts if password in text or quote(password) in text]
    assert leaks == []


def test_a_wrong_password_fails_clearly_without_echoing_it(
    least_privileged_url, pipeline: PipelineRunner, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    url, role, password = least_privileged_url
    wrong = f"Wx7-{secrets.token_hex(12)}-also-unmistakable"
    pipeline.database_url = url.replace(quote(password), quote(wrong))

    result = pipeline.full_refresh(expect_success=False)

    assert not result.success
    errors = [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    assert any("password authentication failed" in error for error in errors)
    texts = errors + [str(record) for record in pipeline.instance.all_logs(result.run_id)]
    texts += [record.getMessage() for record in caplog.records] + list(capfd.readouterr())
    assert not [text for text in texts if wrong in text or password in text]


def _malformed_password_urls(port: int, database: str) -> list[tuple[str, list[str]]]:
    """URLs whose unescaped password libpq quotes back (bad %, a space, an @), with the fragments that must not show."""
    token = secrets.token_hex(8)
    return [
        (f"postgresql://pipeline:Zq9-{token}-100%@127.0.0.1:{port}/{database}", [f"Zq9-{token}", "100%"]),
        (f"postgresql://pipeline:Zq9 {token} cret@127.0.0.1:{port}/{database}", [f"Zq9 {token}", token]),
        (f"postgresql://pipeline:Zq9-{token}@ss-{token}@127.0.0.1:{port}/{database}", [f"Zq9-{token}", f"ss-{token}"]),
    ]


def _scanned_texts(
    pipeline: PipelineRunner, result: dg.ExecuteInProcessResult,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> list[str]:
    """Everything a person could read after a run: step failures, the event log, log records, stdout and stderr."""
    texts = [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    texts += [str(record) for record in pipeline.instance.all_logs(result.run_id)]
    return texts + [record.getMessage() for record in caplog.records] + list(capfd.readouterr())


@pytest.mark.parametrize("case", range(3), ids=["bad-percent", "space", "unescaped-at"])
def test_a_malformed_password_in_the_url_never_shows_in_step_failures_or_logs(
    case: int, embedded_postgres: EmbeddedPostgres, conn: psycopg.Connection, pipeline: PipelineRunner,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    url, fragments = _malformed_password_urls(embedded_postgres.port, conn.info.dbname)[case]
    pipeline.database_url = url
    caplog.set_level(logging.DEBUG)

    result = pipeline.full_refresh(expect_success=False)

    assert not result.success
    texts = _scanned_texts(pipeline, result, caplog, capfd)
    assert any("while connecting to PostgreSQL host '127.0.0.1" in text for text in texts)
    assert not [text[:200] for text in texts if any(fragment in text for fragment in fragments)]


@pytest.mark.parametrize("case", range(3), ids=["bad-percent", "space", "unescaped-at"])
def test_the_cli_never_shows_a_malformed_password_in_its_traceback(
    case: int, embedded_postgres: EmbeddedPostgres, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, fragments = _malformed_password_urls(embedded_postgres.port, conn.info.dbname)[case]
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(psycopg.Error) as raised:
        cli.main(["legacy", "backups"])

    shown = "".join(traceback.format_exception(raised.value))
    assert "while connecting to PostgreSQL host '127.0.0.1" in shown
    assert not [fragment for fragment in fragments if fragment in shown]
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_the_cli_reports_a_wrong_password_as_an_authentication_failure(
    least_privileged_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, password = least_privileged_url
    wrong = f"Wx7-{secrets.token_hex(12)}-also-unmistakable"
    monkeypatch.setenv("DATABASE_URL", url.replace(quote(password), quote(wrong)))

    with pytest.raises(psycopg.OperationalError, match="password authentication failed") as raised:
        cli.main(["legacy", "backups"])

    assert wrong not in "".join(traceback.format_exception(raised.value))
