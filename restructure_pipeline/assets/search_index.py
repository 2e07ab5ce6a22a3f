"""``opensearch_companies``, ``opensearch_prospects``, ``opensearch_company_prospect_view``.

``full_refresh`` rebuilds each alias on a new versioned index from one Postgres snapshot
and swaps it in atomically; ``ingest_drop`` applies the outbox (what the company and
prospect steps changed since the index's last sync) to a clone of the live index and swaps
that in instead. Each step first deletes the versions killed runs left behind. The view's
index goes only as far as the view's last refresh: later changes wait for the next one.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import psycopg
from opensearchpy import OpenSearch
from psycopg import sql

from restructure_pipeline.assets.metadata import markdown_table
from restructure_pipeline.assets.view import company_prospect_view
from restructure_pipeline.automation.partitions import FULL_REFRESH, REFRESH_TAG, SINGLE_RUN
from restructure_pipeline.resources import OpenSearchResource, PostgresResource
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.search_index.bulk import BulkPolicy
from restructure_pipeline.search_index.indices import (
    apply_changes,
    delete_orphaned_versions,
    indexed_values,
    live_indices,
    mapping_is_current,
    rebuild_index,
)
from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS, IndexDefinition
from restructure_pipeline.search_index.naming import alias_name, validate_prefix
from restructure_pipeline.store import search_sync

_STREAM_ROWS = 5_000


def bulk_policy(opensearch: OpenSearchResource) -> BulkPolicy:
    return BulkPolicy(
        chunk_docs=opensearch.bulk_chunk_docs,
        max_attempts=opensearch.bulk_max_attempts,
        initial_backoff_seconds=opensearch.bulk_initial_backoff_seconds,
        max_backoff_seconds=opensearch.bulk_max_backoff_seconds,
    )


def _rebuild(
    context: dg.AssetExecutionContext, definition: IndexDefinition, alias: str,
    postgres: PostgresResource, opensearch: OpenSearchResource, client: OpenSearch,
) -> dict[str, object]:
    with postgres.connect() as conn, search_sync.snapshot(conn):
        position = search_sync.source_position(conn, definition.logical_name)
        pending = search_sync.entries_after(conn, position)
        expected = search_sync.count_rows(conn, definition.logical_name)
        result = rebuild_index(
            client, definition, alias,
            search_sync.iter_documents(conn, definition, _STREAM_ROWS),
            expected, policy=bulk_policy(opensearch), replicas=opensearch.replicas,
            now=datetime.now(UTC), token=context.run.run_id[:8],
        )
    with postgres.connect() as conn:
        search_sync.save_sync_state(conn, alias, result.index, position)
    context.log.info(f"Rebuilt {alias} on {result.index} ({result.documents} documents); deleted {result.deleted}")
    _log_pending(context, alias, pending)
    return {
        "mode": "rebuild",
        "outbox_position": position,
        "outbox_entries_pending": pending,
        "live_index": result.index,
        "previous_index": ", ".join(result.previous) or "none",
        "deleted_indices": ", ".join(result.deleted) or "none",
        "documents_indexed": result.bulk.succeeded,
        "bulk_chunks": result.bulk.chunks,
        "bulk_retries": result.bulk.retries,
        "docs_per_second": round(result.documents / result.seconds, 1) if result.seconds else 0.0,
    }


@dataclass
class _Changes:
    """What an incremental update sends: ``upserts`` streams from the open snapshot."""

    upserts: Iterator[search_sync.Document]
    upsert_count: int
    deletes: list[str]


def _changes(
    conn: psycopg.Connection, client, definition: IndexDefinition, alias: str, companies: list[str], prospects: list[str]
) -> _Changes:
    """Documents to upsert and ids to delete so the live index matches Postgres for these entities.

    Proportional to the change: for the view, a changed company's rows (they repeat its
    columns), each changed prospect's own row, and the company-only row of the companies a
    prospect joined or left (a company has one exactly while it has no prospect). The
    documents are streamed, not held: a changed large company alone has tens of thousands.
    Only the ids the outbox names are held, so memory follows the drop, not the companies.
    """
    if definition.logical_name in ("companies", "prospects"):
        ids = companies if definition.logical_name == "companies" else prospects
        condition, params = sql.SQL("id = ANY(%s)"), (ids,)
        candidates = ids
    else:
        left = indexed_values(client, alias, "company_id", prospects)  # a prospect row's id is the prospect id
        joined_or_left = sorted((set(search_sync.companies_of_prospects(conn, prospects)) | set(left.values())) - set(companies))
        condition = sql.SQL(
            "company_id = ANY(%s) OR prospect_id = ANY(%s) OR (prospect_id IS NULL AND company_id = ANY(%s))"
        )
        params = (companies, prospects, joined_or_left)
        # Every document a change can remove has one of these ids: a prospect that was deleted or left its
        # company is in the outbox itself, and a company-only row has its company's id.
        candidates = [*companies, *prospects, *joined_or_left]
    deletes = sorted(set(candidates) - set(search_sync.existing_document_ids(conn, definition, candidates)))
    upserts = search_sync.iter_documents_where(conn, definition, condition, params, _STREAM_ROWS)
    return _Changes(upserts, search_sync.count_where(conn, definition, condition, params), deletes)


def _apply_outbox(
    context: dg.AssetExecutionContext, definition: IndexDefinition, alias: str,
    postgres: PostgresResource, opensearch: OpenSearchResource, client: OpenSearch, state: search_sync.SyncState,
) -> dict[str, object]:
    # The documents stream from the snapshot while they are sent, as a rebuild's do.
    with postgres.connect() as conn, search_sync.snapshot(conn):
        position = search_sync.source_position(conn, definition.logical_name)
        pending = search_sync.entries_after(conn, position)
        companies, prospects = search_sync.changed_ids(conn, state.synced_seq, position)
        changes = _changes(conn, client, definition, alias, companies, prospects)
        expected = search_sync.count_rows(conn, definition.logical_name)
        result = apply_changes(
            client, alias, changes.upserts, changes.upsert_count, changes.deletes, expected,
            policy=bulk_policy(opensearch), replicas=opensearch.replicas, now=datetime.now(UTC),
            token=context.run.run_id[:8],
        )
    with postgres.connect() as conn:
        search_sync.save_sync_state(conn, alias, result.index, position)
    context.log.info(
        f"Updated {alias} on {result.index} (a clone of {result.previous}): {changes.upsert_count} upserted, "
        f"{len(changes.deletes)} deleted; deleted {result.deleted}"
    )
    _log_pending(context, alias, pending)
    return {
        "mode": "incremental",
        "outbox_position": position,
        "outbox_entries_pending": pending,
        "live_index": result.index,
        "previous_index": result.previous,
        "deleted_indices": ", ".join(result.deleted) or "none",
        "documents_upserted": changes.upsert_count,
        "documents_deleted": len(changes.deletes),
        "clone_seconds": result.clone_seconds,
        "bulk_retries": result.bulk.retries,
    }


def _log_pending(context: dg.AssetExecutionContext, alias: str, pending: int) -> None:
    if pending:  # only the view's index leaves entries: they were committed after the view's last refresh
        context.log.info(f"{alias}: {pending} outbox entries wait for the next refresh of the view")


def build_search_index_asset(definition: IndexDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"opensearch_{definition.logical_name}",
        deps=[company_prospect_view],
        backfill_policy=SINGLE_RUN,
        group_name="search",
        kinds={"opensearch"},
        description=(
            f"OpenSearch alias '{definition.logical_name}' (with OPENSEARCH_INDEX_PREFIX): rebuilt on a new "
            "versioned index by full_refresh, updated in place from the outbox by ingest_drop."
        ),
    )
    def search_index_asset(
        context: dg.AssetExecutionContext, postgres: PostgresResource, opensearch: OpenSearchResource
    ) -> dg.MaterializeResult:
        started = time.perf_counter()
        alias = alias_name(definition.logical_name, validate_prefix(opensearch.index_prefix))
        client = opensearch.client()
        with postgres.connect() as lock_conn:
            apply_migrations(lock_conn)
            with search_sync.search_lock(lock_conn):
                orphans = delete_orphaned_versions(client, alias)
                if orphans:
                    context.log.warning(f"Deleted versions of {alias} left by killed runs: {', '.join(orphans)}")
                state = search_sync.sync_state(lock_conn, alias)
                full = context.run.tags.get(REFRESH_TAG) == FULL_REFRESH
                live = live_indices(client, alias)
                # A clone keeps the live mapping: a changed index definition needs a rebuild.
                stale_mapping = bool(live) and not mapping_is_current(client, alias, definition)
                if stale_mapping:
                    context.log.info(f"{alias}: the live mapping is not the declared one ({definition.fingerprint}); rebuilding")
                if full or state is None or state.live_index not in live or stale_mapping:
                    metadata = _rebuild(context, definition, alias, postgres, opensearch, client)
                else:
                    metadata = _apply_outbox(context, definition, alias, postgres, opensearch, client, state)
                documents = client.count(index=alias)["count"]
        metadata.update(
            {
                "dagster/row_count": documents,
                "alias": alias,
                "orphaned_indices_deleted": ", ".join(orphans) or "none",
                "request_retries": client.transport.retries,
                "duration_seconds": round(time.perf_counter() - started, 3),
                "mapping_fields": markdown_table(
                    ["field", "type"],
                    [(field, spec.get("type", "object")) for field, spec in definition.mappings["properties"].items()],
                ),
            }
        )
        return dg.MaterializeResult(metadata=metadata)

    return search_index_asset


SEARCH_INDEX_ASSETS = [build_search_index_asset(definition) for definition in INDEX_DEFINITIONS]
