"""Versioned indices behind aliases: zero-downtime rebuilds, incremental updates, rollback.

A rebuild creates a new index (strict mapping, no replicas, refresh off), bulk-loads it,
restores the settings, verifies the count, then swaps the alias in one atomic
``_aliases`` call and deletes all but one previous version. Readers of the alias never
see a missing or partly loaded index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError
from opensearchpy.helpers import scan

from restructure_pipeline.search_index.bulk import BulkPolicy, BulkStats, bulk_write
from restructure_pipeline.search_index.mappings import IndexDefinition
from restructure_pipeline.search_index.naming import indices_to_delete, new_index_name, versions_of


class IndexRebuildError(RuntimeError):
    """A rebuilt index failed verification; the alias still points at the previous one."""


@dataclass(frozen=True)
class RebuildResult:
    index: str
    previous: list[str]
    deleted: list[str]
    documents: int
    bulk: BulkStats
    seconds: float


def live_indices(client: OpenSearch, alias: str) -> list[str]:
    """The indices the alias points at (normally exactly one; none before the first build)."""
    try:
        return sorted(client.indices.get_alias(name=alias).keys())
    except NotFoundError:
        return []


def _refuse_concrete_index_named_like(client: OpenSearch, alias: str) -> None:
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise IndexRebuildError(
            f"{alias!r} exists as a concrete index, so it cannot become an alias: rename or delete it "
            "(or set OPENSEARCH_INDEX_PREFIX to use other names)"
        )


def rebuild_index(
    client: OpenSearch,
    definition: IndexDefinition,
    alias: str,
    documents: Iterable[tuple[str, dict]],
    expected_count: int,
    *,
    policy: BulkPolicy,
    replicas: int,
    now: datetime,
    token: str,
) -> RebuildResult:
    started = time.perf_counter()
    _refuse_concrete_index_named_like(client, alias)
    index = new_index_name(alias, now, token)
    client.indices.create(index=index, body=definition.create_body(replicas=0, refresh_interval="-1"))
    try:
        stats = bulk_write(
            client, ({"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}
                     for doc_id, source in documents),
            policy,
        )
        client.indices.put_settings(
            index=index, body={"index": {"refresh_interval": "1s", "number_of_replicas": replicas}}
        )
        client.indices.refresh(index=index)
        loaded = client.count(index=index)["count"]
        if loaded != expected_count:
            raise IndexRebuildError(
                f"{index} holds {loaded} documents but Postgres has {expected_count} rows: not swapping {alias!r}"
            )
        previous = live_indices(client, alias)
        actions = [{"remove": {"index": old, "alias": alias}} for old in previous]
        actions.append({"add": {"index": index, "alias": alias}})
        client.indices.update_aliases(body={"actions": actions})
    except BaseException:
        client.indices.delete(index=index, ignore_unavailable=True)
        raise
    existing = list(client.indices.get(index=f"{alias}-*", expand_wildcards="all").keys())
    # The index that was live until now is the rollback target, even if a failed build is newer.
    deleted = indices_to_delete(alias, existing, live=index, keep_previous=1, protect=previous)
    if deleted:
        client.indices.delete(index=",".join(deleted))
    return RebuildResult(index, previous, deleted, loaded, stats, round(time.perf_counter() - started, 3))


def apply_changes(
    client: OpenSearch,
    alias: str,
    upserts: Iterable[tuple[str, dict]],
    deletes: Iterable[str],
    policy: BulkPolicy,
) -> BulkStats:
    """Index ``upserts`` (whole documents) and delete ``deletes`` through the alias, then refresh."""
    live = live_indices(client, alias)
    if len(live) != 1:
        raise IndexRebuildError(f"alias {alias!r} points at {live or 'no index'}: run full_refresh to rebuild it")
    actions = [{"_op_type": "index", "_index": live[0], "_id": doc_id, "_source": source} for doc_id, source in upserts]
    actions += [{"_op_type": "delete", "_index": live[0], "_id": doc_id} for doc_id in deletes]
    stats = bulk_write(client, actions, policy)
    client.indices.refresh(index=live[0])
    return stats


def ids_matching(client: OpenSearch, alias: str, field: str, values: Sequence[str]) -> set[str]:
    """Ids of the documents whose ``field`` is one of ``values`` (scrolled, any number of hits)."""
    found: set[str] = set()
    for start in range(0, len(values), 1_000):
        query = {"query": {"terms": {field: list(values[start:start + 1_000])}}, "_source": False}
        found.update(hit["_id"] for hit in scan(client, query=query, index=alias, size=1_000))
    return found


def rollback(client: OpenSearch, alias: str, to_index: str | None = None) -> str:
    """Point the alias at ``to_index`` (default: the newest older version); returns it."""
    live = live_indices(client, alias)
    versions = versions_of(alias, client.indices.get(index=f"{alias}-*", expand_wildcards="all").keys())
    if to_index is None:
        older = [name for name in versions if live and name < live[0]]
        if not older:
            raise IndexRebuildError(f"no previous version of {alias!r} to roll back to (live: {live})")
        to_index = older[-1]
    elif to_index not in versions:
        raise IndexRebuildError(f"{to_index!r} is not a version of {alias!r}; versions: {versions}")
    actions = [{"remove": {"index": name, "alias": alias}} for name in live] + [{"add": {"index": to_index, "alias": alias}}]
    client.indices.update_aliases(body={"actions": actions})
    return to_index
