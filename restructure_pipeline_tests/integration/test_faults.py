"""Faults during a run, against the real embedded Postgres and OpenSearch (issue 6, item 1).

Each test commits a state, changes the input so the next run has real work (legacy rows
added and removed), injects a fault into that run, then checks:

- the committed state is intact: every pipeline table byte for byte (:func:`exact_snapshot`,
  taken before the fault at a moment where the run holds uncommitted writes) and the live
  aliases (same indices, same document counts);
- a rerun converges to a *twin*: a second database and index prefix that ran the same
  input once, without faults, compared with :func:`table_rows` / :func:`index_rows`
  (ids and times that legitimately differ between two databases left out, see digests.py).

Runs that must die are started in their own process (``run_in_subprocess``) and killed
with SIGKILL (the whole process group). Where "in the middle of a write" must be hit
exactly, the test holds a table lock that the run's write transaction needs halfway: the
run blocks *inside* its transaction, after it has written other tables, and the kill (or
the Postgres shutdown) lands there every time, whatever the machine's speed.

One gap found here is reported with ``pytest.xfail`` and its measurement, after every other
assertion (convergence included) has passed, instead of being asserted away: a killed run's
session that is busy in a statement may outlive its client (holding the write lock) until
the statement ends. (An incremental index update killed between two bulk chunks used to
leave the live alias half updated; updates now go to a clone swapped in whole.)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import polars as pl
import psycopg
import pytest

from restructure_pipeline.resources import APPLICATION_NAME, OpenSearchResource
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline.search_index.indices import live_indices
from restructure_pipeline.services.postgres import EmbeddedPostgres, free_port
from restructure_pipeline.store.bulk import WRITE_LOCK_KEY
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.digests import (
    alias_documents,
    alias_state,
    digest_of,
    exact_snapshot,
    index_digest,
    index_rows,
    prospect_stability,
    table_digest,
    table_rows,
)
from restructure_pipeline_tests.integration.fault_proxy import FaultProxy, non_bulk_paths

REPO = Path(__file__).resolve().parents[2]
LOGICAL_NAMES = ("companies", "prospects", "company_prospect_view")
DROP_KEY = "day1.csv"
SECOND_DROP_KEY = "day2.csv"

# Bounds of every wait (seconds).
RUN_START_TIMEOUT = 90  # a subprocess importing Dagster on a busy 2-core machine, then reaching the write
EXIT_TIMEOUT = 60
SESSION_GONE_TIMEOUT = 30
# How long the server may keep a killed run's session that is busy in a statement (see the
# prospects_write case): a dead client is noticed only when the session next talks to it,
# unless client_connection_check_interval is set.
ORPHAN_SESSION_TIMEOUT = 8

# ---------------------------------------------------------------------------------------------
# Inputs: BASE (committed first) and CHANGED (the faulty run's input, and the twin's)
# ---------------------------------------------------------------------------------------------

_SEED = 61
_LEGACY_ROWS = 1000
_ADDED_ROWS = 250
_DROP_ROWS = 60
# Rows added to "Customer" later are newer than anything seen before (as the application
# would write them), including the drop's registration time: a company's birth (its
# earliest row) is kept once set, so an *older* row arriving later would make history matter.
_ADDED_AT = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=1)


@dataclass(frozen=True)
class Inputs:
    base: pl.DataFrame
    changed: pl.DataFrame
    drop: pl.DataFrame
    second_drop: pl.DataFrame  # half updates of legacy people (new titles and places), half new people


@cache
def inputs() -> Inputs:
    base = generate_customers(_LEGACY_ROWS, seed=_SEED, with_truth=True)
    drop = generate_drop(_DROP_ROWS, seed=_SEED + 1, with_truth=True)
    added = generate_customers(_ADDED_ROWS, seed=_SEED, offset=_LEGACY_ROWS, with_truth=True).with_columns(
        createdAt=pl.lit(_ADDED_AT, pl.Datetime("ms")), updatedAt=pl.lit(_ADDED_AT, pl.Datetime("ms"))
    )
    # Companies that also get rows from the drop or the added rows are never retired: a surviving
    # company keeps the birth (createdAt, externalSource) of its first rows even when they are
    # removed later, so a clean run over CHANGED alone would legitimately differ.
    elsewhere = set(drop["_company_domain"].drop_nulls()) | set(added["_company_domain"].drop_nulls())
    legacy_only = base.filter(pl.col("_company_domain").is_not_null() & ~pl.col("_company_domain").is_in(elsewhere))
    sizes = legacy_only.group_by("_company_domain").len().sort("_company_domain")
    # Removed: every row of six small companies (they retire), the newest row of five
    # bigger ones (never a company's earliest row), and fifteen rows that are no company's.
    retired = sizes.filter(pl.col("len") <= 2)["_company_domain"].head(6).to_list()
    thinned = sizes.filter(pl.col("len") >= 3)["_company_domain"].head(5).to_list()
    newest_of_thinned = (
        base.filter(pl.col("_company_domain").is_in(thinned))
        .sort("createdAt", "id")
        .group_by("_company_domain", maintain_order=True)
        .last()["id"]
        .to_list()
    )
    companyless = base.filter(pl.col("_company_domain").is_null()).sort("id")["id"].head(15).to_list()
    removed = set(base.filter(pl.col("_company_domain").is_in(retired))["id"]) | set(newest_of_thinned) | set(companyless)
    kept = base.filter(~pl.col("id").is_in(removed)).drop("_case", "_company_domain")
    assert len(retired) == 6 and len(newest_of_thinned) == 5 and len(removed) > 20
    return Inputs(
        base=base.drop("_case", "_company_domain"),
        changed=pl.concat([kept, added.drop("_case", "_company_domain")]),
        drop=drop.drop("_case", "_company_domain", "_drop_action"),
        second_drop=generate_drop(120, seed=_SEED + 2, existing=base.drop("_case", "_company_domain")),
    )


def load_base(conn: psycopg.Connection, drop_dir: Path) -> None:
    create_legacy_table(conn)
    load_customers(conn, inputs().base)
    write_drop_csv(drop_dir / DROP_KEY, inputs().drop)


def change_input(conn: psycopg.Connection) -> None:
    """Make "Customer" hold CHANGED instead of BASE (rows added and removed), in one transaction."""
    with conn.transaction():
        conn.execute('DELETE FROM "Customer"')
        load_customers(conn, inputs().changed)


# ---------------------------------------------------------------------------------------------
# Twins: an input run once, without faults, in a database and index prefix of its own
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Twin:
    tables: dict[str, list[str]]
    indices: dict[str, list[str]]


#: What each twin ran: its "Customer" rows and its drops, registered in this order.
TWIN_INPUTS: dict[str, Callable[[], tuple[pl.DataFrame, dict[str, pl.DataFrame]]]] = {
    "changed": lambda: (inputs().changed, {DROP_KEY: inputs().drop}),
    "second_drop": lambda: (inputs().base, {DROP_KEY: inputs().drop, SECOND_DROP_KEY: inputs().second_drop}),
}


@pytest.fixture(scope="module")
def twins(
    embedded_postgres: EmbeddedPostgres, opensearch_node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Twin]]:
    """``twins(name)``: the twin of ``TWIN_INPUTS[name]``, built on first use, dropped at the end."""
    built: dict[str, Twin] = {}
    created: list[tuple[str, OpenSearchResource]] = []

    def get(scenario: str) -> Twin:
        if scenario not in built:
            number = len(created) + 1
            name = f"faults_twin_{number}"
            opensearch = OpenSearchResource(
                url=opensearch_node.url, index_prefix=f"faultstwin{number}_", replicas=0, bulk_chunk_docs=500
            )
            created.append((name, opensearch))
            drop_dir = tmp_path_factory.mktemp(f"twin{number}") / "drops"
            drop_dir.mkdir()
            legacy, drops = TWIN_INPUTS[scenario]()
            url = embedded_postgres.ensure_database(name)
            with psycopg.connect(url, autocommit=True) as conn:
                create_legacy_table(conn)
                load_customers(conn, legacy)
                runner = PipelineRunner(database_url=url, drop_dir=drop_dir, opensearch=opensearch)
                for key, frame in drops.items():
                    write_drop_csv(drop_dir / key, frame)
                runner.full_refresh()
                twin = Twin(tables=table_rows(conn), indices=_index_rows(conn, opensearch))
                # The digest helpers agree with the rows (and reading twice gives the same answer).
                assert table_digest(conn) == {table: digest_of(rows) for table, rows in twin.tables.items()}
                stability = prospect_stability(conn)
                assert {
                    logical: index_digest(opensearch.client(), opensearch.index_prefix + logical, stability)
                    for logical in LOGICAL_NAMES
                } == {logical: digest_of(rows) for logical, rows in twin.indices.items()}
            assert all(twin.tables.values()) and all(twin.indices.values()), scenario
            built[scenario] = twin
        return built[scenario]

    try:
        yield get
    finally:
        for name, opensearch in created:
            embedded_postgres.drop_database(name)
            opensearch.client().indices.delete(index=f"{opensearch.index_prefix}*", ignore_unavailable=True)


@pytest.fixture
def twin(twins: Callable[[str], Twin]) -> Twin:
    """The twin of CHANGED (legacy rows added and removed) with the first drop."""
    return twins("changed")


def reconfigured(resource: OpenSearchResource, **changes: Any) -> OpenSearchResource:
    """A copy with other settings. Not ``model_copy(update=...)``: Dagster re-creates a resource
    from the config it was constructed with, so such an update is silently ignored at run time."""
    return OpenSearchResource(**{**resource.model_dump(), **changes})


def _index_rows(conn: psycopg.Connection, opensearch: OpenSearchResource) -> dict[str, list[str]]:
    stability = prospect_stability(conn)
    client = opensearch.client()
    return {logical: index_rows(client, opensearch.index_prefix + logical, stability) for logical in LOGICAL_NAMES}


def _differences(actual: list[str], expected: list[str]) -> str:
    extra = sorted(set(actual) - set(expected))
    missing = sorted(set(expected) - set(actual))
    return (
        f"{len(actual)} rows vs {len(expected)} in the twin; {len(extra)} not in the twin, e.g. {extra[:3]}; "
        f"{len(missing)} missing, e.g. {missing[:3]}"
    )


def assert_converged(conn: psycopg.Connection, opensearch: OpenSearchResource, twin: Twin) -> None:
    """Digests of the tables and of the three aliases equal the twin's; every alias on exactly one
    index; no work left queued. (On a difference, the differing rows are shown.)"""
    tables = table_rows(conn)
    indices = _index_rows(conn, opensearch)
    problems = [
        f"table {name}: {_differences(tables[name], rows)}"
        for name, rows in twin.tables.items()
        if digest_of(tables[name]) != digest_of(rows)
    ]
    problems += [
        f"alias {opensearch.index_prefix}{name}: {_differences(indices[name], rows)}"
        for name, rows in twin.indices.items()
        if digest_of(indices[name]) != digest_of(rows)
    ]
    for alias, (live, _) in alias_state(opensearch.client(), opensearch.index_prefix).items():
        if len(live) != 1:
            problems.append(f"alias {alias} points at {live}")
    queued = conn.execute(
        "SELECT (SELECT count(*) FROM restructure.pending_key) + (SELECT count(*) FROM restructure.pending_domain)"
        " + (SELECT count(*) FROM restructure.pending_everything) + (SELECT count(*) FROM restructure.pending_source)"
    ).fetchone()[0]
    if queued:
        problems.append(f"{queued} identities/domains/sources still queued")
    assert not problems, "not converged to the twin:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Watching Postgres
# ---------------------------------------------------------------------------------------------


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, process: subprocess.Popen | None = None,
             interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` or if ``process`` ends."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run ended (exit code {process.returncode}) before {what}:\n{_output(process)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def poll_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> bool:
    """Whether ``predicate`` became truthy within ``timeout`` (no failure: for observations)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def pipeline_writers(admin: psycopg.Connection, database: str) -> list[dict[str, Any]]:
    """The run's sessions holding the pipeline's write lock (the advisory lock of every write transaction)."""
    rows = admin.execute(
        """
        SELECT a.pid, a.state, a.wait_event_type, a.query, a.xact_start IS NOT NULL AS in_transaction
        FROM pg_stat_activity a
        JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
        WHERE a.datname = %s AND a.application_name = %s
          AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1
        """,
        (database, APPLICATION_NAME, WRITE_LOCK_KEY >> 32, WRITE_LOCK_KEY & 0xFFFFFFFF),
    ).fetchall()
    return [dict(zip(("pid", "state", "wait_event_type", "query", "in_transaction"), row, strict=True)) for row in rows]


