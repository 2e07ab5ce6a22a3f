"""The benchmark report: percentiles, ratios, targets and rendering, from made-up numbers."""

from __future__ import annotations

import json

import pytest

from benchmarks.report import (
    OPENSEARCH_STAGES,
    POSTGRES_STAGES,
    STAGES,
    build_report,
    evaluate_targets,
    latency_summary,
    percentile,
    query_comparison,
    render_json,
    render_markdown,
    stage_table,
)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 0.5) == pytest.approx(10.5)
    assert percentile(values, 0.95) == pytest.approx(19.05)
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 20.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0  # order of runs does not matter


def test_percentile_refuses_nothing_and_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.001, 0.002, 0.003, 0.010], result_rows=7)
    assert summary["runs"] == 4 and summary["result_rows"] == 7
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert summary["min_ms"] == pytest.approx(1.0) and summary["max_ms"] == pytest.approx(10.0)
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["max_ms"]


def test_stage_table_gives_input_and_output_rates_in_graph_order() -> None:
    seconds = dict.fromkeys(STAGES, 2.0)
    table = stage_table(seconds, {"companies": 500}, input_rows=1_000, peak_rss_mb={"companies": 321.04})
    assert list(table) == list(STAGES)
    assert table["companies"] == {"seconds": 2.0, "rows_per_second": 500.0, "output_rows": 500,
                                  "output_rows_per_second": 250.0, "peak_rss_mb": 321.0}
    assert table["prospects"]["output_rows"] is None and table["prospects"]["output_rows_per_second"] is None
    assert table["prospects"]["peak_rss_mb"] is None


def test_stage_table_refuses_a_missing_stage() -> None:
    seconds = {stage: 1.0 for stage in STAGES if stage != "prospects"}
    with pytest.raises(ValueError, match="prospects"):
        stage_table(seconds, {}, input_rows=10)


def _query(old_p50: float, new_p50: float, view_p50: float) -> dict:
    def side(p50: float) -> dict:
        return {"runs": 3, "p50_ms": p50, "p95_ms": p50 * 2, "min_ms": p50, "max_ms": p50 * 2, "result_rows": 1}

    return query_comparison(
        "a query", {"domain": "acme.com"}, {"old": "SELECT 1", "new": "SELECT 2", "view": "SELECT 3"},
        old=side(old_p50), new=side(new_p50), view=side(view_p50),
    )


def _report(rows: int = 1_000_000, *, peak_full: float = 500.0, query: dict | None = None) -> dict:
    full_steps = dict.fromkeys(POSTGRES_STAGES, 10.0) | dict.fromkeys(OPENSEARCH_STAGES, 5.0)
    drop_steps = dict.fromkeys(STAGES, 0.1)
    outputs_rows = dict.fromkeys(STAGES, 100)
    return build_report(
        rows=rows, seed=42, drop_rows=rows // 100, queries_repeat=3, code_version="abc1234-dirty",
        machine={"cpu_model": "test cpu", "logical_cores": 2},
        setup={"generate_and_load_seconds": 1.5},
        full_refresh_steps=full_steps,
        full_refresh_outputs=outputs_rows,
        full_refresh_run={"run_id": "r1", "wall_seconds": 100.0, "check_steps": {"a": 2.0, "b": 3.0}, "peak_rss_mb": peak_full,
                          "checks_passed": 20, "checks_failed": [],
                          "stage_peak_rss_mb": dict.fromkeys(STAGES, peak_full - 1)},
        ingest_drop_steps=drop_steps,
        ingest_drop_outputs=outputs_rows,
        ingest_drop_run={"run_id": "r2", "wall_seconds": 2.0, "check_steps": {f"check_{n}": n / 10 for n in range(1, 8)},
                         "peak_rss_mb": 300.0,
                         "checks_passed": 20, "checks_failed": [],
                         "index_updates": {"opensearch_prospects": {"upserted": 12, "deleted": 3}}},
        outputs={"companies": 100, "prospects": 200, "view_rows": 300, "opensearch_documents": 600},
        baselines={
            "copy_bare_table": {"seconds": 4.0, "rows": rows, "rows_per_second": rows / 4, "method": "copy"},
            "sql_restructure": {
                "aggregate": "mode", "same_indexes_as_pipeline": True,
                "indexes_after_loading": {"seconds": 50.0, "rows_per_second": rows / 50, "companies_seconds": 10.0,
                                          "prospects_seconds": 10.0, "indexes_seconds": 20.0, "view_seconds": 10.0,
                                          "companies": 100, "prospects": 200, "view_rows": 300},
                "indexes_in_place": {"seconds": 80.0, "rows_per_second": rows / 80, "companies_seconds": 20.0,
                                     "prospects_seconds": 40.0, "indexes_seconds": 0.0, "view_seconds": 20.0,
                                     "companies": 100, "prospects": 200, "view_rows": 300},
            },
            "raw_bulk": {"documents": 600, "seconds": 8.0, "docs_per_second": 75.0, "source_read_seconds": 1.0,
                         "per_index": {"companies": {"documents": 100, "seconds": 2.0, "docs_per_second": 50.0}}},
        },
        queries={"prospects_of_company_by_domain": query or _query(10.0, 2.0, 4.0)},
        started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:10:00+00:00", duration_seconds=600.0,
    )


