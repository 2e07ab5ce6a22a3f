"""Versioned indices behind aliases: zero-downtime rebuilds, all-or-nothing updates, rollback.

A rebuild creates a new index (strict mapping, no replicas, refresh off), bulk-loads it,
restores the settings, verifies the count, then swaps the alias in one atomic
``_aliases`` call and deletes all but one previous version. An incremental update does
the same on a ``_clone`` of the live index (segments hard-linked: cheap whatever the
index size): it writes only the changes, loading the clone as it would a new version.
Either way readers of the alias see the old documents or the new ones, never a missing,
partly loaded or half-updated index; a run killed half-way leaves an orphaned version
that the next index step deletes (:func:`delete_orphaned_versions`). Once the swap is sent
the new version is never deleted by its own run, even if the call fails: the cluster may
have applied it (:func:`_swap_alias` reads the alias back).

Each live index carries the fingerprint of the definition it was built from
(:func:`mapping_is_current`): a clone keeps its mapping, so a changed definition needs a rebuild.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from restructure_pipeline.search_index.bulk import BulkPolicy, BulkStats, bulk_write
from restructure_pipeline.search_index.mappings import IndexDefinition, serving_settings
from restructure_pipeline.search_index.naming import (
    indices_to_delete,
    next_version_name,
    orphaned_versions,
    versions_of,
)


class IndexRebuildError(RuntimeError):
    """A new version failed verification; the alias still points at the previous one."""


@dataclass(frozen=True)
class RebuildResult:
    index: str
    previous: list[str]
    deleted: list[str]
    documents: int
    bulk: BulkStats
    seconds: float


@dataclass(frozen=True)
class UpdateResult:
    index: str  # live after the update: a new version, or the same one when there was nothing to apply
    previous: str
    deleted: list[str]
    documents: int
    bulk: BulkStats
    clone_seconds: float


def live_indices(client: OpenSearch, alias: str) -> list[str]:
    """The indices the alias points at (normally exactly one; none before the first build)."""
    try:
        return sorted(client.indices.get_alias(name=alias).keys())
    except NotFoundError:
        return []


def live_fingerprint(client: OpenSearch, alias: str) -> str | None:
    """The ``_meta.fingerprint`` of the alias' live index; None without exactly one live index or a fingerprint."""
    live = live_indices(client, alias)
    if len(live) != 1:
        return None
    mapping = client.indices.get_mapping(index=live[0])[live[0]]["mappings"]
    return mapping.get("_meta", {}).get("fingerprint")


def mapping_is_current(client: OpenSearch, alias: str, definition: IndexDefinition) -> bool:
    """Whether the live index was built from ``definition`` as declared now.

    An incremental update clones the live index, mapping included, so when this is False only
    a rebuild brings the declared mapping in (a new field would fail the update as strict).
    """
    return live_fingerprint(client, alias) == definition.fingerprint


def _versions(client: OpenSearch, alias: str) -> list[str]:
    return versions_of(alias, client.indices.get(index=f"{alias}-*", expand_wildcards="all").keys())


def delete_orphaned_versions(client: OpenSearch, alias: str, keep_previous: int = 1) -> list[str]:
    """Delete the versions left by killed builds or updates (not the live one, not the kept previous ones).

    Call it holding the index-writer lock, so that no build is in progress. An alias on
    several indices is left alone (the ``alias_on_exactly_one_index`` check reports it).
    """
    live = live_indices(client, alias)
    if len(live) > 1:
        return []
    orphans = orphaned_versions(alias, _versions(client, alias), live[0] if live else None, keep_previous)
    if orphans:
        client.indices.delete(index=",".join(orphans))
    return orphans


def _refuse_concrete_index_named_like(client: OpenSearch, alias: str) -> None:
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise IndexRebuildError(
            f"{alias!r} exists as a concrete index, so it cannot become an alias: rename or delete it "
            "(or set OPENSEARCH_INDEX_PREFIX to use other names)"
        )


def _verify_count(client: OpenSearch, index: str, alias: str, expected_count: int) -> int:
    client.indices.refresh(index=index)
    loaded = client.count(index=index)["count"]
    if loaded != expected_count:
        raise IndexRebuildError(
            f"{index} holds {loaded} documents but Postgres has {expected_count} rows: not swapping {alias!r}"
        )
    return loaded


def _swap_alias(client: OpenSearch, alias: str, previous: list[str], index: str) -> None:
    """Point the alias from ``previous`` to ``index`` in one atomic ``_aliases`` call.

    A call that fails may have been applied all the same (it timed out on the client while
    the cluster applied it), so the alias is read back, and the error raised only if it does
    not serve ``index``. Either way the caller must not delete ``index`` then: it may be live,
    or go live once the cluster gets to the request; the next index step deletes it if not.
    """
    actions = [{"remove": {"index": old, "alias": alias}} for old in previous]
    actions.append({"add": {"index": index, "alias": alias}})
    try:
        client.indices.update_aliases(body={"actions": actions})
    except Exception:
        if not _serves(client, alias, index):
            raise