def pipeline_sessions(admin: psycopg.Connection, database: str) -> list[tuple]:
    return admin.execute(
        "SELECT pid, state, left(query, 80) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
        (database, APPLICATION_NAME),
    ).fetchall()


def advisory_locks(admin: psycopg.Connection, database: str) -> list[tuple]:
    return admin.execute(
        """
        SELECT l.pid, l.classid, l.objid, l.granted FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE l.locktype = 'advisory' AND d.datname = %s
        """,
        (database,),
    ).fetchall()


def assert_sessions_gone(admin: psycopg.Connection, database_url: str) -> None:
    """The killed run's sessions end, and their advisory locks and temporary tables with them."""
    database = _database_name(database_url)
    wait_for(lambda: not pipeline_sessions(admin, database) and not advisory_locks(admin, database),
             SESSION_GONE_TIMEOUT, "the killed run's sessions and advisory locks to go away")
    with psycopg.connect(database_url, autocommit=True) as conn:
        temp = conn.execute("SELECT relname FROM pg_class WHERE relpersistence = 't'").fetchall()
    assert temp == [], f"temporary tables left behind: {temp}"


@contextlib.contextmanager
def blocking_lock(database_url: str, table: str) -> Iterator[psycopg.Connection]:
    """Hold ``LOCK TABLE <table> IN SHARE MODE``: reads go on, the first write to it waits until released."""
    conn = psycopg.connect(database_url)
    try:
        conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield conn
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        with contextlib.suppress(psycopg.Error):
            conn.close()


