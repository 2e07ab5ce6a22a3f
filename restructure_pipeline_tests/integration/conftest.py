"""Session fixtures: one real embedded Postgres per test session, a fresh database per test.

No mocks: if the server cannot start, every integration test errors with the reason.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from restructure_pipeline.automation.launch import full_refresh_tags, register_sources
from restructure_pipeline.definitions import build_definitions
from restructure_pipeline.resources import OpenSearchResource, PipelineSettings, PostgresResource
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline.services.postgres import EmbeddedPostgres, free_port

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's tmp_path: pytest resets it to 0700, and the server runs as its own
    # unprivileged account when the tests run as root.
    home = Path(tempfile.mkdtemp(prefix="restructure-pg-"))
    server = EmbeddedPostgres(home / "data", port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[LocalOpenSearch]:
    # The home must be traversable by the node's unprivileged account (we may be root).
    home = Path(tempfile.mkdtemp(prefix="restructure-os-"))
    home.chmod(0o755)
    node = LocalOpenSearch(home / "node", port=free_port())
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def opensearch(opensearch_node: LocalOpenSearch) -> OpenSearchResource:
    """The node, with an index prefix of the test's own so tests never see each other's aliases."""
    return OpenSearchResource(
        url=opensearch_node.url, index_prefix=f"t{next(_database_numbers)}_", replicas=0, bulk_chunk_docs=500
    )


@pytest.fixture
def database_url(embedded_postgres: EmbeddedPostgres) -> Iterator[str]:
    name = f"test_{next(_database_numbers)}"
    url = embedded_postgres.ensure_database(name)
    yield url
    embedded_postgres.drop_database(name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@dataclass
class PipelineRunner:
    """Runs the real jobs through Dagster against the test's database and drop folder."""

    database_url: str
    drop_dir: Path
    opensearch: OpenSearchResource
    # Persistent (sqlite in a temp folder), as schedules and sensors need an instance they can reopen.
    instance: dg.DagsterInstance = field(default_factory=dg.DagsterInstance.local_temp)
    extra_personal_domains: list[str] = field(default_factory=list)

    @property
    def definitions(self) -> dg.Definitions:
        return build_definitions(
            {
                "postgres": PostgresResource(database_url=self.database_url),
                "opensearch": self.opensearch,
                "settings": PipelineSettings(
                    drop_dir=str(self.drop_dir), chunk_rows=700, extra_personal_domains=self.extra_personal_domains
                ),
            }
        )

    def full_refresh(self, *, expect_success: bool = True) -> dg.ExecuteInProcessResult:
        keys = register_sources(self.instance, self.drop_dir)
        result = self.definitions.resolve_job_def("full_refresh").execute_in_process(
            instance=self.instance, tags=full_refresh_tags(keys), raise_on_error=False
        )
        _assert_outcome(result, expect_success)
        return result

    def evaluate_check(self, asset: str, name: str) -> dg.AssetCheckEvaluation:
        """Run only the named check, as one would from the UI, and return its evaluation."""
        definitions = self.definitions
        result = dg.materialize(
            [*definitions.assets, *definitions.asset_checks],
            selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(asset), name)),
            instance=self.instance,
            resources=definitions.resources,
            raise_on_error=False,
        )
        return result.get_asset_check_evaluations()[0]

    def ingest_drop(self, partition_key: str, *, expect_success: bool = True) -> dg.ExecuteInProcessResult:
        register_sources(self.instance, self.drop_dir)
        result = self.definitions.resolve_job_def("ingest_drop").execute_in_process(
            instance=self.instance, partition_key=partition_key, raise_on_error=False
        )
        _assert_outcome(result, expect_success)
        return result


def _assert_outcome(result: dg.ExecuteInProcessResult, expect_success: bool) -> None:
    if expect_success and not result.success:
        failures = [
            event.event_specific_data.error.to_string()
            for event in result.all_events
            if event.event_type_value == "STEP_FAILURE"
        ]
        failed_checks = [
            f"{event.event_specific_data.check_name}: {event.event_specific_data.metadata}"
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed
        ]
        pytest.fail("run failed:\n" + "\n".join(failures + failed_checks))


@pytest.fixture
def drop_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "drops"
    folder.mkdir()
    return folder


@pytest.fixture
def pipeline(database_url: str, drop_dir: Path, opensearch: OpenSearchResource) -> PipelineRunner:
    return PipelineRunner(database_url=database_url, drop_dir=drop_dir, opensearch=opensearch)
