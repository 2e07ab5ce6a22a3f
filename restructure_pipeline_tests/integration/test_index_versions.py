"""Index versions on a real node: a swap that fails on the client, and whether the live mapping is current.

The failed swaps are the real ``_aliases`` call wrapped so that the client sees it fail
after (or instead of) reaching the cluster; everything else is the node's own behaviour.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionTimeout
from opensearchpy.helpers import scan

from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.search_index.bulk import BulkPolicy
from restructure_pipeline.search_index.indices import (
    IndexRebuildError,
    RebuildResult,
    UpdateResult,
    apply_changes,
    delete_orphaned_versions,
    live_fingerprint,
    live_indices,
    mapping_is_current,
    rebuild_index,
)
from restructure_pipeline.search_index.mappings import COMPANIES, IndexDefinition
from restructure_pipeline.search_index.naming import alias_name, versions_of

_POLICY = BulkPolicy(chunk_docs=100, max_attempts=3, initial_backoff_seconds=0.05, max_backoff_seconds=0.2)
_START = datetime(2026, 11, 26, 3, 55, 1, tzinfo=UTC)


def _companies(*domains: str) -> list[tuple[str, dict]]:
    return [(f"c-{domain}", {"id": f"c-{domain}", "domain": domain, "name": domain.split(".")[0]}) for domain in domains]


def _rebuild(
    client: OpenSearch, alias: str, documents: list[tuple[str, dict]], minute: int,
    *, definition: IndexDefinition = COMPANIES, expected: int | None = None,
) -> RebuildResult:
    return rebuild_index(
        client, definition, alias, documents, len(documents) if expected is None else expected,
        policy=_POLICY, replicas=0, now=_START + timedelta(minutes=minute), token="test",
    )


def _update(client: OpenSearch, alias: str, upserts: list[tuple[str, dict]], expected: int, minute: int) -> UpdateResult:
    return apply_changes(
        client, alias, upserts, len(upserts), [], expected,
        policy=_POLICY, replicas=0, now=_START + timedelta(minutes=minute), token="test",
    )


def _served(client: OpenSearch, alias: str) -> dict[str, dict]:
    return {hit["_id"]: hit["_source"] for hit in scan(client, index=alias, query={"query": {"match_all": {}}})}


def _versions(client: OpenSearch, alias: str) -> list[str]:
    return versions_of(alias, client.indices.get(index=f"{alias}-*", expand_wildcards="all").keys())


def _swap_fails(client: OpenSearch, monkeypatch: pytest.MonkeyPatch, *, reaches_cluster: bool) -> list[dict]:
    """Make the next ``_aliases`` calls time out on the client, after the cluster applied them or before."""
    real: Callable = client.indices.update_aliases
    sent: list[dict] = []

    def timing_out(*args, **kwargs):
        if reaches_cluster:
            sent.append(real(*args, **kwargs))
        raise ConnectionTimeout("TIMEOUT", "Read timed out. (read timeout=60)", None)

    monkeypatch.setattr(client.indices, "update_aliases", timing_out)
    return sent


@pytest.fixture
def client(opensearch: OpenSearchResource) -> OpenSearch:
    return opensearch.client()


@pytest.fixture
def alias(opensearch: OpenSearchResource) -> str:
    return alias_name("companies", opensearch.index_prefix)


def test_rebuild_whose_swap_times_out_after_it_applied_keeps_the_new_index_live(
    client: OpenSearch, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _rebuild(client, alias, _companies("acme.com"), minute=0)
    second = _rebuild(client, alias, _companies("acme.com", "globex.com"), minute=1)
    sent = _swap_fails(client, monkeypatch, reaches_cluster=True)

    third = _rebuild(client, alias, _companies("acme.com", "globex.com", "initech.com"), minute=2)

    assert sent and sent[0]["acknowledged"]
    assert live_indices(client, alias) == [third.index]
    assert sorted(_served(client, alias)) == ["c-acme.com", "c-globex.com", "c-initech.com"]
    # Finished as after a normal swap: the index live until now kept for rollback, the older one gone.
    assert third.previous == [second.index] and third.deleted == [first.index]
    assert _versions(client, alias) == [second.index, third.index]


def test_incremental_update_whose_swap_times_out_after_it_applied_keeps_the_clone_live(
    client: OpenSearch, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _rebuild(client, alias, _companies("acme.com", "globex.com"), minute=0)
    sent = _swap_fails(client, monkeypatch, reaches_cluster=True)

    updated = _update(client, alias, _companies("initech.com"), expected=3, minute=1)

    assert sent and updated.index != built.index
    assert live_indices(client, alias) == [updated.index]
    assert sorted(_served(client, alias)) == ["c-acme.com", "c-globex.com", "c-initech.com"]
    assert updated.previous == built.index and updated.deleted == []
    assert _versions(client, alias) == [built.index, updated.index]


def test_swap_that_never_applied_raises_and_leaves_its_version_to_the_next_cleanup(
    client: OpenSearch, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _rebuild(client, alias, _companies("acme.com"), minute=0)
    _swap_fails(client, monkeypatch, reaches_cluster=False)

    with pytest.raises(ConnectionTimeout):
        _rebuild(client, alias, _companies("acme.com", "globex.com"), minute=1)

    assert live_indices(client, alias) == [built.index]
    assert sorted(_served(client, alias)) == ["c-acme.com"]
    # Not deleted by its own run (the cluster might still apply the swap): the next index step's cleanup does it.
    (left,) = [name for name in _versions(client, alias) if name != built.index]
    assert delete_orphaned_versions(client, alias) == [left]
    assert _versions(client, alias) == [built.index]


def test_failure_before_the_swap_discards_the_new_index(client: OpenSearch, alias: str) -> None:
    built = _rebuild(client, alias, _companies("acme.com"), minute=0)

    with pytest.raises(IndexRebuildError, match="Postgres has 5 rows"):
        _rebuild(client, alias, _companies("acme.com", "globex.com"), minute=1, expected=5)
    with pytest.raises(IndexRebuildError, match="Postgres has 5 rows"):
        _update(client, alias, _companies("globex.com"), expected=5, minute=2)

    assert live_indices(client, alias) == [built.index]
    assert _versions(client, alias) == [built.index]
    assert sorted(_served(client, alias)) == ["c-acme.com"]


def _older_definition(definition: IndexDefinition, dropped_field: str) -> IndexDefinition:
    """``definition`` as an earlier release declared it: without ``dropped_field``, fingerprinted accordingly."""
    mappings = copy.deepcopy(definition.mappings)
    del mappings["properties"][dropped_field]
    mappings["_meta"]["fingerprint"] = "0123456789abcdef"
    return IndexDefinition(definition.logical_name, definition.id_field, mappings, definition.analysis)


def test_index_built_from_the_definition_has_a_current_mapping(client: OpenSearch, alias: str) -> None:
    _rebuild(client, alias, _companies("acme.com"), minute=0)

    assert live_fingerprint(client, alias) == COMPANIES.fingerprint
    assert mapping_is_current(client, alias, COMPANIES)


def test_index_built_from_an_older_definition_stays_not_current_through_incremental_updates(
    client: OpenSearch, alias: str
) -> None:
    older = _older_definition(COMPANIES, "phone")
    _rebuild(client, alias, _companies("acme.com"), minute=0, definition=older)
    _update(client, alias, _companies("globex.com"), expected=2, minute=1)  # a drop: the clone copies the mapping

    assert live_fingerprint(client, alias) == "0123456789abcdef"
    assert not mapping_is_current(client, alias, COMPANIES)
    assert mapping_is_current(client, alias, older)
    # What the rebuild is for: the live index still refuses the field the current definition added.
    assert "phone" not in client.indices.get_mapping(index=alias).popitem()[1]["mappings"]["properties"]


def test_index_without_a_fingerprint_is_not_current(client: OpenSearch, alias: str) -> None:
    index = f"{alias}-20261126t035501z-bare"
    client.indices.create(index=index, body={"aliases": {alias: {}}, "settings": {"number_of_replicas": 0}})

    assert live_fingerprint(client, alias) is None
    assert not mapping_is_current(client, alias, COMPANIES)


def test_alias_without_a_live_index_is_not_current(client: OpenSearch, alias: str) -> None:
    assert live_fingerprint(client, alias) is None
    assert not mapping_is_current(client, alias, COMPANIES)
