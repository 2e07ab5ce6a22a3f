"""The Dagster UI, proven: ``dagster dev`` (webserver and daemon) on the embedded services.

One ``full_refresh`` is launched through the webserver's GraphQL API exactly as the UI's
launchpad does (the ``legacy`` source registered with ``addDynamicPartition``, the partition
range tags of ``full_refresh_tags``), dequeued and executed by the daemon, and everything the
UI shows afterwards is read back over GraphQL and compared with the database: asset check
executions, row counts, quarantine by reason, timings, the largest companies preview and
the table schemas.

Nothing is skipped: if ``dagster dev`` cannot start, every test here errors with its log tail.
Screenshots of the same setup: ``tools/take_ui_screenshots.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from restructure_pipeline.automation.partitions import FULL_REFRESH, LEGACY_PARTITION, REFRESH_TAG
from restructure_pipeline_tests.integration.dagster_dev import (
    DagsterDev,
    EmbeddedSetup,
    MaterializationEvent,
    dagster_dev,
    embedded_setup,
)

pytestmark = pytest.mark.integration

LEGACY_ROWS = 800
RUN_TIMEOUT_SECONDS = 600

TABLE_ASSETS = ["customer_extract", "companies", "prospects", "company_prospect_view"]
INDEX_ASSETS = ["opensearch_companies", "opensearch_prospects", "opensearch_company_prospect_view"]
EXPECTED_CHECKS = {
    ("customer_extract", "one_current_row_per_identity"),
    ("customer_extract", "legacy_rows_all_staged"),
    ("companies", "company_domains_unique_and_well_formed"),
    ("companies", "no_personal_or_disposable_company"),
    ("companies", "every_company_domain_has_a_company"),
    ("prospects", "reconciliation"),
    ("prospects", "prospect_company_valid"),
    ("company_prospect_view", "view_matches_join"),
    *(
        (index, check)
        for index in INDEX_ASSETS
        for check in ("count_matches_postgres", "alias_on_exactly_one_index", "sample_matches_postgres",
                      "mapping_matches_declared")
    ),
}


@dataclass
class LaunchedRun:
    setup: EmbeddedSetup
    dev: DagsterDev
    run_id: str
    status: str

    def materializations(self) -> dict[str, MaterializationEvent]:
        return self.dev.materializations(self.run_id)

    def query(self, statement: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.setup.environment.database_url) as conn:
            return conn.execute(statement, params).fetchall()


@pytest.fixture(scope="module")
def launched() -> Iterator[LaunchedRun]:
    """Services, ``dagster dev`` and one ``full_refresh`` launched over GraphQL, waited for."""
    with embedded_setup(rows=LEGACY_ROWS) as setup, dagster_dev(setup.environment) as dev:
        run_id = dev.launch_full_refresh()
        status = dev.wait_for_run(run_id, timeout=RUN_TIMEOUT_SECONDS)
        if status != "SUCCESS":
            pytest.fail(f"full_refresh run {run_id} ended {status}:\n{dev.failure_report(run_id)}", pytrace=False)
        yield LaunchedRun(setup, dev, run_id, status)


def _markdown_rows(markdown: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of a Markdown table as the assets write it (``|`` escaped as ``\\|``)."""
    lines = [line.strip() for line in markdown.strip().splitlines()]

    def cells(line: str) -> list[str]:
        return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip("|"))]

    assert len(lines) >= 2 and set(lines[1]) <= set("|-: "), f"not a Markdown table:\n{markdown}"
    return cells(lines[0]), [cells(line) for line in lines[2:]]


def test_full_refresh_launched_over_graphql_succeeds(launched: LaunchedRun) -> None:
    dev = launched.dev
    run = dev.run(launched.run_id)
    assert run["status"] == "SUCCESS"
    assert run["jobName"] == "full_refresh"
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags["dagster/asset_partition_range_start"] == LEGACY_PARTITION
    assert tags["dagster/asset_partition_range_end"] == LEGACY_PARTITION
    assert tags[REFRESH_TAG] == FULL_REFRESH
    # The webserver only queues the run; the daemon's run coordinator dequeued and launched it.
    daemons = dev.daemon_statuses()
    assert daemons["QUEUED_RUN_COORDINATOR"]["healthy"], daemons
    assert run["startTime"] and run["endTime"] and run["endTime"] >= run["startTime"]


def test_every_asset_materialized_with_row_counts_and_timings(launched: LaunchedRun) -> None:
    events = launched.materializations()
    assert sorted(events) == sorted(TABLE_ASSETS + INDEX_ASSETS)
    assert events["customer_extract"].partition == LEGACY_PARTITION

    truth = {
        "customer_extract": launched.query("SELECT count(*) FROM restructure.source_record")[0][0],
        "companies": launched.query('SELECT count(*) FROM "Company"')[0][0],
        "prospects": launched.query('SELECT count(*) FROM "Prospect"')[0][0],
        "company_prospect_view": launched.query("SELECT count(*) FROM company_prospect_view")[0][0],
    }
    truth |= {
        "opensearch_companies": truth["companies"],
        "opensearch_prospects": truth["prospects"],
        "opensearch_company_prospect_view": truth["company_prospect_view"],
    }
    assert truth["customer_extract"] == LEGACY_ROWS
    assert truth["companies"] > 0 and truth["prospects"] > 0
    for asset, event in events.items():
        assert event.metadata.get("dagster/row_count") == truth[asset], (asset, event.metadata)
        duration = event.metadata.get("duration_seconds")
        assert isinstance(duration, float) and 0 <= duration < RUN_TIMEOUT_SECONDS, (asset, duration)
    assert events["customer_extract"].metadata["legacy_customer_rows"] == LEGACY_ROWS
    assert events["customer_extract"].metadata["full_refresh"] is True


