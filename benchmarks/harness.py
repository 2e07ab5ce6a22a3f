"""The benchmark of issue 5: N generated legacy customers through the real jobs, against same-run baselines.

:func:`run_benchmark` does, on services of its own (a fresh embedded Postgres and local
OpenSearch node in a temporary state folder, on free ports):

1. **setup** (timed, not a stage), in a separate process so that the generator's memory
   never counts as the pipeline's: ``"Customer"`` created as Prisma does, N rows of
   :mod:`restructure_pipeline.sample_data` streamed in chunks with COPY, ``VACUUM
   ANALYZE``; a drop of N/100 rows (half updates of legacy people, half new people, some
   at new companies) written as a CSV outside the drop folder;
2. the real ``full_refresh`` job through Dagster (``execute_in_process`` on a temporary
   instance, resources pointing at the benchmark's database and node, ``replicas=0``),
   per-stage times from the run's ``STEP_START``/``STEP_SUCCESS`` events, and the peak RSS
   of this process and its children (the services excluded) sampled every 50 ms;
3. the drop moved into the drop folder and the real ``ingest_drop`` job on its
   partition, measured the same way;
4. the baselines of :mod:`benchmarks.baselines` on the same rows and services;
5. the report (:mod:`benchmarks.report`) written as ``benchmark-<rows>.json`` and
   ``benchmark-<rows>.md`` in ``out_dir``.

``python -m benchmarks.harness --rows 20000 --out /tmp/bench`` (or ``main(argv)``) runs it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import logging
import multiprocessing
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import psutil
import psycopg

from benchmarks import baselines
from benchmarks.report import (
    OPENSEARCH_STAGES,
    STAGES,
    build_report,
    latency_summary,
    query_comparison,
    render_json,
    render_markdown,
)

logger = logging.getLogger("benchmarks")

DATABASE_NAME = "benchmark"
DROP_FILE_NAME = "benchmark_drop.csv"
LOAD_CHUNK_ROWS = 200_000
RSS_SAMPLE_SECONDS = 0.05
# Listing child processes reads all of /proc: done once a second, their RSS every sample.
CHILDREN_REFRESH_SECONDS = 1.0
MIN_ROWS = 100
# Documents indexed into a throwaway index before the runs, so JIT warm-up counts against no one.
WARM_UP_DOCUMENTS = 50_000
DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "results"
# Dagster logs every event at DEBUG on the console; the benchmark only wants problems.
_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class BenchmarkError(RuntimeError):
    """The benchmark could not produce a trustworthy report (a run failed, a count is off...)."""


# --------------------------------------------------------------------------- memory


class PeakRss:
    """Samples the RSS of this process plus its children every ``interval`` seconds in a thread.

    Processes under ``exclude_pids`` (the services, which may be our children: the
    OpenSearch node is spawned by this process) are left out with all their descendants.
    The sum of RSS counts pages shared between processes once per process.
    """

    def __init__(self, exclude_pids: Iterable[int] = (), interval: float = RSS_SAMPLE_SECONDS) -> None:
        self._me = psutil.Process()
        self._exclude_roots = {pid for pid in exclude_pids if pid}
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_bytes = 0
        self.samples: list[tuple[float, int]] = []  # (time.time(), bytes): matched to step windows later

    def _children(self) -> list[psutil.Process]:
        excluded: set[int] = set()
        for pid in self._exclude_roots:
            try:
                root = psutil.Process(pid)
                excluded.add(pid)
                excluded.update(child.pid for child in root.children(recursive=True))
            except psutil.Error:
                continue
        try:
            children = self._me.children(recursive=True)
        except psutil.Error:
            return []
        return [child for child in children if child.pid not in excluded]

    def sample(self, children: Sequence[psutil.Process]) -> int:
        total = self._me.memory_info().rss
        for child in children:
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        self.peak_bytes = max(self.peak_bytes, total)
        self.samples.append((time.time(), total))
        return total

    def peak_mb_between(self, start: float, end: float) -> float | None:
        """Peak of the samples taken within [start, end] (``time.time()`` values) and of the one
        just before ``start`` (the memory the step began with), in MB."""
        inside = [total for at, total in self.samples if start <= at <= end]
        before = [total for at, total in self.samples if at < start]
        if before:
            inside.append(before[-1])
        return max(inside) / (1024 * 1024) if inside else None

    def _run(self) -> None:
        children = self._children()
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed >= CHILDREN_REFRESH_SECONDS:
                children, refreshed = self._children(), time.monotonic()
            self.sample(children)
            self._stop.wait(self._interval)

    def __enter__(self) -> Self:
        self.sample(self._children())
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample(self._children())

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / (1024 * 1024)


def current_rss_mb() -> float:
    return psutil.Process().memory_info().rss / (1024 * 1024)


# --------------------------------------------------------------------------- setup (own process)


def prepare_legacy_data(database_url: str, rows: int, seed: int, drop_rows: int, drop_path: str) -> dict:
    """Load N customers and write the drop CSV; runs in a child process. Returns timings and counts."""
    import polars as pl

    from restructure_pipeline.sample_data import (
        create_legacy_table,
        generate_drop,
        iter_customer_chunks,
        load_customers,
        write_drop_csv,
    )

    n_update = round(drop_rows * 0.5)
    # A deterministic sample of the legacy rows for the drop's updates, a few times larger than needed.
    sample_target = min(rows, max(4 * n_update, 10_000))
    step = max(1, rows // sample_target)
    sample: list[pl.DataFrame] = []
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_legacy_table(conn)
        for chunk in iter_customer_chunks(rows, seed, LOAD_CHUNK_ROWS):
            load_customers(conn, chunk)
            sample.append(chunk.gather_every(step))
        load_seconds = time.perf_counter() - started
        mark = time.perf_counter()
        conn.execute('VACUUM ANALYZE "Customer"')
        vacuum_seconds = time.perf_counter() - mark
        loaded = conn.execute('SELECT count(*) FROM "Customer"').fetchone()[0]
    mark = time.perf_counter()
    existing = pl.concat(sample)
    drop = generate_drop(drop_rows, seed=seed + 1, existing=existing)
    write_drop_csv(Path(drop_path), drop)
    drop_seconds = time.perf_counter() - mark
    return {
        "legacy_rows_loaded": loaded,
        "generate_and_load_seconds": round(load_seconds, 3),
        "vacuum_analyze_seconds": round(vacuum_seconds, 3),
        "drop_generate_seconds": round(drop_seconds, 3),
        "drop_update_sample_rows": existing.height,
    }


def _prepare_in_child(database_url: str, rows: int, seed: int, drop_rows: int, drop_path: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(prepare_legacy_data, database_url, rows, seed, drop_rows, str(drop_path)).result()


class Progress:
    """What a run has measured so far, rewritten to ``benchmark-<rows>.partial.json`` after each
    phase: a run stopped before its report (10M rows take over three hours) still leaves its
    numbers. The report replaces it."""

    def __init__(self, path: Path, header: dict) -> None:
        self.path = path
        self._data = {**header, "phases": {}}
        self._write()

    def record(self, phase: str, value: object) -> None:
        self._data["phases"][phase] = value
        self._write()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        written = self.path.with_name(self.path.name + ".tmp")
        written.write_text(json.dumps(self._data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(written, self.path)  # never a half-written file


# --------------------------------------------------------------------------- services


@contextmanager
def benchmark_services(keep: bool) -> Iterator[tuple[object, object, Path]]:
    """A fresh embedded Postgres and local OpenSearch in a new state folder; stopped (and removed) after, unless ``keep``."""
    from restructure_pipeline.services.opensearch import LocalOpenSearch
    from restructure_pipeline.services.postgres import EmbeddedPostgres, free_port

    state = Path(tempfile.mkdtemp(prefix="restructure-bench-"))
    state.chmod(0o755)  # the services run as unprivileged accounts when we are root
    postgres = EmbeddedPostgres(state / "postgres", port=free_port())
    node = LocalOpenSearch(state / "opensearch", port=free_port())
    try:
        yield postgres, node, state
    finally:
        if not keep:
            for stop in (node.stop, postgres.stop):
                try:
                    stop()
                except Exception:
                    logger.exception("could not stop a benchmark service")
            shutil.rmtree(state, ignore_errors=True)


def code_version() -> str:
    """The commit the benchmarked code comes from (``git describe``, ``-dirty`` with local changes)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, check=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return described.stdout.strip()