def _serves(client: OpenSearch, alias: str, index: str) -> bool:
    """Whether the alias points at ``index`` alone, once the cluster has applied the changes queued so far."""
    with contextlib.suppress(Exception):
        # A swap still queued on the cluster manager would otherwise be read as refused.
        client.cluster.health(wait_for_events="languid", timeout="30s")
    try:
        return live_indices(client, alias) == [index]
    except Exception:
        return False


def _discard(client: OpenSearch, index: str) -> None:
    """Delete a version that never went live; if that fails too, the next index step deletes it."""
    with contextlib.suppress(Exception):
        client.indices.delete(index=index, ignore_unavailable=True)


def _delete_superseded(client: OpenSearch, alias: str, live: str, previous: list[str]) -> list[str]:
    # The index that was live until now is the rollback target, even if a failed build is newer.
    deleted = indices_to_delete(alias, _versions(client, alias), live=live, keep_previous=1, protect=previous)
    if deleted:
        client.indices.delete(index=",".join(deleted))
    return deleted


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
    index = next_version_name(alias, now, token, _versions(client, alias))
    client.indices.create(index=index, body=definition.create_body(replicas=0, refresh_interval="-1"))
    try:
        stats = bulk_write(
            client, ({"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}
                     for doc_id, source in documents),
            policy,
        )
        client.indices.put_settings(index=index, body=serving_settings(replicas=replicas))
        loaded = _verify_count(client, index, alias, expected_count)
        previous = live_indices(client, alias)
    except BaseException:
        _discard(client, index)
        raise
    _swap_alias(client, alias, previous, index)  # outside the try: once sent, the new version may be live
    deleted = _delete_superseded(client, alias, index, previous)
    return RebuildResult(index, previous, deleted, loaded, stats, round(time.perf_counter() - started, 3))


def clone_index(client: OpenSearch, source: str, target: str) -> None:
    """``target`` as a copy of ``source`` (its segments hard-linked), writable, in loading settings.

    ``_clone`` needs the source write-blocked; the block is lifted again right after.
    """
    client.indices.put_settings(index=source, body={"index.blocks.write": True})
    try:
        response = client.indices.clone(
            index=source, target=target,
            body={
                "settings": {"index.blocks.write": False, "index.refresh_interval": "-1", "index.number_of_replicas": 0}
            },
            wait_for_active_shards=1,
        )
    finally:
        client.indices.put_settings(index=source, body={"index.blocks.write": None})
    if not response.get("shards_acknowledged"):
        _discard(client, target)
        raise IndexRebuildError(f"the clone {target} of {source} did not start in time")


def apply_changes(
    client: OpenSearch,
    alias: str,
    upserts: Iterable[tuple[str, dict | str]],
    upsert_count: int,
    deletes: Sequence[str],
    expected_count: int,
    *,
    policy: BulkPolicy,
    replicas: int,
    now: datetime,
    token: str,
) -> UpdateResult:
    """Index ``upserts`` (whole documents, ``upsert_count`` of them, consumed as they are sent) and
    delete ``deletes`` on a clone of the live index, then verify its count and swap the alias to it:
    readers see none of the changes or all of them."""
    live = live_indices(client, alias)
    if len(live) != 1:
        raise IndexRebuildError(f"alias {alias!r} points at {live or 'no index'}: run full_refresh to rebuild it")
    previous = live[0]
    if not upsert_count and not deletes:
        return UpdateResult(previous, previous, [], expected_count, BulkStats(), 0.0)
    index = next_version_name(alias, now, token, _versions(client, alias))
    started = time.perf_counter()
    clone_index(client, previous, index)
    clone_seconds = round(time.perf_counter() - started, 3)
    try:
        actions = itertools.chain(
            ({"_op_type": "index", "_index": index, "_id": doc_id, "_source": source} for doc_id, source in upserts),
            ({"_op_type": "delete", "_index": index, "_id": doc_id} for doc_id in deletes),
        )
        stats = bulk_write(client, actions, policy)
        client.indices.put_settings(index=index, body=serving_settings(replicas=replicas))
        documents = _verify_count(client, index, alias, expected_count)
    except BaseException:
        _discard(client, index)
        raise
    _swap_alias(client, alias, [previous], index)  # outside the try: once sent, the new version may be live
    deleted = _delete_superseded(client, alias, index, [previous])
    return UpdateResult(index, previous, deleted, documents, stats, clone_seconds)


def indexed_values(client: OpenSearch, alias: str, field: str, ids: Sequence[str]) -> dict[str, str]:
    """``field`` of the documents with these ids, where indexed and set (fetched by id, 1,000 at a time)."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 1_000):
        body = {"ids": list(ids[start:start + 1_000])}
        for doc in client.mget(index=alias, body=body, _source=[field])["docs"]:
            value = doc.get("_source", {}).get(field) if doc.get("found") else None
            if value is not None:
                found[doc["_id"]] = value
    return found


def rollback(client: OpenSearch, alias: str, to_index: str | None = None) -> str:
    """Point the alias at ``to_index`` (default: the newest older version); returns it."""
    live = live_indices(client, alias)
    versions = _versions(client, alias)
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