def blocked_writer(admin: psycopg.Connection, database: str, table_word: str) -> dict[str, Any] | None:
    """The run's write transaction, waiting on a lock while writing ``table_word``."""
    for writer in pipeline_writers(admin, database):
        if writer["wait_event_type"] == "Lock" and table_word in writer["query"]:
            return writer
    return None


# ---------------------------------------------------------------------------------------------
# The run in a subprocess
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def run_process(database_url: str, drop_dir: Path, opensearch_url: str, prefix: str, work: Path,
                bulk_chunk_docs: int = 500, job: str = "full_refresh", partition: str | None = None,
                niceness: int = 0) -> Iterator[subprocess.Popen]:
    """``full_refresh`` (or ``ingest_drop``) in its own process group; killed (the whole group) on the way out if still running."""
    work.mkdir(parents=True, exist_ok=True)
    stdout, stderr = (work / "run.out").open("w"), (work / "run.err").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "restructure_pipeline_tests.integration.run_in_subprocess",
         "--drop-dir", str(drop_dir), "--opensearch-url", opensearch_url, "--index-prefix", prefix,
         "--dagster-home", str(work / "dagster_home"), "--bulk-chunk-docs", str(bulk_chunk_docs),
         "--job", job, *(["--partition", partition] if partition else []), "--nice", str(niceness)],
        cwd=REPO, env={**os.environ, "DATABASE_URL": database_url}, stdout=stdout, stderr=stderr,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    process.work = work  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            kill(process)
        stdout.close()
        stderr.close()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=EXIT_TIMEOUT)


