"""Two runs started together: writes are serialized by Postgres advisory locks, nothing is corrupted."""

from __future__ import annotations

import threading

import dagster as dg
import psycopg

from restructure_pipeline.sample_data import create_legacy_table, generate_customers, load_customers
from restructure_pipeline_tests.integration.conftest import PipelineRunner


def _snapshot(conn: psycopg.Connection) -> tuple:
    return (
        conn.execute('SELECT * FROM "Company" ORDER BY id').fetchall(),
        conn.execute('SELECT * FROM "Prospect" ORDER BY id').fetchall(),
        conn.execute("SELECT source, source_ref, reason FROM restructure.customer_quarantine ORDER BY 1, 2").fetchall(),
    )


def test_two_full_refreshes_started_together_both_succeed_and_agree(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    create_legacy_table(conn)
    load_customers(conn, generate_customers(2000, seed=9))
    # A second runner: its own Dagster instance (as two deployments or two queued runs would be).
    other = PipelineRunner(database_url=pipeline.database_url, drop_dir=pipeline.drop_dir, opensearch=pipeline.opensearch)
    results: dict[str, dg.ExecuteInProcessResult] = {}
    barrier = threading.Barrier(2)

    def run(name: str, runner: PipelineRunner) -> None:
        barrier.wait()
        results[name] = runner.full_refresh(expect_success=False)

    threads = [threading.Thread(target=run, args=(name, runner)) for name, runner in (("a", pipeline), ("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)

    assert set(results) == {"a", "b"}
    assert all(result.success for result in results.values())
    assert all(check.passed for result in results.values() for check in result.get_asset_check_evaluations())
    settled = _snapshot(conn)
    assert len(settled[1]) + len(settled[2]) == 2000
    # Nothing half-written: one more run changes nothing.
    pipeline.full_refresh()
    assert _snapshot(conn) == settled
    # No work left queued between the steps.
    assert conn.execute("SELECT count(*) FROM restructure.pending_key").fetchone()[0] == 0
