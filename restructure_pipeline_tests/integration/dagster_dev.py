"""``dagster dev`` (webserver and daemon) on isolated embedded services, driven over GraphQL.

Shared by the UI integration test and ``tools/take_ui_screenshots.py``:

- :func:`embedded_setup` starts a Postgres and an OpenSearch of their own (fresh state folder,
  free ports, exactly what ``restructure-pipeline ui`` prepares) and loads a small generated
  legacy ``"Customer"`` table into the demo database;
- :func:`dagster_dev` runs ``dagster dev -w workspace.yaml`` on that setup, waits until the
  webserver answers and the code location is loaded, and always stops the whole process group;
- :class:`DagsterDev` launches runs through the official ``DagsterGraphQLClient`` and reads
  runs, materializations and asset check executions with plain GraphQL queries.

Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from dagster_graphql import DagsterGraphQLClient

from restructure_pipeline.automation.launch import full_refresh_tags
from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, LEGACY_PARTITION
from restructure_pipeline.local_setup import LocalEnvironment, prepare_local_environment
from restructure_pipeline.sample_data import create_legacy_table, generate_customers, load_customers
from restructure_pipeline.services.opensearch import PORT_ENV as OPENSEARCH_PORT_ENV
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline.services.postgres import PORT_ENV as PG_PORT_ENV
from restructure_pipeline.services.postgres import EmbeddedPostgres, free_port
from restructure_pipeline.settings import PROJECT_ROOT, STATE_DIR_ENV

HOST = "127.0.0.1"
LOCATION_NAME = "restructure_pipeline"  # workspace.yaml
REPOSITORY_NAME = "__repository__"  # the implicit repository of a Definitions object
TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}

# Variables of an outer shell that would point the isolated setup elsewhere.
_OUTER_VARIABLES = (
    "DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL", "RESTRUCTURE_DROP_DIR", "OPENSEARCH_URL",
    "OPENSEARCH_USER", "OPENSEARCH_PASSWORD", "OPENSEARCH_INDEX_PREFIX", "OPENSEARCH_REPLICAS",
)


class DagsterDevError(RuntimeError):
    """``dagster dev`` did not start, or the API answered with an error; the message has the log tail."""


# ------------------------------------------------------------------------ embedded services


@dataclass
class EmbeddedSetup:
    environment: LocalEnvironment
    state_dir: Path
    legacy_rows: int


@contextlib.contextmanager
def embedded_setup(rows: int = 800, seed: int = 42, *, keep_state: bool = False) -> Iterator[EmbeddedSetup]:
    """Embedded Postgres and OpenSearch in a fresh state folder on free ports, with ``rows`` legacy customers.

    ``os.environ`` is restored and both services are stopped on exit, whatever happens.
    """
    # Not pytest's tmp_path: the services run as unprivileged accounts when we are root, and
    # pytest makes its folders 0700.
    state = Path(tempfile.mkdtemp(prefix="restructure-ui-"))
    state.chmod(0o755)
    saved = dict(os.environ)
    for name in _OUTER_VARIABLES:
        os.environ.pop(name, None)
    os.environ[STATE_DIR_ENV] = str(state)
    os.environ[PG_PORT_ENV] = str(free_port())
    os.environ[OPENSEARCH_PORT_ENV] = str(free_port())
    postgres = EmbeddedPostgres.default()
    opensearch = LocalOpenSearch.default()
    try:
        environment = prepare_local_environment(postgres, opensearch, reset_demo_database=True)
        with psycopg.connect(environment.database_url, autocommit=True) as conn:
            create_legacy_table(conn)
            load_customers(conn, generate_customers(rows, seed=seed))
        yield EmbeddedSetup(environment=environment, state_dir=state, legacy_rows=rows)
    finally:
        try:
            postgres.stop()
        finally:
            try:
                opensearch.stop()
            finally:
                os.environ.clear()
                os.environ.update(saved)
                if not keep_state:
                    shutil.rmtree(state, ignore_errors=True)


# ------------------------------------------------------------------------ dagster dev


@dataclass
class MaterializationEvent:
    asset: str
    partition: str | None
    metadata: dict[str, Any]


@dataclass
class CheckExecution:
    asset: str
    name: str
    status: str
    passed: bool | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DagsterDev:
    """A running ``dagster dev``: its URL, its log, and GraphQL helpers."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(HOST, port_number=self.port, timeout=120)

    @contextlib.contextmanager
    def _official_client(self) -> Iterator[DagsterGraphQLClient]:
        # dagster-graphql 1.13 still calls gql 4's deprecated execute(variable_values=...).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using variable_values", category=DeprecationWarning)
            yield self.client()

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, *, timeout: float = 120
    ) -> dict[str, Any]:
        """POST one query to ``/graphql``; returns ``data``, raises :class:`DagsterDevError` on ``errors``."""
        response = requests.post(
            f"{self.base_url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=timeout
        )
        try:
            body = response.json()
        except ValueError:
            raise DagsterDevError(f"GraphQL answered HTTP {response.status_code}: {response.text[:500]}") from None
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {json.dumps(body['errors'], indent=2)[:4000]}")
        return body["data"]

    # ------------------------------------------------------------- workspace and daemon

    def location_status(self) -> tuple[str | None, str | None]:
        """(load status, load error message) of the project's code location."""
        data = self.graphql(_WORKSPACE_QUERY)
        workspace = data["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            return None, workspace.get("message")
        for entry in workspace["locationEntries"]:
            if entry["name"] == LOCATION_NAME:
                location = entry["locationOrLoadError"] or {}
                error = location.get("message") if location.get("__typename") == "PythonError" else None
                return entry["loadStatus"], error
        return None, None

    def daemon_statuses(self) -> dict[str, dict[str, Any]]:
        data = self.graphql(_DAEMON_HEALTH_QUERY)
        return {status["daemonType"]: status for status in data["instance"]["daemonHealth"]["allDaemonStatuses"]}

    # ------------------------------------------------------------- partitions and runs

    def add_dynamic_partition(self, partitions_def: str, key: str) -> None:
        """Register ``key`` (an existing key is fine), as the UI's partition ``+`` button does."""
        data = self.graphql(
            _ADD_DYNAMIC_PARTITION_MUTATION,
            {
                "repositorySelector": {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME},
                "partitionsDefName": partitions_def,
                "partitionKey": key,
            },
        )
        result = data["addDynamicPartition"]
        if result["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise DagsterDevError(f"addDynamicPartition({key!r}): {result['__typename']}: {result.get('message')}")

    def launch_full_refresh(self, run_config: Mapping[str, Any] | None = None) -> str:
        """Register the ``legacy`` source and launch ``full_refresh`` over it (the launchpad's
        default executor unless ``run_config`` says otherwise); returns the run id."""
        self.add_dynamic_partition(CUSTOMER_SOURCES.name, LEGACY_PARTITION)
        with self._official_client() as client:
            return client.submit_job_execution(
                "full_refresh",
                repository_location_name=LOCATION_NAME,
                repository_name=REPOSITORY_NAME,
                run_config=run_config or {},
                tags=full_refresh_tags([LEGACY_PARTITION]),
            )

    def run(self, run_id: str) -> dict[str, Any]:
        data = self.graphql(_RUN_QUERY, {"runId": run_id})
        run = data["runOrError"]
        if run["__typename"] != "Run":
            raise DagsterDevError(f"runOrError({run_id}): {run['__typename']}: {run.get('message')}")
        return run

    def wait_for_run(self, run_id: str, timeout: float = 600, poll: float = 2.0) -> str:
        """Poll until the run is SUCCESS, FAILURE or CANCELED; raises after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            with self._official_client() as client:
                status = client.get_run_status(run_id).value
            if status in TERMINAL_RUN_STATUSES:
                return status
            if self.process.poll() is not None:
                raise DagsterDevError(
                    f"dagster dev exited (code {self.process.returncode}) while run {run_id} was {status}:\n"
                    + self.log_tail()
                )
            time.sleep(poll)
        daemons = {name: status["healthy"] for name, status in self.daemon_statuses().items()}
        raise DagsterDevError(
            f"run {run_id} still {status} after {timeout:.0f} s (daemon health: {daemons}):\n{self.log_tail()}"
        )

    def failure_report(self, run_id: str) -> str:
        """Step failures and the run's own failure message, for an assertion message."""
        lines = []
        cursor = None
        while True:
            data = self.graphql(_RUN_FAILURES_QUERY, {"runId": run_id, "cursor": cursor})
            connection = data["logsForRun"]
            if connection["__typename"] != "EventConnection":
                return f"{connection['__typename']}: {connection.get('message')}"
            for event in connection["events"]:
                if event.get("error"):
                    lines.append(f"{event['__typename']} {event.get('stepKey') or ''}: {event['error']['message']}")
                elif event["__typename"] == "RunFailureEvent":
                    lines.append(f"RunFailureEvent: {event['message']}")
            if not connection["hasMore"]:
                break
            cursor = connection["cursor"]
        return "\n".join(lines) or "(no failure events)"

    def materializations(self, run_id: str) -> dict[str, MaterializationEvent]:
        """The run's materializations by asset (``a/b`` for multi-part keys), metadata decoded to Python."""
        events = self.run(run_id)["assetMaterializations"]
        return {
            "/".join(event["assetKey"]["path"]): MaterializationEvent(
                asset="/".join(event["assetKey"]["path"]),
                partition=event["partition"],
                metadata=decode_metadata(event["metadataEntries"]),
            )
            for event in events
        }

    def check_executions(self, run_id: str) -> list[CheckExecution]:
        """Every asset check the run planned, with its execution in this run (status ``MISSING`` if none)."""
        handles = self.run(run_id)["assetChecks"] or []
        if not handles:
            return []
        # One request: an aliased assetCheckExecutions field per check (the Checks tab's query).
        fields = []
        for number, handle in enumerate(handles):
            fields.append(
                f"c{number}: assetCheckExecutions(assetKey: {{path: {json.dumps(handle['assetKey']['path'])}}}, "
                f"checkName: {json.dumps(handle['name'])}, limit: 10) {{ ...Execution }}"
            )
        data = self.graphql("query Checks {\n" + "\n".join(fields) + "\n}\n" + _CHECK_EXECUTION_FRAGMENT)
        outcomes = []
        for number, handle in enumerate(handles):
            asset = "/".join(handle["assetKey"]["path"])
            mine = [execution for execution in data[f"c{number}"] if execution["runId"] == run_id]
            if not mine:
                outcomes.append(CheckExecution(asset, handle["name"], "MISSING", None))
                continue
            execution = mine[0]
            evaluation = execution["evaluation"] or {}
            outcomes.append(
                CheckExecution(
                    asset=asset,
                    name=handle["name"],
                    status=execution["status"],
                    passed=evaluation.get("success"),
                    metadata=decode_metadata(evaluation.get("metadataEntries") or []),
                )
            )
        return outcomes


def decode_metadata(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """GraphQL metadata entries -> {label: Python value}; a table schema becomes a list of column dicts."""
    decoded: dict[str, Any] = {}
    for entry in entries:
        kind = entry["__typename"]
        if kind == "IntMetadataEntry":
            value: Any = entry["intValue"] if entry["intValue"] is not None else int(entry["intRepr"])
        elif kind == "FloatMetadataEntry":
            value = entry["floatValue"]
        elif kind == "BoolMetadataEntry":
            value = entry["boolValue"]
        elif kind == "TextMetadataEntry":
            value = entry["text"]
        elif kind == "MarkdownMetadataEntry":
            value = entry["mdStr"]
        elif kind == "JsonMetadataEntry":
            value = json.loads(entry["jsonString"])
        elif kind == "TableSchemaMetadataEntry":
            value = [
                {"name": column["name"], "type": column["type"], "nullable": column["constraints"]["nullable"]}
                for column in entry["schema"]["columns"]
            ]
        else:
            value = kind
        decoded[entry["label"]] = value
    return decoded


@contextlib.contextmanager
def dagster_dev(
    environment: LocalEnvironment, *, port: int | None = None, startup_timeout: float = 240
) -> Iterator[DagsterDev]:
    """Run ``dagster dev -w workspace.yaml -h 127.0.0.1 -p <port>`` on ``environment`` until the block ends.

    Ready means: ``/server_info`` answers and the code location is LOADED. Raises
    :class:`DagsterDevError` (with the log tail) when it exits or is not ready in time. On exit,
    the process gets Ctrl-C (its clean shutdown of webserver, daemon and code server), then its
    process group is killed if anything is left after 30 s.
    """
    port = port or free_port()
    log_file = environment.dagster_home / "dagster-dev.log"
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", HOST, "-p", str(port),
    ]
    env = {**os.environ, **environment.variables(), "DAGSTER_DISABLE_TELEMETRY": "1"}
    with open(log_file, "wb") as log:
        # Its own session: one process group for dagster dev and everything it spawns.
        process = subprocess.Popen(
            command, cwd=environment.dagster_home, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    dev = DagsterDev(base_url=f"http://{HOST}:{port}", process=process, log_file=log_file)
    try:
        _wait_until_ready(dev, startup_timeout)
        yield dev
    finally:
        _stop(process)


def _wait_until_ready(dev: DagsterDev, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if dev.process.poll() is not None:
            raise DagsterDevError(
                f"dagster dev exited with code {dev.process.returncode} before it was ready:\n{dev.log_tail()}"
            )
        try:
            if requests.get(f"{dev.base_url}/server_info", timeout=5).status_code == 200:
                status, error = dev.location_status()
                if error:
                    raise DagsterDevError(f"code location {LOCATION_NAME!r} failed to load:\n{error}")
                if status == "LOADED":
                    return
                last_problem = f"code location {LOCATION_NAME!r} is {status}"
        except requests.RequestException as problem:
            last_problem = f"{type(problem).__name__}: {problem}"
        time.sleep(1)
    raise DagsterDevError(
        f"dagster dev was not ready on {dev.base_url} after {timeout:.0f} s ({last_problem}):\n{dev.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    group = process.pid  # start_new_session: the group id is the leader's pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(group):
        time.sleep(0.2)
    if _group_alive(group):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------ queries

_WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

_DAEMON_HEALTH_QUERY = """
query DaemonHealth {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""

_ADD_DYNAMIC_PARTITION_MUTATION = """
mutation AddPartition($repositorySelector: RepositorySelector!, $partitionsDefName: String!, $partitionKey: String!) {
  addDynamicPartition(
    repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName, partitionKey: $partitionKey
  ) {
    __typename
    ... on Error { message }
  }
}
"""

_METADATA_FRAGMENT = """
fragment Metadata on MetadataEntry {
  __typename
  label
  ... on IntMetadataEntry { intValue intRepr }
  ... on FloatMetadataEntry { floatValue }
  ... on BoolMetadataEntry { boolValue }
  ... on TextMetadataEntry { text }
  ... on MarkdownMetadataEntry { mdStr }
  ... on JsonMetadataEntry { jsonString }
  ... on TableSchemaMetadataEntry { schema { columns { name type constraints { nullable } } } }
}
"""

_RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId
      jobName
      status
      startTime
      endTime
      tags { key value }
      assetChecks { name assetKey { path } }
      assetMaterializations { assetKey { path } partition metadataEntries { ...Metadata } }
    }
    ... on Error { message }
  }
}
""" + _METADATA_FRAGMENT

_RUN_FAILURES_QUERY = """
query RunFailures($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } }
      }
    }
    ... on Error { message }
  }
}
"""

_CHECK_EXECUTION_FRAGMENT = """
fragment Execution on AssetCheckExecution {
  runId
  status
  evaluation { success metadataEntries { ...Metadata } }
}
""" + _METADATA_FRAGMENT
