"""The embedded default setup: where the demo database and the Dagster instance live.

Used by the CLI (``demo``, ``ui``, ``env``) and by nothing in the pipeline itself, which
only ever reads ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline.services.postgres import EmbeddedPostgres
from restructure_pipeline.settings import (
    DATABASE_URL_ENV,
    DROP_DIR_ENV,
    OPENSEARCH_REPLICAS_ENV,
    OPENSEARCH_URL_ENV,
    PROJECT_ROOT,
    drop_dir,
    state_dir,
)

DEMO_DATABASE = "restructure_demo"
DAGSTER_DATABASE = "dagster"
DAGSTER_PG_URL_ENV = "DAGSTER_PG_URL"


@dataclass(frozen=True)
class LocalEnvironment:
    database_url: str
    opensearch_url: str
    dagster_pg_url: str
    dagster_home: Path
    drop_dir: Path

    def variables(self) -> dict[str, str]:
        return {
            DATABASE_URL_ENV: self.database_url,
            OPENSEARCH_URL_ENV: self.opensearch_url,
            OPENSEARCH_REPLICAS_ENV: "0",  # a single local node has nowhere to put replicas
            DAGSTER_PG_URL_ENV: self.dagster_pg_url,
            "DAGSTER_HOME": str(self.dagster_home),
            DROP_DIR_ENV: str(self.drop_dir),
        }

    def apply(self) -> None:
        os.environ.update(self.variables())


def prepare_local_environment(
    postgres: EmbeddedPostgres, opensearch: LocalOpenSearch, *, reset_demo_database: bool = False
) -> LocalEnvironment:
    """Start both services, create the demo and Dagster databases, lay out ``DAGSTER_HOME``."""
    postgres.start()
    opensearch_url = opensearch.start()
    if reset_demo_database:
        postgres.drop_database(DEMO_DATABASE)
    database_url = postgres.ensure_database(DEMO_DATABASE)
    # dagster-postgres needs psycopg2's client-side binding (``NOTIFY run_events, %s``);
    # SQLAlchemy 2.1 would otherwise pick psycopg 3 for a bare postgresql:// URL.
    dagster_pg_url = postgres.ensure_database(DAGSTER_DATABASE).replace("postgresql://", "postgresql+psycopg2://", 1)
    dagster_home = state_dir() / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    drops = drop_dir()
    drops.mkdir(parents=True, exist_ok=True)
    return LocalEnvironment(database_url, opensearch_url, dagster_pg_url, dagster_home, drops)
