import threading
import time
from collections.abc import Iterator

import pytest

from restructure_pipeline.prefetch import prefetched


def test_yields_every_item_in_order() -> None:
    assert list(prefetched(range(1000), depth=3)) == list(range(1000))
    assert list(prefetched([])) == []


def test_produces_ahead_on_another_thread_while_the_caller_works() -> None:
    produced: list[tuple[int, str]] = []

    def items() -> Iterator[int]:
        for item in range(3):
            produced.append((item, threading.current_thread().name))
            yield item

    iterator = prefetched(items(), depth=1)
    assert next(iterator) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 2 and time.monotonic() < deadline:  # item 1 is made while the caller holds item 0
        time.sleep(0.01)
    assert [item for item, _ in produced] == [0, 1]
    assert {thread for _, thread in produced} == {"prefetch"}
    assert list(iterator) == [1, 2]


def test_the_worker_starts_before_the_first_item_is_asked_for() -> None:
    started = threading.Event()

    def items() -> Iterator[int]:
        started.set()
        yield 1

    iterator = prefetched(items(), depth=1)
    assert started.wait(5)  # the caller can do other work meanwhile (the company step's lineage)
    assert list(iterator) == [1]


def test_closing_before_the_first_item_stops_the_worker() -> None:
    def items() -> Iterator[int]:
        yield from range(1_000_000)

    iterator = prefetched(items(), depth=2)
    iterator.close()
    assert list(iterator) == []
    assert not [thread for thread in threading.enumerate() if thread.name == "prefetch"]


def test_an_error_of_the_source_is_raised_at_its_place() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3 of drop.csv is not UTF-8")

    received = []
    with pytest.raises(ValueError, match="line 3 of drop.csv"):
        for item in prefetched(items()):
            received.append(item)
    assert received == [1, 2]


def test_stopping_early_closes_the_source_before_returning() -> None:
    closed = threading.Event()
    produced = []

    def items() -> Iterator[int]:
        try:
            for item in range(1_000_000):
                produced.append(item)
                yield item
        finally:
            closed.set()

    iterator = prefetched(items(), depth=2)
    assert next(iterator) == 0
    iterator.close()
    assert closed.is_set()  # the worker has finished: nothing reads the source any more
    assert len(produced) <= 4  # the one handed over, two queued, one being offered
    assert not [thread for thread in threading.enumerate() if thread.name == "prefetch"]


def test_an_error_of_the_caller_stops_the_worker() -> None:
    def items() -> Iterator[int]:
        yield from range(100)

    with pytest.raises(RuntimeError, match="COPY failed"):
        for _ in prefetched(items()):
            raise RuntimeError("COPY failed")
    assert not [thread for thread in threading.enumerate() if thread.name == "prefetch"]