def machine_info(database_url: str, client, node) -> dict:
    import dagster
    import polars

    from restructure_pipeline.services.opensearch import find_java, java_major_version

    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size", "synchronous_commit")
        }
    try:
        java = java_major_version(find_java())
    except Exception:  # noqa: BLE001 - informative only
        java = None
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": version,
        "postgres_settings": settings,
        "opensearch": client.info()["version"]["number"],
        "opensearch_heap": node.heap,
        "java": java,
        "dagster": dagster.__version__,
        "polars": polars.__version__,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


# --------------------------------------------------------------------------- runs


def _run_events(instance, run_id: str) -> list:
    return [entry for entry in instance.all_logs(run_id) if entry.dagster_event is not None]


def run_timings(instance, run_id: str) -> tuple[dict[str, tuple[float, float]], dict[str, float], float]:
    """((start, end) per asset stage, seconds per check step, run wall seconds) from the run's event log.

    Times are the event log's ``time.time()`` timestamps of ``STEP_START`` and ``STEP_SUCCESS``.
    """
    from dagster import DagsterEventType

    started: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    run_start = run_end = None
    for entry in _run_events(instance, run_id):
        event = entry.dagster_event
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and event.step_key in started:
            windows[event.step_key] = (started[event.step_key], entry.timestamp)
    if run_start is None or run_end is None:
        raise BenchmarkError(f"run {run_id} has no start or end event")
    stages = {step: window for step, window in windows.items() if step in STAGES}
    checks = {step: end - start for step, (start, end) in windows.items() if step not in STAGES}
    return stages, checks, run_end - run_start


