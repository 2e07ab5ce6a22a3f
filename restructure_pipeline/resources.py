"""Dagster resources: the only way the pipeline reaches Postgres or reads its settings.

Connection strings come from the environment (``EnvVar``), so the UI shows the variable's
name, never the secret, and tests swap the URL without touching code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import dagster as dg
import psycopg
from opensearchpy import OpenSearch

from restructure_pipeline.identity import DomainLists
from restructure_pipeline.search_index.retries import RequestRetryPolicy, RetryingTransport
from restructure_pipeline.settings import (
    DATABASE_URL_ENV,
    OPENSEARCH_INDEX_PREFIX_ENV,
    OPENSEARCH_PASSWORD_ENV,
    OPENSEARCH_REPLICAS_ENV,
    OPENSEARCH_URL_ENV,
    OPENSEARCH_USER_ENV,
    OPENSEARCH_VERIFY_CERTS_ENV,
    drop_dir,
)

APPLICATION_NAME = "restructure_pipeline"

# A value libpq or psycopg quotes in an error: "like this" or 'like this'.
_QUOTED = re.compile(r""""([^"]*)"|'([^']*)'""")
# A ``password=`` value in a URL's query or a key/value conninfo string.
_PASSWORD_PARAMETER = re.compile(r"""(?:^|[\s?&])password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)""")


def _password_spans(database_url: str) -> list[tuple[int, int]]:
    """Where passwords sit in the URL: the userinfo's, taken wide (up to the last ``@``), and any ``password=``."""
    spans = [match.span(1) for match in _PASSWORD_PARAMETER.finditer(database_url)]
    authority = database_url.find("://") + 3 if "://" in database_url else -1
    at = database_url.rfind("@")
    if 0 <= authority <= at and ":" in database_url[authority:at]:
        spans.append((database_url.index(":", authority) + 1, at))
    return [(start, end) for start, end in spans if end > start]