def test_ratios_are_our_times_over_the_baselines() -> None:
    ratios = _report()["ratios"]
    assert ratios["postgres_vs_sql_baseline"] == pytest.approx(40.0 / 50.0)
    assert ratios["postgres_vs_sql_baseline_indexes_in_place"] == pytest.approx(40.0 / 80.0)
    assert ratios["postgres_vs_copy_baseline"] == pytest.approx(40.0 / 4.0)
    assert ratios["opensearch_docs_per_second"] == pytest.approx(600 / 15.0)
    assert ratios["opensearch_vs_raw_bulk"] == pytest.approx((600 / 15.0) / 75.0, rel=1e-5)
    assert ratios["drop_vs_full_refresh"] == pytest.approx(2.0 / 100.0)
    assert ratios["queries"]["prospects_of_company_by_domain"]["speedup"] == pytest.approx(5.0)
    assert ratios["queries"]["prospects_of_company_by_domain"]["view_p50_ms"] == 4.0


def test_run_totals_split_postgres_opensearch_and_checks() -> None:
    report = _report()
    full = report["runs"]["full_refresh"]
    assert full["postgres_stages_seconds"] == 40.0 and full["opensearch_stages_seconds"] == 15.0
    assert full["asset_steps_seconds"] == 55.0 and full["check_steps_seconds"] == 5.0
    assert report["peak_rss_mb"] == 500.0
    assert report["stages"]["ingest_drop"]["companies"]["rows_per_second"] == pytest.approx(10_000 / 0.1)
    # Per-stage peaks go to the stage table, not the run summary.
    assert report["stages"]["full_refresh"]["prospects"]["peak_rss_mb"] == 499.0
    assert report["stages"]["ingest_drop"]["prospects"]["peak_rss_mb"] is None
    assert "stage_peak_rss_mb" not in full
    assert full["index_updates"] == {}
    assert report["runs"]["ingest_drop"]["index_updates"]["opensearch_prospects"] == {"upserted": 12, "deleted": 3}
    assert "opensearch_prospects 12 upserted, 3 deleted" in render_markdown(report)


def test_each_run_names_its_slowest_check_steps() -> None:
    report = _report()
    drop = report["runs"]["ingest_drop"]
    assert drop["check_steps_seconds"] == pytest.approx(2.8)
    assert list(drop["slowest_check_steps"]) == ["check_7", "check_6", "check_5", "check_4", "check_3"]
    assert report["runs"]["full_refresh"]["slowest_check_steps"] == {"b": 3.0, "a": 2.0}
    assert "Slowest check steps of `ingest_drop`: check_7 0.7 s, check_6 0.6 s" in render_markdown(report)


