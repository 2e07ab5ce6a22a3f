"""The code location loads and validates, with no connection made at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from restructure_pipeline.settings import PROJECT_ROOT


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    environment.pop("DATABASE_URL", None)
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "All code locations passed validation" in completed.stdout + completed.stderr


def test_graph_is_extract_companies_prospects_view_with_blocking_checks() -> None:
    from restructure_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = {
        key.to_user_string(): sorted(parent.to_user_string() for parent in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert upstream == {
        "customer_extract": [],
        "companies": ["customer_extract"],
        "prospects": ["companies"],
        "company_prospect_view": ["prospects"],
        "opensearch_companies": ["company_prospect_view"],
        "opensearch_prospects": ["company_prospect_view"],
        "opensearch_company_prospect_view": ["company_prospect_view"],
    }
    checks = {key.to_user_string(): graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert len(checks) == 20
    postgres_checks = [spec for key, spec in checks.items() if not key.startswith("opensearch_")]
    assert len(postgres_checks) == 8 and all(spec.blocking for spec in postgres_checks)
    assert checks["opensearch_prospects:count_matches_postgres"].blocking
    assert checks["opensearch_prospects:alias_on_exactly_one_index"].blocking
    assert {job.name for job in defs.jobs} >= {"full_refresh", "ingest_drop", "cleanup_legacy"}
    for name in ("full_refresh", "ingest_drop", "cleanup_legacy"):
        assert defs.resolve_job_def(name).tags["restructure/writer"] == "pipeline"
    assert [schedule.name for schedule in defs.schedules] == ["nightly_full_refresh"]
    assert [sensor.name for sensor in defs.sensors] == ["drop_sensor"]
    full = defs.resolve_job_def("full_refresh")
    assert full.tags["restructure/refresh"] == "full"
    assert isinstance(graph.get(dg.AssetKey("customer_extract")).partitions_def, dg.DynamicPartitionsDefinition)
