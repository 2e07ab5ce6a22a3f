"""``customer_extract``: stage one partition per source (the legacy table, or one drop file).

Reads the source in chunks, decides every record with the identity rules (the next chunk
on a worker thread while Postgres takes this one), and replaces the source's rows in
``restructure.source_record``, queueing what changed for the company and prospect steps.
A run stages all its sources in a single transaction (a full refresh, or a backfill of
several drops in one run): one unreadable drop leaves every source as it was. A full refresh
then queues everything once.
"""

import contextlib
import time

import dagster as dg
import psycopg

from restructure_pipeline.assets.metadata import markdown_table
from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, FULL_REFRESH, REFRESH_TAG, SINGLE_RUN
from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.prefetch import prefetched
from restructure_pipeline.resources import PipelineSettings, PostgresResource
from restructure_pipeline.schema import apply_migrations
from restructure_pipeline.sources.drops import DropReader, check_drop_unchanged, drop_fingerprint, resolve_drop_path
from restructure_pipeline.sources.legacy import (
    LEGACY_PARTITION,
    begin_legacy_read,
    count_legacy_rows,
    iter_legacy_chunks,
    legacy_table_exists,
    record_legacy_read,
)
from restructure_pipeline.sources.staging_rows import staging_rows
from restructure_pipeline.store.drops import drop_registration, save_drop
from restructure_pipeline.store.staging import StageResult, queue_everything, stage_source, staged_counts


def _stage_legacy(
    context: dg.AssetExecutionContext, postgres: PostgresResource, writer: psycopg.Connection, lists: DomainLists,
    chunk_rows: int, queue: bool,
) -> StageResult | None:
    with postgres.connect() as reader, reader.transaction():
        # One snapshot for the read, recorded with the staged rows: the check of the extract
        # then tells rows the app wrote since from rows staging lost.
        snapshot = begin_legacy_read(reader)
        if not legacy_table_exists(reader):
            context.log.warning('No "Customer" table: keeping the legacy rows staged earlier (it may have been cleaned up).')
            return None
        frames = prefetched(
            staging_rows(chunk, source=LEGACY_PARTITION, source_seq=0, lists=lists)
            for chunk in iter_legacy_chunks(reader, chunk_rows)
        )
        with contextlib.closing(frames):  # on a failure, the worker stops before the reader closes
            return stage_source(
                writer, LEGACY_PARTITION, frames, queue=queue,
                before_commit=lambda tx, _rows: record_legacy_read(tx, snapshot),
            )


def _stage_drop(
    context: dg.AssetExecutionContext, conn: psycopg.Connection, settings: PipelineSettings, lists: DomainLists,
    partition_key: str, queue: bool,
) -> tuple[StageResult | None, list[str]]:
    path = resolve_drop_path(settings.resolved_drop_dir(), partition_key)
    if not path.exists():
        context.log.warning(f"Drop {partition_key} is no longer on disk: keeping the rows staged from it earlier.")
        return None, []
    registration = drop_registration(conn, partition_key)
    fingerprint = drop_fingerprint(path)  # before reading: what the staged rows must come from
    reader = DropReader(path, settings.drop_external_source, settings.chunk_rows)
    frames = prefetched(
        staging_rows(
            chunk, source=partition_key, source_seq=registration.seq, lists=lists,
            observed_at=registration.registered_at, default_external_source=settings.drop_external_source,
        )
        for chunk in reader.chunks()
    )

    def record_drop(tx: psycopg.Connection, rows: int) -> None:
        check_drop_unchanged(path, fingerprint)  # the rows read are the file recorded, or nothing is written
        save_drop(tx, registration, str(path), fingerprint.size, fingerprint.sha256, rows)

    with contextlib.closing(frames):
        result = stage_source(conn, partition_key, frames, before_commit=record_drop, queue=queue)
    unknown = reader.header.unknown_columns if reader.header else []
    if unknown:
        context.log.warning(f"Drop {partition_key}: unknown columns ignored: {', '.join(unknown)}")
    return result, unknown


@dg.asset(
    partitions_def=CUSTOMER_SOURCES,
    backfill_policy=SINGLE_RUN,
    group_name="restructure",
    kinds={"postgres", "polars"},
    description=(
        "Every input row (legacy Customer table and CSV drops), cleaned and classified by the identity rules, "
        "in restructure.source_record. One partition per source."
    ),
)
def customer_extract(
    context: dg.AssetExecutionContext, postgres: PostgresResource, settings: PipelineSettings
) -> dg.MaterializeResult:
    started = time.perf_counter()
    lists = settings.domain_lists()
    with postgres.connect() as conn:
        applied = apply_migrations(conn)
    if applied:
        context.log.info(f"Applied migrations: {', '.join(f'{m.version:04d}_{m.name}' for m in applied)}")

    full_refresh = context.run.tags.get(REFRESH_TAG) == FULL_REFRESH
    staged: list[StageResult] = []
    unknown_columns: dict[str, list[str]] = {}
    with postgres.connect() as conn:
        # All the run's sources in one transaction: a failure in any leaves every one as it was.
        # A full refresh recomputes everything anyway: its sources are staged without queueing
        # what changed, then everything is queued once.
        with conn.transaction():
            for partition_key in context.partition_keys:
                if partition_key == LEGACY_PARTITION:
                    result = _stage_legacy(context, postgres, conn, lists, settings.chunk_rows, queue=not full_refresh)
                else:
                    result, unknown = _stage_drop(context, conn, settings, lists, partition_key, queue=not full_refresh)
                    if unknown:
                        unknown_columns[partition_key] = unknown
                if result is not None:
                    staged.append(result)
                    context.log.info(f"Staged {result.source}: {result.rows} rows, {result.changed} new or changed, "
                                     f"{result.removed} removed")
            if full_refresh:
                queue_everything(conn)
        # What the run materialized: every source for a full refresh, else the run's partitions.
        per_source, problems = staged_counts(conn, None if full_refresh else list(context.partition_keys))
        stages_legacy = LEGACY_PARTITION in context.partition_keys
        legacy_rows = count_legacy_rows(conn) if stages_legacy and legacy_table_exists(conn) else None
    total = sum(per_source.values())
    metadata: dict[str, object] = {
        "dagster/row_count": total,
        "rows_read": sum(result.rows for result in staged),
        "rows_new_or_changed": sum(result.changed for result in staged),
        "rows_removed": sum(result.removed for result in staged),
        "full_refresh": full_refresh,
        "staged_rows_by_source": markdown_table(["source", "rows"], sorted(per_source.items())),
        "current_rows_by_record_problem": markdown_table(["record_problem", "rows"], sorted(problems.items())),
        "duration_seconds": round(time.perf_counter() - started, 3),
    }
    if legacy_rows is not None:
        metadata["legacy_customer_rows"] = legacy_rows
    if unknown_columns:
        metadata["unknown_columns"] = dg.MetadataValue.json(unknown_columns)
    return dg.MaterializeResult(metadata=metadata)