def test_targets_met_and_missed_at_one_million() -> None:
    targets = {t["name"]: t for t in _report()["targets"]}
    assert targets["postgres_vs_sql_baseline"]["met"] is True  # 0.8 <= 1.0
    assert targets["opensearch_vs_raw_bulk"]["met"] is False  # 0.8x needed, 0.53x measured
    assert targets["drop_vs_full_refresh"]["met"] is True  # 0.02 <= 0.03
    assert targets["peak_rss_mb"]["met"] is True
    assert targets["completes_at_10m"]["met"] is None
    assert targets["queries_not_slower"]["met"] is True
    assert targets["postgres_vs_sql_baseline"]["note"] == ""


def test_peak_rss_limit_depends_on_size() -> None:
    assert {t["name"]: t for t in _report(peak_full=1_200.0)["targets"]}["peak_rss_mb"]["met"] is False
    large = {t["name"]: t for t in _report(10_000_000, peak_full=1_200.0)["targets"]}
    assert large["peak_rss_mb"]["met"] is True
    assert large["completes_at_10m"]["met"] is True


def test_a_query_slower_on_both_new_structures_misses_the_query_target() -> None:
    targets = {t["name"]: t for t in _report(query=_query(1.0, 2.0, 3.0))["targets"]}
    assert targets["queries_not_slower"]["met"] is False
    assert "prospects_of_company_by_domain" in targets["queries_not_slower"]["note"]
    # The view alone being faster is enough.
    targets = {t["name"]: t for t in _report(query=_query(1.0, 2.0, 0.5))["targets"]}
    assert targets["queries_not_slower"]["met"] is True


def test_targets_at_other_sizes_say_where_they_are_stated() -> None:
    targets = {t["name"]: t for t in _report(20_000)["targets"]}
    assert "1,000,000" in targets["postgres_vs_sql_baseline"]["note"]


def test_missing_ratio_is_not_judged() -> None:
    ratios = {"postgres_vs_sql_baseline": None, "opensearch_vs_raw_bulk": None, "drop_vs_full_refresh": None}
    targets = {t["name"]: t for t in evaluate_targets(1_000_000, ratios, 100.0, {})}
    assert targets["postgres_vs_sql_baseline"]["met"] is None
    assert targets["opensearch_vs_raw_bulk"]["met"] is None
    assert targets["queries_not_slower"]["met"] is None


def test_json_round_trips_and_markdown_mentions_everything() -> None:
    report = _report()
    assert json.loads(render_json(report)) == report
    markdown = render_markdown(report)
    assert markdown.startswith("# Benchmark: 1,000,000 legacy customers")
    for stage in STAGES:
        assert f"| {stage} |" in markdown
    for name in ("postgres_vs_sql_baseline", "opensearch_vs_raw_bulk", "drop_vs_full_refresh", "peak_rss_mb"):
        assert name in markdown
    assert "| prospects_of_company_by_domain |" in markdown and "SELECT 2" in markdown
    assert "**met**" in markdown and "**missed**" in markdown
    assert "test cpu" in markdown
    assert "code abc1234-dirty." in markdown


def test_a_read_of_several_statements_is_listed_in_order_and_round_trips() -> None:
    side = {"runs": 3, "p50_ms": 1.0, "p95_ms": 2.0, "min_ms": 1.0, "max_ms": 2.0, "result_rows": 4}
    query = query_comparison(
        "a query", {"name": "Acme"},
        {"old": "SELECT 1", "new": ("SELECT id FROM a", "SELECT * FROM b WHERE x = ANY(%(ids)s)"), "view": "SELECT 3"},
        old=side, new=side, view=side,
    )
    report = _report(query=query)
    assert json.loads(render_json(report)) == report
    assert "- new: `SELECT id FROM a`, then `SELECT * FROM b WHERE x = ANY(%(ids)s)`" in render_markdown(report)
