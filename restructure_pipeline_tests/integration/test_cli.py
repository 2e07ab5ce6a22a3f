"""The README's first command, ``restructure-pipeline demo``, on its own embedded services."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from restructure_pipeline.cli import main
from restructure_pipeline.local_setup import DEMO_DATABASE
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline.services.postgres import EmbeddedPostgres, free_port


@pytest.fixture
def local_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = Path(tempfile.mkdtemp(prefix="restructure-state-"))
    state.chmod(0o755)
    monkeypatch.setenv("RESTRUCTURE_STATE_DIR", str(state))
    monkeypatch.setenv("RESTRUCTURE_PG_PORT", str(free_port()))
    monkeypatch.setenv("RESTRUCTURE_OPENSEARCH_PORT", str(free_port()))
    for name in ("DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "RESTRUCTURE_DROP_DIR", "OPENSEARCH_URL",
                 "OPENSEARCH_INDEX_PREFIX", "OPENSEARCH_REPLICAS"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield state
    finally:
        EmbeddedPostgres.default().stop()
        LocalOpenSearch.default().stop()
        shutil.rmtree(state, ignore_errors=True)


def test_demo_runs_the_whole_graph_and_reports(local_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--rows", "800"]) == 0

    output = capsys.readouterr().out
    assert "Checks:" in output and " 0 failed" in output
    postgres = EmbeddedPostgres.default()
    with psycopg.connect(postgres.url(DEMO_DATABASE)) as conn:
        prospects = conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM restructure.customer_quarantine").fetchone()[0]
        legacy = conn.execute('SELECT count(*) FROM "Customer"').fetchone()[0]
    assert legacy == 800 and prospects > 0 and quarantined > 0
    assert f"Prospects:           {prospects}" in output
    # The runs were recorded in the Postgres-backed Dagster instance under the state folder.
    instance = dg.DagsterInstance.from_config(str(local_state / "dagster_home"))
    jobs = sorted(run.job_name for run in instance.get_runs())
    assert jobs == ["full_refresh", "ingest_drop"]
    assert "Sample search: restructure-pipeline search acme" in output

    assert main(["search", "acme", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["view"]["total"] > 0


def test_services_up_status_down(local_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert main(["services", "up"]) == 0
        up = capsys.readouterr().out
        assert "export DATABASE_URL='postgresql://postgres:***@127.0.0.1:" in up
        assert "export OPENSEARCH_URL='http://127.0.0.1:" in up
        assert main(["services", "status"]) == 0
        status = capsys.readouterr().out
        assert "Postgres: running" in status and "OpenSearch: running" in status
    finally:
        assert main(["services", "down"]) == 0
    assert main(["services", "status"]) == 0
    status = capsys.readouterr().out
    assert "Postgres: stopped" in status and "OpenSearch: stopped" in status
