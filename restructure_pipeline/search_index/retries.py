"""Every OpenSearch request other than ``_bulk`` retried with exponential backoff, a bounded number of times.

opensearch-py's own transport retries (``max_retries``) resend at once, with no pause, so
a node that restarts or sheds load for a few seconds would fail a step in milliseconds.
:class:`RetryingTransport` instead waits ``initial_backoff_seconds``, then twice as long
each time (at most ``max_backoff_seconds``), for at most ``max_attempts`` attempts; then the
last error is raised as it came, with a note saying how often it was tried.

Retried: 429/502/503/504 answers and connections that could not be made or broke. Not
retried: timeouts (the cluster may still be doing the work) and TLS errors (a certificate
does not get better by waiting). ``_bulk`` requests pass straight through: bulk loading
(``bulk.py``) retries whole chunks or just their rejected documents itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opensearchpy import Transport
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, SSLError, TransportError

from restructure_pipeline.search_index.bulk import RETRYABLE_STATUSES, exponential_backoff


@dataclass(frozen=True)
class RequestRetryPolicy:
    max_attempts: int = 6
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0

    def longest_wait_seconds(self) -> float:
        """The most time spent waiting between attempts before giving up."""
        return sum(
            min(self.initial_backoff_seconds * 2**attempt, self.max_backoff_seconds)
            for attempt in range(self.max_attempts - 1)
        )


def is_retryable_request_error(error: BaseException) -> bool:
    if isinstance(error, ConnectionTimeout | SSLError):
        return False
    if isinstance(error, OpenSearchConnectionError):
        return True
    return isinstance(error, TransportError) and error.status_code in RETRYABLE_STATUSES


def is_bulk_request(url: str) -> bool:
    return url.split("?")[0].rstrip("/").endswith("/_bulk")


class RetryingTransport(Transport):
    """The client's transport, with :class:`RequestRetryPolicy` around every non-bulk request."""

    def __init__(self, hosts: Any, *, retry_policy: RequestRetryPolicy = RequestRetryPolicy(), **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self.retry_policy = retry_policy
        self.retries = 0  # requests resent since the client was made (reported in metadata)

    def perform_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if is_bulk_request(url):
            return super().perform_request(method, url, *args, **kwargs)
        policy = self.retry_policy
        retrying = exponential_backoff(
            is_retryable_request_error, policy.max_attempts, policy.initial_backoff_seconds, policy.max_backoff_seconds
        )
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.retries += 1
                try:
                    return super().perform_request(method, url, *args, **kwargs)
                except TransportError as error:
                    if attempt.retry_state.attempt_number == policy.max_attempts and is_retryable_request_error(error):
                        error.add_note(f"{method} {url.split('?')[0]}: gave up after {policy.max_attempts} attempts")
                    raise
        raise AssertionError("unreachable: tenacity either returns or re-raises")