def test_prospects_report_quarantine_by_reason(launched: LaunchedRun) -> None:
    metadata = launched.materializations()["prospects"].metadata
    truth = dict(launched.query(
        "SELECT reason, count(*) FROM restructure.customer_quarantine GROUP BY reason ORDER BY reason"
    ))
    assert truth, "the generated legacy table has hard cases: something must be quarantined"

    per_reason = {label.removeprefix("quarantined/"): value for label, value in metadata.items()
                  if label.startswith("quarantined/")}
    assert per_reason == truth
    assert metadata["quarantined"] == sum(truth.values())

    header, rows = _markdown_rows(metadata["quarantine_by_reason"])
    assert header == ["reason", "rows"]
    assert {reason: int(count) for reason, count in rows} == truth
    # Every legacy row is a prospect or quarantined (the legacy table alone supersedes nothing).
    assert metadata["dagster/row_count"] + metadata["quarantined"] == LEGACY_ROWS


def test_companies_show_the_largest_companies(launched: LaunchedRun) -> None:
    metadata = launched.materializations()["companies"].metadata
    header, rows = _markdown_rows(metadata["largest_companies"])
    assert header == ["domain", "name", "industry", "country", "source rows"]
    assert 1 <= len(rows) <= 10
    counts = [int(row[4]) for row in rows]
    assert counts == sorted(counts, reverse=True)
    for domain, name, _industry, _country, source_rows in rows:
        found = launched.query(
            'SELECT c.name, count(s.*) FROM "Company" c JOIN restructure.source_record s '
            "ON s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL "
            "WHERE c.domain = %s GROUP BY c.id",
            domain,
        )
        assert found == [(name or None, int(source_rows))], (domain, found)
    (most,) = launched.query(
        'SELECT max(n) FROM (SELECT count(s.*) AS n FROM "Company" c JOIN restructure.source_record s '
        "ON s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL GROUP BY c.id) x"
    )[0]
    assert counts[0] == most


@pytest.mark.parametrize(
    ("asset", "relation"),
    [("companies", "Company"), ("prospects", "Prospect"), ("company_prospect_view", "company_prospect_view")],
)
def test_table_schema_matches_the_catalog(launched: LaunchedRun, asset: str, relation: str) -> None:
    columns = launched.materializations()[asset].metadata["dagster/column_schema"]
    catalog = launched.query(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        relation,
    )
    assert [(column["name"], column["type"], column["nullable"]) for column in columns] == catalog
    assert catalog, relation


def test_every_asset_check_passed_in_the_run(launched: LaunchedRun) -> None:
    executions = launched.dev.check_executions(launched.run_id)
    assert {(execution.asset, execution.name) for execution in executions} == EXPECTED_CHECKS
    failed = [
        f"{execution.asset}.{execution.name}: {execution.status} {execution.metadata}"
        for execution in executions
        if execution.status != "SUCCEEDED" or execution.passed is not True
    ]
    assert not failed, "\n".join(failed)



def _write_drops(launched: LaunchedRun, keys: list[str], domain: str) -> None:
    for number, key in enumerate(keys):
        (launched.setup.environment.drop_dir / key).write_text(
            f"externalId,email,company\n{key}-{number},person{number}@{domain},Backfill Co\n", encoding="utf-8"
        )
        launched.dev.add_dynamic_partition("customer_sources", key)


def _prospects_at(launched: LaunchedRun, domain: str) -> int:
    with psycopg.connect(launched.setup.environment.database_url) as conn:
        return conn.execute(
            'SELECT count(*) FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" WHERE c.domain = %s',
            (domain,),
        ).fetchone()[0]


def test_ui_backfill_of_two_drops_loads_them_in_one_run(launched: LaunchedRun) -> None:
    """The UI's partition backfill of the pipeline's assets: one run over both drops (single-run policy)."""
    import time

    keys = ["ui_backfill_a.csv", "ui_backfill_b.csv"]
    _write_drops(launched, keys, "ui-backfill.com")
    assets = [{"path": [name]} for name in (*TABLE_ASSETS, *INDEX_ASSETS)]
    answer = launched.dev.graphql(
        _LAUNCH_BACKFILL, {"params": {"partitionNames": keys, "assetSelection": assets, "fromFailure": False}}
    )["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    backfill_id = answer["backfillId"]

    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        backfill = launched.dev.graphql(_BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED",):
            break
        time.sleep(2)
    runs = backfill["runs"]
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    extract_runs = [run for run in runs if any(tag["key"] == "dagster/asset_partition_range_start" for tag in run["tags"])]
    assert len(extract_runs) == 1, runs
    tags = {tag["key"]: tag["value"] for tag in extract_runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == tuple(keys)
    assert _prospects_at(launched, "ui-backfill.com") == 2


def test_cli_materializes_two_drops_in_one_run(launched: LaunchedRun) -> None:
    """From the CLI: ``dagster asset materialize --partition-range`` loads both drops in one run."""
    import os
    import subprocess
    import sys

    environment = launched.setup.environment
    keys = ["cli_backfill_a.csv", "cli_backfill_b.csv"]
    _write_drops(launched, keys, "cli-backfill.com")
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "restructure_pipeline.definitions",
         "--select", "customer_extract*", "--partition-range", "...".join(keys)],
        cwd=environment.dagster_home, env={**os.environ, **environment.variables()},
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert _prospects_at(launched, "cli-backfill.com") == 2


_LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

_BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs(limit: 20) { runId status tags { key value } } }
  }
}
"""
