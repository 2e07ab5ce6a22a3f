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
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetched(Generic[T]):
    """``items`` in order, up to ``depth`` of them made ahead on a worker thread that starts at once.

    An exception raised by ``items`` is re-raised by ``next``, at the item where it happened.
    :meth:`close` (also on garbage collection; callers use ``contextlib.closing``) stops the
    worker after the item it is producing, and waits for it: nothing keeps running after the
    caller has moved on, and ``items`` is never used by two threads at once.
    """

    def __init__(self, items: Iterable[T], depth: int) -> None:
        self._ready: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._closed = False
        # The worker holds the queue and the event, not this object, so that dropping the
        # last reference to it (an exception in the caller's loop) closes it.
        self._worker = threading.Thread(
            target=_produce, args=(items, self._ready, self._stop), name="prefetch", daemon=True
        )
        self._worker.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        item = self._ready.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Failed):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        worker = getattr(self, "_worker", None)  # None if the thread could not be made
        if worker is not None and worker is not threading.current_thread():
            worker.join()
        self._closed = True

    def __del__(self) -> None:
        self.close()


def _offer(ready: queue.Queue[object], stop: threading.Event, item: object) -> bool:
    while not stop.is_set():
        try:
            ready.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _produce(items: Iterable[object], ready: queue.Queue[object], stop: threading.Event) -> None:
    iterator = iter(items)
    try:
        for item in iterator:
            if not _offer(ready, stop, item):
                return
    except BaseException as error:  # handed to the consumer, which re-raises it
        _offer(ready, stop, _Failed(error))
        return
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:  # a generator's cleanup (e.g. ending a COPY) runs here, not at GC
            close()
    _offer(ready, stop, _DONE)


def prefetched(items: Iterable[T], depth: int = 1) -> Prefetched[T]:
    """Iterate ``items`` with up to ``depth`` of them produced ahead on a worker thread (see :class:`Prefetched`)."""
    return Prefetched(items, depth)
