"""Bulk writes to OpenSearch in bounded chunks, retried with exponential backoff.

A chunk is retried whole when the cluster answers 429/502/503/504 or cannot be reached,
and only its rejected documents when individual items come back 429 (a full write
queue). Any other item error fails the load: nothing is silently dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError
from opensearchpy.helpers import bulk
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class BulkLoadError(RuntimeError):
    """Documents the cluster refused for a reason retrying cannot fix."""


class _Rejected(Exception):
    """Some items of a chunk were rejected with 429: retry just those."""

    def __init__(self, remaining: list[dict]) -> None:
        super().__init__(f"{len(remaining)} documents rejected with 429")
        self.remaining = remaining


@dataclass
class BulkStats:
    succeeded: int = 0
    retries: int = 0
    chunks: int = 0


@dataclass(frozen=True)
class BulkPolicy:
    chunk_docs: int = 2_000
    max_attempts: int = 8
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0


def _retryable(error: BaseException) -> bool:
    if isinstance(error, _Rejected | OpenSearchConnectionError | ConnectionTimeout):
        return True
    return isinstance(error, TransportError) and error.status_code in RETRYABLE_STATUSES


def _batched(actions: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(actions)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def exponential_backoff(
    retry_on: Callable[[BaseException], bool], max_attempts: int, initial_backoff_seconds: float,
    max_backoff_seconds: float,
) -> Retrying:
    """Attempts that wait ``initial_backoff_seconds``, then twice as long each time (at most
    ``max_backoff_seconds``), while ``retry_on`` says the error may pass; the last one is re-raised."""
    return Retrying(
        retry=retry_if_exception(retry_on),
        stop=stop_after_attempt(max_attempts),
        wait=wait_exponential(multiplier=initial_backoff_seconds, max=max_backoff_seconds),
        reraise=True,
    )


def bulk_write(client: OpenSearch, actions: Iterable[dict], policy: BulkPolicy) -> BulkStats:
    """Send ``actions`` (opensearch-py bulk action dicts with ``_id``), chunk by chunk."""
    stats = BulkStats()
    for chunk in _batched(actions, policy.chunk_docs):
        pending = chunk
        retrying = exponential_backoff(
            _retryable, policy.max_attempts, policy.initial_backoff_seconds, policy.max_backoff_seconds
        )
        for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    stats.retries += 1
                try:
                    _send(client, pending, stats)
                except _Rejected as rejected:
                    pending = rejected.remaining
                    raise
        stats.chunks += 1
    return stats


def _send(client: OpenSearch, actions: list[dict], stats: BulkStats) -> None:
    succeeded, errors = bulk(client, actions, raise_on_error=False, raise_on_exception=True, max_retries=0)
    stats.succeeded += succeeded
    if not errors:
        return
    rejected_ids = set()
    fatal = []
    for error in errors:
        (operation, info), = error.items()
        if info.get("status") == 429:
            rejected_ids.add(info.get("_id"))
        elif not (operation == "delete" and info.get("status") == 404):
            fatal.append(info)
    if fatal:
        sample = "; ".join(f"{item.get('_id')}: {item.get('error')}" for item in fatal[:3])
        raise BulkLoadError(f"{len(fatal)} documents were refused by OpenSearch, e.g. {sample}")
    if rejected_ids:
        raise _Rejected([action for action in actions if action.get("_id") in rejected_ids])
