"""The drop sensor's decision rules, tick by tick (pure: no instance, no files)."""

from __future__ import annotations

from restructure_pipeline.automation.sensors import DropCursor, decide_drops


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


def test_a_ready_marker_submits_at_once() -> None:
    decision = _tick([("a.csv", 100, 1, True)])
    assert [request.partition_key for request in decision.run_requests] == ["a.csv"]


def test_a_submitted_file_is_not_submitted_again_after_a_restart() -> None:
    submitted = _tick([("a.csv", 100, 1, True)])
    restarted = DropCursor.parse(submitted.cursor.dump())  # the daemon keeps only the serialized cursor
    again = _tick([("a.csv", 100, 1, True)], restarted, known=["a.csv"])
    assert again.run_requests == [] and again.new_partitions == []


def test_a_rewritten_file_is_ingested_again_under_a_new_run_key() -> None:
    first = _tick([("a.csv", 100, 1, True)])
    rewritten = _tick([("a.csv", 120, 5, True)], first.cursor, known=["a.csv"])
    assert len(rewritten.run_requests) == 1 and rewritten.new_partitions == []
    assert rewritten.run_requests[0].run_key != first.run_requests[0].run_key


def test_vanished_pending_files_are_forgotten() -> None:
    first = _tick([("a.csv", 100, 1)])
    assert _tick([], first.cursor).cursor.pending == {}
