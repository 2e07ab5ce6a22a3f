"""The drop sensor: each new, completely written CSV drop becomes a partition and a run.

A file is complete when a ``<name>.ready`` marker no older than the file sits next to it, or
when its size and modification time are the same on two consecutive ticks; a marker older than
the file is left over from an earlier version and does not count. The cursor remembers what was
submitted (by size and mtime), so restarts of the daemon never submit a file twice, and a
file rewritten later is ingested again. The sensor never reads file contents: a bad file
fails its own run with a clear message and the sensor carries on; a file whose name is not
valid UTF-8 cannot be a partition key, so it is skipped with a warning until it is renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import dagster as dg

from restructure_pipeline.automation.jobs import ingest_drop
from restructure_pipeline.automation.launch import keyed_drop_files
from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, LEGACY_PARTITION
from restructure_pipeline.resources import PipelineSettings

READY_SUFFIX = ".ready"


@dataclass
class DropCursor:
    """What the sensor saw last tick (``pending``) and what it already submitted."""

    pending: dict[str, list[int]] = field(default_factory=dict)
    submitted: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> DropCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(pending=data.get("pending", {}), submitted=data.get("submitted", {}))

    def dump(self) -> str:
        return json.dumps({"pending": self.pending, "submitted": self.submitted}, sort_keys=True)


@dataclass(frozen=True)
class DropDecision:
    run_requests: list[dg.RunRequest]
    new_partitions: list[str]
    cursor: DropCursor


def decide_drops(
    files: list[tuple], cursor: DropCursor, known_partitions: set[str]
) -> DropDecision:
    """Pure decision for one tick: ``files`` are (partition key, size, mtime_ns[, ready marker's mtime_ns or None]).

    A marker counts only when it is at least as new as the file; with an older one the file
    passes the two-tick stability test like any other.
    """
    requests: list[dg.RunRequest] = []
    new_partitions: list[str] = []
    pending: dict[str, list[int]] = {}
    submitted = dict(cursor.submitted)
    for key, size, mtime_ns, *marker in files:
        marker_mtime_ns = marker[0] if marker else None
        # a marker older than the file was left by an earlier version: the new one may still be written
        ready_marker = marker_mtime_ns is not None and marker_mtime_ns >= mtime_ns
        signature = [size, mtime_ns]
        if submitted.get(key) == signature:
            continue
        stable = cursor.pending.get(key) == signature
        if not (ready_marker or stable):
            pending[key] = signature
            continue
        if key not in known_partitions:
            new_partitions.append(key)
        requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}@{size}:{mtime_ns}", tags={"restructure/drop": key}))
        submitted[key] = signature
    return DropDecision(requests, new_partitions, DropCursor(pending=pending, submitted=submitted))


def _scan(drop_dir) -> tuple[list[tuple[str, int, int, int | None]], list[str]]:
    files = []
    keyed, problems = keyed_drop_files(drop_dir)
    for path, key in keyed:
        try:
            stat = path.stat()
            marker = path.parent / (path.name + READY_SUFFIX)
            marker_mtime_ns = marker.stat().st_mtime_ns if marker.exists() else None
            files.append((key, stat.st_size, stat.st_mtime_ns, marker_mtime_ns))
        except OSError as error:  # vanished or unreadable between listing and stat: next tick decides
            problems.append(f"{path}: {error}")
    return files, problems


@dg.sensor(
    job=ingest_drop,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new, completely written CSV drop as a partition and requests its ingest_drop run.",
)
def drop_sensor(context: dg.SensorEvaluationContext, settings: PipelineSettings) -> dg.SensorResult:
    drop_dir = settings.resolved_drop_dir()
    if not drop_dir.is_dir():
        return dg.SensorResult(skip_reason=f"drop folder {drop_dir} does not exist", cursor=context.cursor)
    files, problems = _scan(drop_dir)
    for problem in problems:
        context.log.warning(problem)
    known = set(context.instance.get_dynamic_partitions(CUSTOMER_SOURCES.name))
    decision = decide_drops(files, DropCursor.parse(context.cursor), known)
    partitions = list(decision.new_partitions)
    if LEGACY_PARTITION not in known:
        partitions.insert(0, LEGACY_PARTITION)  # the nightly full refresh always covers the legacy table
    return dg.SensorResult(
        run_requests=decision.run_requests,
        dynamic_partitions_requests=[CUSTOMER_SOURCES.build_add_request(partitions)] if partitions else [],
        cursor=decision.cursor.dump(),
        skip_reason=None if decision.run_requests else f"no new complete drop in {drop_dir}",
    )


__all__ = ["READY_SUFFIX", "DropCursor", "decide_drops", "drop_sensor"]
