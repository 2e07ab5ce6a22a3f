"""The drop sensor's decision rules, tick by tick (pure: no instance, no files), and its scan of the folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg
import pytest

from restructure_pipeline.automation.launch import register_sources
from restructure_pipeline.automation.sensors import DropCursor, _scan, decide_drops


def _tick(files, cursor=None, known=()):
    return decide_drops(files, cursor or DropCursor(), set(known))


def test_a_file_is_submitted_only_once_its_size_and_mtime_are_stable_across_two_ticks() -> None:
    first = _tick([("a.csv", 100, 1)])
    assert first.run_requests == [] and first.cursor.pending == {"a.csv": [100, 1]}
    growing = _tick([("a.csv", 250, 2)], first.cursor)
    assert growing.run_requests == []
    stable = _tick([("a.csv", 250, 2)], growing.cursor)
    assert [request.partition_key for request in stable.run_requests] == ["a.csv"]
    assert stable.new_partitions == ["a.csv"]


@pytest.mark.parametrize("marker_mtime_ns", [1, 2])
def test_a_ready_marker_as_new_as_the_file_submits_at_once(marker_mtime_ns: int) -> None:
    decision = _tick([("a.csv", 100, 1, marker_mtime_ns)])
    assert [request.partition_key for request in decision.run_requests] == ["a.csv"]


def test_a_ready_marker_older_than_the_file_is_stale_and_the_file_must_be_stable() -> None:
    rewritten = _tick([("a.csv", 250, 5, 1)])  # the marker of an earlier version, overwritten in place
    assert rewritten.run_requests == [] and rewritten.cursor.pending == {"a.csv": [250, 5]}
    stable = _tick([("a.csv", 250, 5, 1)], rewritten.cursor)
    assert [request.partition_key for request in stable.run_requests] == ["a.csv"]


def test_a_submitted_file_is_not_submitted_again_after_a_restart() -> None:
    submitted = _tick([("a.csv", 100, 1, 1)])
    restarted = DropCursor.parse(submitted.cursor.dump())  # the daemon keeps only the serialized cursor
    again = _tick([("a.csv", 100, 1, 1)], restarted, known=["a.csv"])
    assert again.run_requests == [] and again.new_partitions == []


def test_a_rewritten_file_is_ingested_again_under_a_new_run_key() -> None:
    first = _tick([("a.csv", 100, 1, 1)])
    rewritten = _tick([("a.csv", 120, 5, 6)], first.cursor, known=["a.csv"])
    assert len(rewritten.run_requests) == 1 and rewritten.new_partitions == []
    assert rewritten.run_requests[0].run_key != first.run_requests[0].run_key


def test_vanished_pending_files_are_forgotten() -> None:
    first = _tick([("a.csv", 100, 1)])
    assert _tick([], first.cursor).cursor.pending == {}


def test_the_scan_passes_each_ready_markers_mtime_to_the_decision(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("externalId\n1\n")
    (tmp_path / "b.csv").write_text("externalId\n1\n")
    marker = tmp_path / "a.csv.ready"
    marker.touch()
    os.utime(marker, ns=(7, 7))
    files, problems = _scan(tmp_path)
    assert [(key, marker_mtime_ns) for key, _, _, marker_mtime_ns in files] == [("a.csv", 7), ("b.csv", None)]
    assert problems == []


def _drops_with_a_latin1_name(drop_dir: Path) -> None:
    (drop_dir / "good.csv").write_text("externalId\n1\n")
    with open(os.path.join(os.fsencode(drop_dir), b"M\xe4rz.csv"), "w") as handle:  # as an SMB upload names it
        handle.write("externalId\n2\n")


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning_and_the_others_are_scanned(tmp_path: Path) -> None:
    _drops_with_a_latin1_name(tmp_path)
    files, problems = _scan(tmp_path)
    assert [key for key, *_ in files] == ["good.csv"]
    assert len(problems) == 1
    assert repr(os.fsencode(tmp_path.resolve() / "M\udce4rz.csv")) in problems[0]
    assert "not valid UTF-8: rename the file to UTF-8" in problems[0]


def test_register_sources_skips_a_file_name_that_is_not_utf8_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _drops_with_a_latin1_name(tmp_path)
    with dg.DagsterInstance.ephemeral() as instance, caplog.at_level(logging.WARNING):
        assert register_sources(instance, tmp_path) == ["legacy", "good.csv"]
    assert "M\\xe4rz.csv" in caplog.text and "not valid UTF-8" in caplog.text