def _output(process: subprocess.Popen) -> str:
    work: Path = process.work  # type: ignore[attr-defined]
    out = (work / "run.out").read_text(errors="replace") if (work / "run.out").exists() else ""
    err = (work / "run.err").read_text(errors="replace") if (work / "run.err").exists() else ""
    return f"--- stdout ---\n{out[-4000:]}\n--- stderr (tail) ---\n{err[-4000:]}"


def run_report(process: subprocess.Popen) -> dict[str, Any]:
    work: Path = process.work  # type: ignore[attr-defined]
    for line in reversed((work / "run.out").read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    pytest.fail(f"the run printed no report:\n{_output(process)}")


# ---------------------------------------------------------------------------------------------
# 1. SIGKILL in the middle of a Postgres write
# ---------------------------------------------------------------------------------------------


def _committed_then_changed(conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path) -> dict:
    load_base(conn, drop_dir)
    pipeline.full_refresh()
    change_input(conn)
    return alias_state(pipeline.opensearch.client(), pipeline.opensearch.index_prefix)


@pytest.mark.parametrize("where", ["staging_copy", "prospects_write"])
def test_kill_during_a_postgres_write_keeps_the_committed_state_and_a_rerun_converges(
    where: str, embedded_postgres: EmbeddedPostgres, database_url: str, conn: psycopg.Connection,
    pipeline: PipelineRunner, drop_dir: Path, tmp_path: Path, twin: Twin,
) -> None:
    aliases_before = _committed_then_changed(conn, pipeline, drop_dir)
    committed_before_run = exact_snapshot(conn)
    database = _database_name(database_url)
    opensearch = pipeline.opensearch
    with psycopg.connect(embedded_postgres.url(), autocommit=True) as admin:
        if where == "staging_copy":
            # The staging transaction has copied the legacy rows into "incoming", diffed and upserted them
            # when it queues everything: hold the queue table so it waits right there, then kill it.
            with blocking_lock(database_url, "restructure.pending_everything"), \
                    run_process(database_url, drop_dir, opensearch.url, opensearch.index_prefix, tmp_path / "run") as run:
                writer = wait_for(lambda: blocked_writer(admin, database, "pending_everything"), RUN_START_TIMEOUT,
                                  "the staging transaction to block while queueing", run)
                kill(run)
            committed = committed_before_run  # the staging is the run's first write: nothing of it was committed
        else:
            # The prospect step's transaction has deleted and upserted prospects, retired companies and
            # filled the outbox when it reaches the quarantine: hold that table so it waits right there.
            with blocking_lock(database_url, "restructure.customer_quarantine") as lock, \
                    run_process(database_url, drop_dir, opensearch.url, opensearch.index_prefix, tmp_path / "run") as run:
                writer = wait_for(lambda: blocked_writer(admin, database, "customer_quarantine"),
                                  RUN_START_TIMEOUT, "the prospect step to block inside its transaction", run)
                committed = exact_snapshot(conn)  # what the run has committed so far (staging, companies)
                kill(run)
                # Does the server drop the dead client's session while its statement still waits?
                dropped_while_busy = poll_until(lambda: not pipeline_sessions(admin, database), ORPHAN_SESSION_TIMEOUT)
                lock.rollback()  # else the session finishes its statement, finds its client gone, rolls back
            assert committed["restructure.source_record"] != committed_before_run["restructure.source_record"]
            assert committed['"Company"'] != committed_before_run['"Company"']
        assert run.returncode == -signal.SIGKILL, _output(run)
        assert_sessions_gone(admin, database_url)

    assert exact_snapshot(conn) == committed, f"the killed transaction ({writer['query'][:60]!r}) left changes"
    assert committed['"Prospect"'] == committed_before_run['"Prospect"']
    assert alias_state(opensearch.client(), opensearch.index_prefix) == aliases_before

    pipeline.full_refresh()
    assert_converged(conn, opensearch, twin)
    if where == "prospects_write" and not dropped_while_busy:
        pytest.xfail(
            f"the killed run's session (pid {writer['pid']}) outlived its client by more than "
            f"{ORPHAN_SESSION_TIMEOUT} s, holding its open transaction and the pipeline's write lock, "
            "until its waiting statement ended: nothing is lost, but the next run waits for it"
        )


# ---------------------------------------------------------------------------------------------
# 2. SIGKILL in the middle of an OpenSearch bulk load
# ---------------------------------------------------------------------------------------------


class GateProxy:
    """A 127.0.0.1 proxy in front of the node that lets the first ``pass_bulks`` bulk requests through
    and holds the next one (the run waits on it, mid-load) until :meth:`release`; then forwards it."""

    def __init__(self, upstream_url: str, *, pass_bulks: int) -> None:
        target = urlsplit(upstream_url)
        self.upstream = (target.hostname, target.port)
        self.pass_bulks = pass_bulks
        self.bulks_seen = 0
        self.holding = threading.Event()
        self.forwarded = threading.Event()  # the held request has been passed on after release
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                hold = False
                if self.path.split("?")[0].endswith("/_bulk"):
                    with proxy._lock:
                        proxy.bulks_seen += 1
                        hold = proxy.bulks_seen == proxy.pass_bulks + 1
                    if hold:
                        proxy.holding.set()
                        proxy._released.wait(EXIT_TIMEOUT * 2)
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                    if hold:
                        proxy.forwarded.set()
                with contextlib.suppress(OSError):  # the client may be dead by now
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        return Handler


class AliasWatcher:
    """Records every index the three aliases of ``prefix`` point at, polling until stopped."""

    def __init__(self, opensearch: OpenSearchResource) -> None:
        self.client = opensearch.client()
        self.aliases = [opensearch.index_prefix + logical for logical in LOGICAL_NAMES]
        self.served: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a poll failing is no evidence either way
                for alias in self.aliases:
                    self.served.update(live_indices(self.client, alias))
                self.polls += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _indexing_total(client, index: str) -> int:
    stats = client.indices.stats(index=index, metric="indexing")
    return stats["indices"][index]["primaries"]["indexing"]["index_total"]


@pytest.mark.parametrize("rerun", ["full_refresh", "ingest_drop"])
def test_kill_during_an_opensearch_rebuild_keeps_the_live_aliases_and_a_rerun_converges(
    rerun: str, embedded_postgres: EmbeddedPostgres, database_url: str, conn: psycopg.Connection,
    pipeline: PipelineRunner, drop_dir: Path, tmp_path: Path, twin: Twin,
) -> None:
    """Killed while loading a new version: the aliases keep serving the old ones; the next index step,
    a rebuild or an incremental update, deletes the partial version and converges."""
    aliases_before = _committed_then_changed(conn, pipeline, drop_dir)
    opensearch = pipeline.opensearch
    client = opensearch.client()
    known = set(client.indices.get(index=f"{opensearch.index_prefix}*").keys())

    def partial_new_index() -> str | None:
        new = sorted(set(client.indices.get(index=f"{opensearch.index_prefix}*").keys()) - known)
        return next((name for name in new if _indexing_total(client, name) > 0), None)

    # Chunks of 100 documents: the first alias rebuilt loads in several; its second chunk is held in flight.
    with AliasWatcher(opensearch) as watcher:
        with GateProxy(opensearch.url, pass_bulks=1) as gate, \
                run_process(database_url, drop_dir, gate.url, opensearch.index_prefix, tmp_path / "run",
                            bulk_chunk_docs=100) as run:
            wait_for(gate.holding.is_set, RUN_START_TIMEOUT, "the run's second bulk request", run)
            orphan = wait_for(partial_new_index, 10, "a new, partly loaded index")
            assert alias_state(client, opensearch.index_prefix) == aliases_before  # still on the old indices
            kill(run)
            gate.release()  # the request in flight reaches the node anyway, as it would have
            assert gate.forwarded.wait(EXIT_TIMEOUT)
        assert run.returncode == -signal.SIGKILL, _output(run)
        client.indices.refresh(index=orphan)
        loaded = client.count(index=orphan)["count"]
        assert 0 < loaded < twin_count(twin, orphan, opensearch.index_prefix)

        with psycopg.connect(embedded_postgres.url(), autocommit=True) as admin:
            assert_sessions_gone(admin, database_url)
        # The live aliases serve what they served; Postgres holds every step the run committed (all
        # table steps come before indexing), which is already the twin's state.
        assert alias_state(client, opensearch.index_prefix) == aliases_before
        _assert_tables_equal_twin(conn, twin)

        result = pipeline.full_refresh() if rerun == "full_refresh" else pipeline.ingest_drop(DROP_KEY)
        assert_converged(conn, opensearch, twin)
    assert watcher.polls > 10
    assert orphan not in watcher.served, f"an alias served the partial index {orphan}"
    metadata = {name: result.asset_materializations_for_node(f"opensearch_{name}")[0].metadata for name in LOGICAL_NAMES}
    expected_mode = "rebuild" if rerun == "full_refresh" else "incremental"
    assert {name: values["mode"].value for name, values in metadata.items()} == dict.fromkeys(LOGICAL_NAMES, expected_mode)
    orphans_deleted = {name: str(values["orphaned_indices_deleted"].value) for name, values in metadata.items()}
    assert orphan in orphans_deleted.values(), f"the partial index {orphan} ({loaded} documents) was not deleted"
    assert orphan not in client.indices.get(index=f"{opensearch.index_prefix}*")


def twin_count(twin: Twin, index: str, prefix: str) -> int:
    logical = next(name for name in sorted(LOGICAL_NAMES, key=len, reverse=True) if index.startswith(prefix + name + "-"))
    return len(twin.indices[logical])


def _assert_tables_equal_twin(conn: psycopg.Connection, twin: Twin) -> None:
    tables = table_rows(conn)
    differing = {
        name: _differences(tables[name], rows)
        for name, rows in twin.tables.items()
        if digest_of(tables[name]) != digest_of(rows)
    }
    assert not differing, differing


def test_kill_during_an_incremental_index_update_leaves_the_aliases_untouched_and_a_rerun_converges(
    embedded_postgres: EmbeddedPostgres, database_url: str, conn: psycopg.Connection, pipeline: PipelineRunner,
    drop_dir: Path, tmp_path: Path, twins: Callable[[str], Twin],
) -> None:
    """ingest_drop writes the changes to a clone of each live index and swaps the alias to it only
    when complete: killed between two bulk chunks, every alias still shows exactly its old documents."""
    load_base(conn, drop_dir)
    pipeline.full_refresh()
    opensearch = pipeline.opensearch
    client = opensearch.client()
    aliases_before = alias_state(client, opensearch.index_prefix)
    documents_before = {name: alias_documents(client, opensearch.index_prefix + name) for name in LOGICAL_NAMES}
    known = set(client.indices.get(index=f"{opensearch.index_prefix}*").keys())
    write_drop_csv(drop_dir / SECOND_DROP_KEY, inputs().second_drop)

    # Chunks of 5 documents: the first alias updated needs several; its second chunk is held in flight.
    with GateProxy(opensearch.url, pass_bulks=1) as gate, \
            run_process(database_url, drop_dir, gate.url, opensearch.index_prefix, tmp_path / "run",
                        bulk_chunk_docs=5, job="ingest_drop", partition=SECOND_DROP_KEY) as run:
        wait_for(gate.holding.is_set, RUN_START_TIMEOUT, "the run's second bulk request", run)
        kill(run)
        gate.release()
        assert gate.forwarded.wait(EXIT_TIMEOUT)
    assert run.returncode == -signal.SIGKILL, _output(run)
    with psycopg.connect(embedded_postgres.url(), autocommit=True) as admin:
        assert_sessions_gone(admin, database_url)
    twin = twins("second_drop")
    _assert_tables_equal_twin(conn, twin)  # every table step committed before the indexing

    # Readers see the old state, whole: same indices, same documents, field for field.
    assert alias_state(client, opensearch.index_prefix) == aliases_before
    for name in LOGICAL_NAMES:
        assert alias_documents(client, opensearch.index_prefix + name) == documents_before[name], name
    # The half-updated clone is left behind, serving no one.
    (orphan,) = sorted(set(client.indices.get(index=f"{opensearch.index_prefix}*").keys()) - known)
    client.indices.refresh(index=orphan)
    assert client.count(index=orphan)["count"] > 0
    orphan_of = next(
        name for name in sorted(LOGICAL_NAMES, key=len, reverse=True) if orphan.startswith(f"{opensearch.index_prefix}{name}-")
    )

    result = pipeline.ingest_drop(SECOND_DROP_KEY)
    assert_converged(conn, opensearch, twin)

    deleted = {
        name: str(result.asset_materializations_for_node(f"opensearch_{name}")[0].metadata["orphaned_indices_deleted"].value)
        for name in LOGICAL_NAMES
    }
    assert deleted == {name: orphan if name == orphan_of else "none" for name in LOGICAL_NAMES}
    assert orphan not in client.indices.get(index=f"{opensearch.index_prefix}*")
    # Every alias moved to a new version in one swap; the version it served before is kept for rollback.
    for alias, (live, _) in alias_state(client, opensearch.index_prefix).items():
        (before,) = aliases_before[alias][0]
        versions = sorted(client.indices.get(index=f"{alias}-*"))
        assert live != [before] and versions == [before, *live], (alias, versions)


# ---------------------------------------------------------------------------------------------
# 3. Postgres restarted during a run
# ---------------------------------------------------------------------------------------------


def test_postgres_restart_during_a_write_fails_the_run_clearly_and_a_rerun_converges(
    embedded_postgres: EmbeddedPostgres, database_url: str, pipeline: PipelineRunner, drop_dir: Path,
    tmp_path: Path, twin: Twin,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        aliases_before = _committed_then_changed(conn, pipeline, drop_dir)
    database = _database_name(database_url)
    opensearch = pipeline.opensearch
    stopped_at = None
    try:
        # The company step's transaction has merged every domain into its temp table when it
        # writes "Company": hold that table so the run waits there, then stop the server.
        with psycopg.connect(embedded_postgres.url(), autocommit=True) as admin, \
                blocking_lock(database_url, '"Company"'), \
                run_process(database_url, drop_dir, opensearch.url, opensearch.index_prefix, tmp_path / "run") as run:
            wait_for(lambda: blocked_writer(admin, database, '"Company"'), RUN_START_TIMEOUT,
                     "the company step to block inside its transaction", run)
            with psycopg.connect(database_url, autocommit=True) as reader:
                committed = exact_snapshot(reader)
            stopped_at = time.monotonic()
            embedded_postgres.stop()  # fast shutdown: open transactions are rolled back
            run.wait(timeout=EXIT_TIMEOUT)
    finally:
        embedded_postgres.start()  # the session's server runs again, whatever happened
    assert stopped_at is not None
    assert run.returncode == 1, _output(run)
    report = run_report(run)
    assert not report["success"]
    failure = "\n".join(report["failures"])
    assert failure.startswith("companies:"), failure
    assert "terminating connection due to administrator command" in failure, failure

    with psycopg.connect(database_url, autocommit=True) as conn:
        assert exact_snapshot(conn) == committed
        assert alias_state(opensearch.client(), opensearch.index_prefix) == aliases_before
        pipeline.full_refresh()
        assert_converged(conn, opensearch, twin)


# ---------------------------------------------------------------------------------------------
# 4. OpenSearch unreachable
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rerun", ["full_refresh", "ingest_drop"])
def test_unreachable_opensearch_fails_only_the_index_steps_and_a_rerun_catches_up(
    rerun: str, conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, twin: Twin,
) -> None:
    aliases_before = _committed_then_changed(conn, pipeline, drop_dir)
    reachable = pipeline.opensearch
    closed_port = free_port()  # nothing listens there
    # Requests are retried with backoff (6 attempts by default); shorter waits keep the test quick.
    pipeline.opensearch = reconfigured(
        reachable, url=f"http://127.0.0.1:{closed_port}", request_initial_backoff_seconds=0.05,
        request_max_backoff_seconds=0.2,
    )

    result = pipeline.full_refresh(expect_success=False)

    assert not result.success
    for node in ("customer_extract", "companies", "prospects", "company_prospect_view"):
        assert result.asset_materializations_for_node(node), f"{node} did not commit"
    failures = {
        event.step_key: event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    }
    assert set(failures) == {f"opensearch_{name}" for name in LOGICAL_NAMES}
    for step, error in failures.items():
        assert "opensearchpy.exceptions.ConnectionError" in error, (step, error)
        assert f"port={closed_port}): Failed to establish a new connection: [Errno 111] Connection refused" in error
        assert "gave up after 6 attempts" in error, error
    # Postgres holds the new state; the aliases still serve the previous one, untouched.
    _assert_tables_equal_twin(conn, twin)
    assert alias_state(reachable.client(), reachable.index_prefix) == aliases_before

    pipeline.opensearch = reachable
    if rerun == "full_refresh":
        result = pipeline.full_refresh()
        modes = {"rebuild"}
    else:  # the next drop run: the index steps apply the outbox the failed run left
        result = pipeline.ingest_drop(DROP_KEY)
        modes = {"incremental"}
    assert {
        result.asset_materializations_for_node(f"opensearch_{name}")[0].metadata["mode"].value for name in LOGICAL_NAMES
    } == modes
    assert_converged(conn, reachable, twin)


# ---------------------------------------------------------------------------------------------
# 5. OpenSearch answering 429 / 503 for a while
# ---------------------------------------------------------------------------------------------


def test_opensearch_answering_503_to_every_other_request_for_a_few_seconds_is_retried_and_converges(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch_node, twin: Twin,
) -> None:
    """Alias lookups, index creation, settings, refresh, count, alias swaps: all ride out a short outage
    with the shipped retry policy (6 attempts, backoff from 0.5 s doubling, at most 15.5 s in all)."""
    create_legacy_table(conn)
    load_customers(conn, inputs().changed)
    write_drop_csv(drop_dir / DROP_KEY, inputs().drop)
    direct = pipeline.opensearch
    with FaultProxy(opensearch_node.url, status=503, fail_for_seconds=3.0, paths=non_bulk_paths) as proxy:
        pipeline.opensearch = reconfigured(direct, url=proxy.url)
        result = pipeline.full_refresh()
    pipeline.opensearch = direct

    assert proxy.faults_injected >= 3 and proxy.outage_ended is not None
    assert proxy.outage_ended - proxy.outage_started >= 3.0
    retries = {
        name: result.asset_materializations_for_node(f"opensearch_{name}")[0].metadata["request_retries"].value
        for name in LOGICAL_NAMES
    }
    assert sum(retries.values()) == proxy.faults_injected, (retries, proxy.failed_requests)
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert_converged(conn, direct, twin)



@pytest.mark.parametrize("status", [429, 503])
def test_opensearch_rejecting_bulk_requests_for_a_while_is_retried_and_converges(
    status: int, conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch_node, twin: Twin,
) -> None:
    create_legacy_table(conn)
    load_customers(conn, inputs().changed)
    write_drop_csv(drop_dir / DROP_KEY, inputs().drop)
    direct = pipeline.opensearch
    with FaultProxy(opensearch_node.url, status=status, fail_times=3) as proxy:
        pipeline.opensearch = reconfigured(
            direct, url=proxy.url, bulk_initial_backoff_seconds=0.05, bulk_max_backoff_seconds=0.2
        )
        result = pipeline.full_refresh()
    pipeline.opensearch = direct

    assert proxy.faults_injected == 3
    retries = {
        name: result.asset_materializations_for_node(f"opensearch_{name}")[0].metadata["bulk_retries"].value
        for name in LOGICAL_NAMES
    }
    assert sum(retries.values()) == 3, retries
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert_converged(conn, direct, twin)

