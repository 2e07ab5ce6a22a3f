"""Dagster resources: the only way the pipeline reaches Postgres or reads its settings.

Connection strings come from the environment (``EnvVar``), so the UI shows the variable's
name, never the secret, and tests swap the URL without touching code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg

from restructure_pipeline.identity import DomainLists
from restructure_pipeline.settings import DATABASE_URL_ENV, drop_dir

APPLICATION_NAME = "restructure_pipeline"


class PostgresResource(dg.ConfigurableResource):
    """The application database holding ``Customer``, ``Company``, ``Prospect`` and the view."""

    database_url: str
    statement_timeout_ms: int = 0

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection: every write goes through an explicit ``conn.transaction()``."""
        options = f"-c statement_timeout={self.statement_timeout_ms}" if self.statement_timeout_ms else None
        with psycopg.connect(
            self.database_url, autocommit=True, application_name=APPLICATION_NAME, options=options
        ) as conn:
            yield conn


class PipelineSettings(dg.ConfigurableResource):
    """Rules and knobs a deployment may change without touching code."""

    drop_dir: str = ""
    drop_external_source: str = "csv_drop"
    extra_personal_domains: list[str] = []
    not_personal_domains: list[str] = []
    chunk_rows: int = 100_000

    def resolved_drop_dir(self) -> Path:
        return Path(self.drop_dir).expanduser().resolve() if self.drop_dir else drop_dir()

    def domain_lists(self) -> DomainLists:
        return DomainLists.default(
            extra_personal=tuple(self.extra_personal_domains), not_personal=tuple(self.not_personal_domains)
        )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment, as the code location uses them."""
    return {"postgres": PostgresResource(database_url=dg.EnvVar(DATABASE_URL_ENV)), "settings": PipelineSettings()}