def _quotes_a_secret(message: str, text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether the message shows a password, or quotes a value found in ``text`` only where a password is."""
    if any(text[start:end] in message for start, end in spans):
        return True
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        if not quoted:
            continue
        starts = [found.start() for found in re.finditer(f"(?={re.escape(quoted)})", text)]
        if any(begin < end and start < begin + len(quoted) for begin in starts for start, end in spans):
            return True
    return False


def redacted_connection_error(message: str, database_url: str, error_class: str) -> str:
    """The message of an error raised while connecting, unless it quotes any part of a password in the URL.

    libpq's URL errors quote the token they choke on (``invalid percent-encoded token: "100%"``), and a
    password with an unescaped ``@`` becomes part of the host it fails to resolve. Such a message gives
    way to a fixed text naming only the host, the database and the error class.
    """
    spans = _password_spans(database_url)
    decoded = unquote(database_url)
    decoded_spans = [(len(unquote(database_url[:start])), len(unquote(database_url[:end]))) for start, end in spans]
    if not _quotes_a_secret(message, database_url, spans) and not _quotes_a_secret(message, decoded, decoded_spans):
        return message
    host = path = "(unknown)"
    if "://" in database_url:
        location = database_url[max(database_url.find("://") + 3, database_url.rfind("@") + 1):]
        host, _, path = location.split("?")[0].partition("/")
    return (
        f"{error_class} while connecting to PostgreSQL host {unquote(host) or '(default)'!r}, "
        f"database {unquote(path) or '(default)'!r}; the driver's message is withheld because it quotes "
        "part of the password in the connection URL (check its quoting: percent-encode %, @, / and spaces)"
    )


def connect_postgres(database_url: str, **options: Any) -> psycopg.Connection:
    """``psycopg.connect``, with any part of the URL's password removed from the errors it raises."""
    try:
        return psycopg.connect(database_url, **options)
    except psycopg.Error as error:
        redacted = type(error)(redacted_connection_error(str(error), database_url, type(error).__name__))
    # Raised outside the except block, so the original error is neither its cause nor its context.
    raise redacted from None


class PostgresResource(dg.ConfigurableResource):
    """The application database holding ``Customer``, ``Company``, ``Prospect`` and the view."""

    database_url: str
    statement_timeout_ms: int = 0

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection: every write goes through an explicit ``conn.transaction()``."""
        # A killed run's session must not keep its transaction and locks while a statement runs:
        # the server checks every 2 s that the client is still there (keepalives cover idle links).
        # DateStyle ISO: COPY output is parsed as ISO timestamps (store.bulk.csv_frame).
        options = "-c client_connection_check_interval=2000 -c DateStyle=ISO,YMD"
        if self.statement_timeout_ms:
            options += f" -c statement_timeout={self.statement_timeout_ms}"
        with connect_postgres(
            self.database_url, autocommit=True, application_name=APPLICATION_NAME, options=options,
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        ) as conn:
            yield conn


class OpenSearchResource(dg.ConfigurableResource):
    """The search cluster holding the three aliases (``companies``, ``prospects``, ``company_prospect_view``)."""

    url: str
    user: str = ""
    password: str = ""
    verify_certs: bool = True
    ca_certs: str = ""
    timeout_seconds: float = 60.0
    index_prefix: str = ""
    replicas: int = 1  # restored on a rebuilt index once it is loaded (loading runs with none)
    bulk_chunk_docs: int = 2_000
    bulk_max_attempts: int = 8
    bulk_initial_backoff_seconds: float = 0.5
    bulk_max_backoff_seconds: float = 30.0
    # Every other request (create, clone, settings, refresh, count, aliases, delete, search):
    # by default 6 attempts over at most 15.5 s, so a node restarting for a few seconds fails no step.
    request_max_attempts: int = 6
    request_initial_backoff_seconds: float = 0.5
    request_max_backoff_seconds: float = 8.0

    def request_retry_policy(self) -> RequestRetryPolicy:
        return RequestRetryPolicy(
            max_attempts=self.request_max_attempts,
            initial_backoff_seconds=self.request_initial_backoff_seconds,
            max_backoff_seconds=self.request_max_backoff_seconds,
        )

    def client(self) -> OpenSearch:
        """A client with certificate verification as configured; credentials only from config."""
        options: dict[str, object] = {
            "hosts": [self.url],
            "timeout": self.timeout_seconds,
            "verify_certs": self.verify_certs,
            "ssl_show_warn": self.verify_certs,
            # Retries with backoff happen in RetryingTransport (bulk.py for _bulk), not in
            # opensearch-py's own loop, which resends at once.
            "transport_class": partial(RetryingTransport, retry_policy=self.request_retry_policy()),
            "max_retries": 0,
            "retry_on_timeout": False,
        }
        if self.user:
            options["http_auth"] = (self.user, self.password)
        if self.ca_certs:
            options["ca_certs"] = self.ca_certs
        return OpenSearch(**options)


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


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off")


def postgres_from_environment() -> PostgresResource:
    """The Postgres resource with ``DATABASE_URL`` read now (for the CLI, outside Dagster)."""
    return PostgresResource(database_url=os.environ[DATABASE_URL_ENV])


def opensearch_from_environment() -> OpenSearchResource:
    """The OpenSearch resource with values read now (for the CLI, outside Dagster)."""
    return OpenSearchResource(
        url=os.environ[OPENSEARCH_URL_ENV],
        user=os.environ.get(OPENSEARCH_USER_ENV, ""),
        password=os.environ.get(OPENSEARCH_PASSWORD_ENV, ""),
        verify_certs=_env_flag(OPENSEARCH_VERIFY_CERTS_ENV, True),
        index_prefix=os.environ.get(OPENSEARCH_INDEX_PREFIX_ENV, ""),
    )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment, as the code location uses them.

    Secrets stay ``EnvVar``s: Dagster resolves them at run time and shows only their names.
    """
    return {
        "postgres": PostgresResource(database_url=dg.EnvVar(DATABASE_URL_ENV)),
        "opensearch": OpenSearchResource(
            url=dg.EnvVar(OPENSEARCH_URL_ENV),
            user=os.environ.get(OPENSEARCH_USER_ENV, ""),
            password=dg.EnvVar(OPENSEARCH_PASSWORD_ENV) if os.environ.get(OPENSEARCH_PASSWORD_ENV) else "",
            verify_certs=_env_flag(OPENSEARCH_VERIFY_CERTS_ENV, True),
            index_prefix=os.environ.get(OPENSEARCH_INDEX_PREFIX_ENV, ""),
            replicas=int(os.environ.get(OPENSEARCH_REPLICAS_ENV, "1")),
        ),
        "settings": PipelineSettings(),
    }
