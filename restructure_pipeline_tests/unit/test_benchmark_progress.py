"""The benchmark's partial report: what a run has measured survives a run stopped before its report."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.harness import Progress, partial_report_path


def test_each_phase_rewrites_the_partial_report_whole_and_the_report_replaces_it(tmp_path: Path) -> None:
    path = partial_report_path(tmp_path, 1_000)
    assert path.name == "benchmark-1000.partial.json"
    progress = Progress(path, {"rows": 1_000, "code_version": "abc1234"})
    assert json.loads(path.read_text()) == {"rows": 1_000, "code_version": "abc1234", "phases": {}}

    progress.record("full_refresh", {"run": {"wall_seconds": 1.5}})
    progress.record("raw_bulk", {"seconds": 2.0})

    assert json.loads(path.read_text())["phases"] == {"full_refresh": {"run": {"wall_seconds": 1.5}}, "raw_bulk": {"seconds": 2.0}}
    assert list(tmp_path.iterdir()) == [path]  # written by rename: no temporary file left behind
    progress.discard()
    assert not path.exists()
