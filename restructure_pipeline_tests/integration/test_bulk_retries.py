"""Requests back off and retry when the cluster answers 429 or 503, lose nothing, and give up in bounded time.

Bulk loading retries chunks (``bulk.py``); every other request is retried by the client's
transport (``retries.py``). Both are proven through a fault proxy against the real node.
"""

from __future__ import annotations

import time

import pytest
from opensearchpy.exceptions import TransportError

from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.search_index.bulk import BulkPolicy, bulk_write
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline_tests.integration.fault_proxy import FaultProxy, non_bulk_paths

_FAST = BulkPolicy(chunk_docs=100, max_attempts=6, initial_backoff_seconds=0.05, max_backoff_seconds=0.2)


@pytest.mark.parametrize("status", [429, 503])
def test_rejected_bulk_requests_are_retried_until_they_succeed(opensearch_node: LocalOpenSearch, status: int) -> None:
    index = f"bulk-retry-{status}"
    direct = OpenSearchResource(url=opensearch_node.url).client()
    direct.indices.create(index=index, body={"settings": {"number_of_replicas": 0}})
    try:
        with FaultProxy(opensearch_node.url, status=status, fail_times=3) as proxy:
            client = OpenSearchResource(url=proxy.url).client()
            actions = [{"_index": index, "_id": str(n), "_source": {"n": n}} for n in range(250)]
            stats = bulk_write(client, actions, _FAST)
        direct.indices.refresh(index=index)
        assert proxy.faults_injected == 3
        assert stats.retries == 3 and stats.succeeded == 250 and stats.chunks == 3
        assert direct.count(index=index)["count"] == 250
    finally:
        direct.indices.delete(index=index)


def test_bulk_gives_up_after_its_attempts_with_the_error(opensearch_node: LocalOpenSearch) -> None:
    with FaultProxy(opensearch_node.url, status=503, fail_times=100) as proxy:
        client = OpenSearchResource(url=proxy.url).client()
        with pytest.raises(TransportError) as raised:
            bulk_write(client, [{"_index": "never", "_id": "1", "_source": {}}], _FAST)
    assert raised.value.status_code == 503 and proxy.faults_injected == _FAST.max_attempts


def test_other_requests_ride_out_a_few_seconds_of_503(opensearch_node: LocalOpenSearch) -> None:
    index = "request-retry"
    with FaultProxy(opensearch_node.url, status=503, fail_for_seconds=2.0, paths=non_bulk_paths) as proxy:
        client = OpenSearchResource(url=proxy.url).client()  # the shipped policy: 6 attempts, 0.5 s doubling
        client.indices.create(index=index, body={"settings": {"number_of_replicas": 0}})
        bulk_write(client, [{"_index": index, "_id": str(n), "_source": {"n": n}} for n in range(10)], _FAST)
        client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
        client.indices.refresh(index=index)
        client.indices.update_aliases(body={"actions": [{"add": {"index": index, "alias": "request-retry-alias"}}]})
        assert client.count(index="request-retry-alias")["count"] == 10
        client.indices.delete(index=index)
    assert proxy.faults_injected >= 3 and proxy.outage_ended is not None
    assert proxy.failed_requests[0] == "PUT /request-retry"  # the create, retried until the outage ended
    assert client.transport.retries == proxy.faults_injected  # each refused request was sent again, once
    assert not OpenSearchResource(url=opensearch_node.url).client().indices.exists(index=index)


def test_other_requests_give_up_after_their_attempts_with_the_error(opensearch_node: LocalOpenSearch) -> None:
    resource = OpenSearchResource(
        url=opensearch_node.url, request_max_attempts=4, request_initial_backoff_seconds=0.05,
        request_max_backoff_seconds=0.1,
    )
    with FaultProxy(opensearch_node.url, status=503, fail_for_seconds=3600, paths=non_bulk_paths) as proxy:
        client = OpenSearchResource(**{**resource.model_dump(), "url": proxy.url}).client()
        started = time.monotonic()
        with pytest.raises(TransportError) as raised:
            client.indices.refresh(index="anything")
        waited = time.monotonic() - started
    assert raised.value.status_code == 503 and proxy.faults_injected == 4
    assert raised.value.__notes__ == ["POST /anything/_refresh: gave up after 4 attempts"]
    assert resource.request_retry_policy().longest_wait_seconds() == pytest.approx(0.25)
    assert 0.25 <= waited < 5

