"""A small benchmark run (20,000 rows) on its own services: the report's shape, never its timings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from benchmarks.baselines import SEED_QUERIES
from benchmarks.harness import run_benchmark
from benchmarks.report import OPENSEARCH_STAGES, POSTGRES_STAGES, STAGES

pytestmark = pytest.mark.integration

ROWS = 20_000


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, Path]]:
    out_dir = tmp_path_factory.mktemp("bench")
    report = run_benchmark(ROWS, out_dir=out_dir, queries_repeat=5)
    yield report, out_dir
    # The benchmark stopped the OpenSearch node it started (our child, unlike the postmaster).
    assert not _benchmark_children()


def _benchmark_children() -> list[int]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "restructure-bench-" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_report_is_written_as_json_and_markdown(bench: tuple[dict, Path]) -> None:
    report, out_dir = bench
    assert json.loads((out_dir / f"benchmark-{ROWS}.json").read_text()) == report
    assert not (out_dir / f"benchmark-{ROWS}.partial.json").exists()  # the report replaced it
    markdown = (out_dir / f"benchmark-{ROWS}.md").read_text()
    for stage in STAGES:
        assert f"| {stage} |" in markdown
    for query in SEED_QUERIES:
        assert f"| {query.name} |" in markdown and f"**{query.name}**" in markdown
    for target in report["targets"]:
        assert f"| {target['name']} |" in markdown


def test_report_names_the_run_and_the_machine(bench: tuple[dict, Path]) -> None:
    report, out_dir = bench
    assert report["rows"] == ROWS and report["drop_rows"] == ROWS // 100
    assert report["code_version"] and f"code {report['code_version']}." in (out_dir / f"benchmark-{ROWS}.md").read_text()
    machine = report["machine"]
    for key in ("cpu_model", "logical_cores", "memory_gb", "python", "postgres", "opensearch"):
        assert machine[key], key
    assert machine["postgres"].startswith("18") and machine["opensearch"] == "2.19.6"
    assert report["setup"]["legacy_rows_loaded"] == ROWS
    assert "services" not in report  # stopped, nothing to point at


def test_every_stage_of_both_runs_is_timed(bench: tuple[dict, Path]) -> None:
    report, _ = bench
    for job in ("full_refresh", "ingest_drop"):
        stages = report["stages"][job]
        assert list(stages) == list(STAGES)
        for stage, entry in stages.items():
            assert _positive(entry["seconds"]) and _positive(entry["rows_per_second"]), (job, stage)
            assert _positive(entry["output_rows"]), (job, stage)
            assert 0 < entry["peak_rss_mb"] <= report["runs"][job]["peak_rss_mb"], (job, stage)
        run = report["runs"][job]
        assert _positive(run["wall_seconds"]) and _positive(run["peak_rss_mb"])
        assert run["asset_steps_seconds"] <= run["wall_seconds"]
        assert run["checks_failed"] == [] and run["checks_passed"] > 0
    full = report["stages"]["full_refresh"]
    assert full["customer_extract"]["output_rows"] == ROWS
    assert full["customer_extract"]["rows_per_second"] == pytest.approx(ROWS / full["customer_extract"]["seconds"], rel=1e-3)
    assert sum(full[stage]["output_rows"] for stage in OPENSEARCH_STAGES) == report["outputs"]["opensearch_documents"]
    assert report["peak_rss_mb"] == max(run["peak_rss_mb"] for run in report["runs"].values())
    # The drop updates the live indices in place; the full refresh rebuilds them.
    assert set(report["runs"]["ingest_drop"]["index_updates"]) == set(OPENSEARCH_STAGES)
    assert report["runs"]["full_refresh"]["index_updates"] == {}


def test_baselines_ran_on_the_same_rows(bench: tuple[dict, Path]) -> None:
    report, _ = bench
    baselines = report["baselines"]
    assert baselines["copy_bare_table"]["rows"] == ROWS and _positive(baselines["copy_bare_table"]["seconds"])
    sql = baselines["sql_restructure"]
    assert sql["same_indexes_as_pipeline"] is True
    for variant in ("indexes_after_loading", "indexes_in_place"):
        part = sql[variant]
        assert _positive(part["seconds"]) and _positive(part["companies"]) and _positive(part["prospects"])
        assert part["view_rows"] >= part["prospects"]
        parts = part["companies_seconds"] + part["prospects_seconds"] + part["indexes_seconds"] + part["view_seconds"]
        assert parts == pytest.approx(part["seconds"], abs=0.01)
    bulk = baselines["raw_bulk"]
    assert _positive(bulk["docs_per_second"]) and set(bulk["per_index"]) == {"companies", "prospects", "company_prospect_view"}
    # Run after the drop: the same documents as the live indices hold now, at least the full refresh's.
    assert bulk["documents"] >= report["outputs"]["opensearch_documents"]


def test_ratios_come_from_the_stage_and_baseline_numbers(bench: tuple[dict, Path]) -> None:
    report, _ = bench
    ratios, runs, baselines = report["ratios"], report["runs"], report["baselines"]
    full = report["stages"]["full_refresh"]
    postgres_seconds = sum(full[stage]["seconds"] for stage in POSTGRES_STAGES)
    opensearch_seconds = sum(full[stage]["seconds"] for stage in OPENSEARCH_STAGES)
    sql = baselines["sql_restructure"]
    assert ratios["postgres_vs_sql_baseline"] == pytest.approx(
        postgres_seconds / sql["indexes_after_loading"]["seconds"], rel=1e-3
    )
    assert ratios["postgres_vs_sql_baseline_indexes_in_place"] == pytest.approx(
        postgres_seconds / sql["indexes_in_place"]["seconds"], rel=1e-3
    )
    ours = report["outputs"]["opensearch_documents"] / opensearch_seconds
    assert ratios["opensearch_vs_raw_bulk"] == pytest.approx(ours / baselines["raw_bulk"]["docs_per_second"], rel=1e-3)
    assert ratios["drop_vs_full_refresh"] == pytest.approx(
        runs["ingest_drop"]["wall_seconds"] / runs["full_refresh"]["wall_seconds"], rel=1e-3
    )


def test_every_seed_query_is_compared_old_new_and_view(bench: tuple[dict, Path]) -> None:
    report, _ = bench
    assert list(report["queries"]) == [query.name for query in SEED_QUERIES]
    for name, query in report["queries"].items():
        for side in ("old", "new", "view"):
            latency = query[side]
            assert latency["runs"] == 5
            assert 0 < latency["p50_ms"] <= latency["p95_ms"], (name, side)
            assert latency["result_rows"] > 0, (name, side)
        assert query["speedup"] == pytest.approx(query["old"]["p50_ms"] / query["new"]["p50_ms"], rel=1e-3)
        assert report["ratios"]["queries"][name]["speedup"] == query["speedup"]
        assert query["params"] and set(query["sql"]) == {"old", "new", "view"}
    # Read as Prisma reads it, the companies by name, then their prospects: the view's rows (one per
    # person, or one for a company without any) and a row for each company that has people.
    with_prospects = report["queries"]["company_with_prospects"]
    assert with_prospects["new"]["result_rows"] > with_prospects["view"]["result_rows"]


def test_every_target_is_judged_or_marked_not_applicable(bench: tuple[dict, Path]) -> None:
    report, _ = bench
    targets = {target["name"]: target for target in report["targets"]}
    assert set(targets) == {
        "postgres_vs_sql_baseline", "opensearch_vs_raw_bulk", "drop_vs_full_refresh", "peak_rss_mb",
        "completes_at_10m", "queries_not_slower",
    }
    for name, target in targets.items():
        assert target["met"] in (True, False, None), name
    assert targets["completes_at_10m"]["met"] is None  # not judged at 20,000 rows
    for name in ("postgres_vs_sql_baseline", "opensearch_vs_raw_bulk", "drop_vs_full_refresh"):
        assert targets[name]["measured"] == report["ratios"][name]
        assert isinstance(targets[name]["met"], bool)
