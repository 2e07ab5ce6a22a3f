"""Produce the next items of an iterator on a background thread while the caller uses this one.

Staging is a pipeline of two halves that use different processes: reading a chunk and
deciding its records is Python on the pipeline's side, writing it is mostly Postgres
parsing a COPY on the server's side. Run one after the other, each half leaves a core
idle; with :func:`prefetched` the next chunk is decided while the server takes this one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` of them ahead on a worker thread.

    An exception raised by ``items`` is re-raised here, at the item where it happened.
    Closing the returned generator early (``break``, an exception in the consumer) stops
    the worker after the item it is producing, and waits for it: nothing keeps running
    after the caller has moved on, and ``items`` is never used by two threads at once.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(_Failed(error))
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:  # a generator's cleanup (e.g. ending a COPY) runs here, not at GC
                close()
        offer(_DONE)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
