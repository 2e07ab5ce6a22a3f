"""Bulk loading backs off and retries when the cluster answers 429 or 503, and still loses nothing."""

from __future__ import annotations

import pytest

from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.search_index.bulk import BulkPolicy, bulk_write
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline_tests.integration.fault_proxy import FaultProxy

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
    from opensearchpy.exceptions import TransportError

    with FaultProxy(opensearch_node.url, status=503, fail_times=100) as proxy:
        client = OpenSearchResource(url=proxy.url).client()
        with pytest.raises(TransportError) as raised:
            bulk_write(client, [{"_index": "never", "_id": "1", "_source": {}}], _FAST)
    assert raised.value.status_code == 503 and proxy.faults_injected == _FAST.max_attempts