def _materialized_rows(result) -> dict[str, int | None]:
    rows: dict[str, int | None] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            value = materialization.metadata.get("dagster/row_count")
            rows[materialization.asset_key.to_user_string()] = int(value.value) if value is not None else None
    return rows


def _index_updates(result) -> dict[str, dict[str, int]]:
    """Documents upserted and deleted by each index stage that updated its alias in place."""
    updates: dict[str, dict[str, int]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            metadata = materialization.metadata
            if "documents_upserted" in metadata:
                updates[materialization.asset_key.to_user_string()] = {
                    "upserted": int(metadata["documents_upserted"].value),
                    "deleted": int(metadata["documents_deleted"].value) if "documents_deleted" in metadata else 0,
                }
    return updates


def _check_outcomes(result) -> tuple[int, list[str]]:
    passed, failed = 0, []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.passed:
                passed += 1
            else:
                failed.append(f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}")
    return passed, failed


def _require_success(result, job: str) -> None:
    if result.success:
        return
    failures = [
        f"{event.step_key}: {event.event_specific_data.error.message.strip()}"
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    _, failed_checks = _check_outcomes(result)
    raise BenchmarkError(f"{job} failed: " + "; ".join(failures + [f"check {name} failed" for name in failed_checks]))


def _measured_run(job_name: str, execute, exclude_pids: Sequence[int], instance) -> tuple[object, dict, dict, dict]:
    gc.collect()
    logger.info("Running %s ...", job_name)
    with PeakRss(exclude_pids) as rss:
        result = execute()
    _require_success(result, job_name)
    windows, check_steps, wall = run_timings(instance, result.run_id)
    missing = [stage for stage in STAGES if stage not in windows]
    if missing:
        raise BenchmarkError(f"{job_name} did not run the stages {missing}")
    stages = {stage: end - start for stage, (start, end) in windows.items()}
    stage_rss = {stage: rss.peak_mb_between(start, end) for stage, (start, end) in windows.items()}
    passed, failed = _check_outcomes(result)
    run = {
        "run_id": result.run_id,
        "wall_seconds": wall,
        "check_steps": check_steps,
        "peak_rss_mb": rss.peak_mb,
        "checks_passed": passed,
        "checks_failed": failed,
        "stage_peak_rss_mb": stage_rss,
        "index_updates": _index_updates(result),
    }
    logger.info("%s: %.1f s wall, peak RSS %.0f MB", job_name, wall, rss.peak_mb)
    return result, stages, _materialized_rows(result), run


def _output_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        def count(relation: str) -> int:
            return conn.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]

        counts = {
            "legacy_rows": count('"Customer"'),
            "staged_rows": count("restructure.source_record"),
            "companies": count('"Company"'),
            "prospects": count('"Prospect"'),
            "quarantined": count("restructure.customer_quarantine"),
            "view_rows": count("company_prospect_view"),
        }
    counts["opensearch_documents"] = counts["companies"] + counts["prospects"] + counts["view_rows"]
    return counts


# --------------------------------------------------------------------------- the benchmark


def run_benchmark(
    rows: int, *, seed: int = 42, out_dir: Path, keep_services: bool = False, queries_repeat: int = 20
) -> dict:
    """Run the whole benchmark at ``rows`` legacy customers; write and return the report.

    Writes ``benchmark-<rows>.json`` and ``benchmark-<rows>.md`` into ``out_dir``. With
    ``keep_services`` the services keep running and the report's ``services`` says where
    (no secrets: the Postgres password stays in its state folder).
    """
    import dagster as dg

    from restructure_pipeline.automation.launch import (
        full_refresh_tags,
        register_sources,
    )
    from restructure_pipeline.definitions import build_definitions
    from restructure_pipeline.resources import (
        OpenSearchResource,
        PipelineSettings,
        PostgresResource,
    )
    from restructure_pipeline.sources.drops import drop_partition_key

    if rows < MIN_ROWS:
        raise ValueError(f"rows must be at least {MIN_ROWS}, got {rows}")
    if queries_repeat < 1:
        raise ValueError(f"queries_repeat must be >= 1, got {queries_repeat}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drop_rows = max(1, rows // 100)
    began = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    with benchmark_services(keep_services) as (postgres, node, state):
        drop_dir = state / "drops"
        drop_dir.mkdir()
        staged_drop = state / "drop_waiting" / DROP_FILE_NAME

        # OpenSearch takes the longest to start: let it boot while Postgres starts and the data loads.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as background:
            node_started = background.submit(node.start)
            logger.info("Starting Postgres in %s ...", state)
            postgres.start()
            database_url = postgres.ensure_database(DATABASE_NAME)
            logger.info("Generating and loading %s legacy customers ...", f"{rows:,}")
            setup = _prepare_in_child(database_url, rows, seed, drop_rows, staged_drop)
            logger.info("Loaded in %.1f s; waiting for OpenSearch ...", setup["generate_and_load_seconds"])
            node_started.result()
        if setup["legacy_rows_loaded"] != rows:
            raise BenchmarkError(f"loaded {setup['legacy_rows_loaded']} rows instead of {rows}")

        opensearch = OpenSearchResource(url=node.url, replicas=0)
        client = opensearch.client()
        machine = machine_info(database_url, client, node)
        logger.info("Warming up OpenSearch ...")
        setup.update(baselines.warm_up_opensearch(database_url, client, min(rows, WARM_UP_DOCUMENTS)))
        version = code_version()
        progress = Progress(
            partial_report_path(out_dir, rows),
            {"rows": rows, "seed": seed, "code_version": version, "started_at": started_at, "machine": machine,
             "setup": setup},
        )
        definitions = build_definitions(
            {
                "postgres": PostgresResource(database_url=database_url),
                "opensearch": opensearch,
                "settings": PipelineSettings(drop_dir=str(drop_dir)),
            }
        )
        service_pids = [pid for pid in (postgres.status().pid, node.status().pid) if pid]
        (state / "dagster_home").mkdir()
        instance = dg.DagsterInstance.local_temp(tempdir=str(state / "dagster_home"))
        try:
            setup["rss_before_runs_mb"] = round(current_rss_mb(), 1)
            keys = register_sources(instance, drop_dir)
            _, full_steps, full_outputs, full_run = _measured_run(
                "full_refresh",
                lambda: definitions.resolve_job_def("full_refresh").execute_in_process(
                    instance=instance, tags=full_refresh_tags(keys), run_config=_RUN_CONFIG, raise_on_error=False
                ),
                service_pids,
                instance,
            )
            outputs = _output_counts(database_url)
            progress.record("full_refresh", {"steps": full_steps, "outputs": full_outputs, "run": full_run, "tables": outputs})
            indexed = sum(full_outputs.get(stage) or 0 for stage in OPENSEARCH_STAGES)
            if indexed != outputs["opensearch_documents"]:
                raise BenchmarkError(f"the index stages report {indexed} documents, Postgres has "
                                     f"{outputs['opensearch_documents']} rows")

            drop_path = drop_dir / DROP_FILE_NAME
            os.replace(staged_drop, drop_path)
            partition = drop_partition_key(drop_path, drop_dir)
            register_sources(instance, drop_dir)
            _, drop_steps, drop_outputs, drop_run = _measured_run(
                "ingest_drop",
                lambda: definitions.resolve_job_def("ingest_drop").execute_in_process(
                    instance=instance, partition_key=partition, run_config=_RUN_CONFIG, raise_on_error=False
                ),
                service_pids,
                instance,
            )
            progress.record("ingest_drop", {"steps": drop_steps, "outputs": drop_outputs, "run": drop_run})
        finally:
            instance.dispose()

        logger.info("Baseline (a): COPY into a bare table ...")
        copies = baselines.copy_into_bare_table(database_url)
        progress.record("copy_baselines", copies)
        sql_variants = {}
        for variant in ("after_loading", "in_place"):
            logger.info("Baseline (b): pure-SQL restructure, indexes %s ...", variant.replace("_", " "))
            sql_variants[f"indexes_{variant}"] = baselines.sql_restructure(database_url, indexes=variant)
            progress.record("sql_restructure", sql_variants)
        baselines.drop_baseline_schema(database_url)
        logger.info("Baseline (c): raw streaming_bulk ...")
        bulk = baselines.raw_bulk(database_url, client)
        progress.record("raw_bulk", bulk)
        logger.info("Baseline (d): seed queries, %d runs each ...", queries_repeat)
        baselines.analyze_for_queries(database_url)
        _, measured = baselines.query_latencies(database_url, queries_repeat)

        queries = {
            name: query_comparison(
                part["description"], part["params"], part["sql"],
                old=latency_summary(*part["old"]), new=latency_summary(*part["new"]),
                view=latency_summary(*part["view"]),
            )
            for name, part in measured.items()
        }
        same_indexes = all(part["same_indexes_as_pipeline"] for part in sql_variants.values())
        report = build_report(
            rows=rows,
            seed=seed,
            drop_rows=drop_rows,
            queries_repeat=queries_repeat,
            code_version=version,
            machine=machine,
            setup=setup,
            full_refresh_steps=full_steps,
            full_refresh_outputs=full_outputs,
            full_refresh_run=full_run,
            ingest_drop_steps=drop_steps,
            ingest_drop_outputs=drop_outputs,
            ingest_drop_run=drop_run,
            outputs=outputs,
            baselines={
                **copies,
                "sql_restructure": {"aggregate": "mode", "same_indexes_as_pipeline": same_indexes, **sql_variants},
                "raw_bulk": bulk,
            },
            queries=queries,
            started_at=started_at,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_seconds=time.perf_counter() - began,
        )
        if keep_services:
            report["services"] = {
                "state_dir": str(state),
                "postgres_port": postgres.port,
                "postgres_database": DATABASE_NAME,
                "opensearch_url": node.url,
            }

    json_path, markdown_path = report_paths(out_dir, rows)
    json_path.write_text(render_json(report), encoding="utf-8")
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    progress.discard()
    logger.info("Report written to %s and %s", json_path, markdown_path)
    return report


def report_paths(out_dir: Path, rows: int) -> tuple[Path, Path]:
    return Path(out_dir) / f"benchmark-{rows}.json", Path(out_dir) / f"benchmark-{rows}.md"


def partial_report_path(out_dir: Path, rows: int) -> Path:
    return Path(out_dir) / f"benchmark-{rows}.partial.json"


# --------------------------------------------------------------------------- command line


def _summary(report: dict) -> str:
    ratios = report["ratios"]
    lines = [
        (f"rows {report['rows']:,}: full_refresh {report['runs']['full_refresh']['wall_seconds']:.1f} s, "
        f"ingest_drop {report['runs']['ingest_drop']['wall_seconds']:.1f} s, peak RSS {report['peak_rss_mb']:.0f} MB"),
        (f"postgres_vs_sql_baseline {ratios['postgres_vs_sql_baseline']}, "
        f"opensearch_vs_raw_bulk {ratios['opensearch_vs_raw_bulk']}, drop_vs_full_refresh {ratios['drop_vs_full_refresh']}"),
    ]
    for target in report["targets"]:
        state = "n/a" if target["met"] is None else ("met" if target["met"] else "MISSED")
        lines.append(f"  {target['name']}: {target['measured']} ({target['target']}): {state}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restructure-pipeline bench",
        description="Benchmark full_refresh and ingest_drop on N generated customers against same-run baselines.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="legacy customers to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help=f"report folder (default {DEFAULT_OUT_DIR})")
    parser.add_argument("--queries-repeat", type=int, default=20, help="timed runs per seed query (default 20)")
    parser.add_argument("--keep-services", action="store_true", help="leave Postgres and OpenSearch running afterwards")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for name in ("benchmarks", "restructure_pipeline.services"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("opensearch").setLevel(logging.ERROR)  # a 404 per alias not built yet is expected
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    report = run_benchmark(
        args.rows, seed=args.seed, out_dir=args.out, keep_services=args.keep_services,
        queries_repeat=args.queries_repeat,
    )
    print(_summary(report))
    json_path, markdown_path = report_paths(args.out, args.rows)
    print(f"Report: {markdown_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
