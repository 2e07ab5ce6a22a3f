"""Which OpenSearch request errors are retried, how long the backoff may take, and what bypasses it."""

from __future__ import annotations

import pytest
from opensearchpy.exceptions import ConnectionError, ConnectionTimeout, SSLError, TransportError

from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.search_index.retries import (
    RequestRetryPolicy,
    RetryingTransport,
    is_bulk_request,
    is_retryable_request_error,
)


def test_refusals_and_lost_connections_are_retried() -> None:
    assert is_retryable_request_error(ConnectionError("N/A", "Connection refused", None))
    for status in (429, 502, 503, 504):
        assert is_retryable_request_error(TransportError(status, "unavailable", {}))


def test_timeouts_certificate_errors_and_client_errors_are_not_retried() -> None:
    assert not is_retryable_request_error(ConnectionTimeout("TIMEOUT", "read timed out", None))
    assert not is_retryable_request_error(SSLError("N/A", "certificate verify failed", None))
    for status in (400, 404, 409):
        assert not is_retryable_request_error(TransportError(status, "client error", {}))
    assert not is_retryable_request_error(ValueError("not a transport error"))


@pytest.mark.parametrize(
    ("url", "bulk"),
    [("/_bulk", True), ("/companies/_bulk", True), ("/_bulk?refresh=true", True),
     ("/companies/_refresh", False), ("/_aliases", False), ("/_bulk_stats", False), ("/bulk", False)],
)
def test_only_bulk_requests_bypass_the_transport_retries(url: str, bulk: bool) -> None:
    assert is_bulk_request(url) is bulk


def test_the_default_policy_waits_at_most_fifteen_and_a_half_seconds() -> None:
    assert RequestRetryPolicy().longest_wait_seconds() == 0.5 + 1 + 2 + 4 + 8
    assert RequestRetryPolicy(max_attempts=1).longest_wait_seconds() == 0
    assert RequestRetryPolicy(max_attempts=8, max_backoff_seconds=2).longest_wait_seconds() == 0.5 + 1 + 2 * 5


def test_the_resource_client_retries_through_its_transport_with_the_configured_policy() -> None:
    client = OpenSearchResource(url="http://127.0.0.1:9", request_max_attempts=3).client()
    assert isinstance(client.transport, RetryingTransport)
    assert client.transport.retry_policy == RequestRetryPolicy(max_attempts=3)
    assert client.transport.max_retries == 0  # opensearch-py's own loop resends at once: off
