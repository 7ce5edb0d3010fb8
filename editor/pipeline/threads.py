"""Run a generator in a background thread behind a bounded queue.

Chaining ``threaded()`` calls lets decode, tracking, edits and encode overlap while
memory stays bounded by the queue sizes. Exceptions in the producer are re-raised in
the consumer; closing the consumer stops the producer.

Stopping reaches down a chain: a producer thread whose consumer has stopped (a stop
signal's ``Interrupted`` in the main thread closed it) sees :func:`stop_requested`; while it
waits for an item of its own source (another ``threaded()``) it raises :class:`Stopped`,
which closes that source in turn, and long work between items (tracking's backward pass)
calls :func:`raise_if_stopped` to end at once rather than after the whole phase.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL = 0.1
"""Seconds between looks at the stop flag while waiting for an item."""
_local = threading.local()


class Stopped(BaseException):
    """Raised in a producer thread whose consumer has stopped (:func:`raise_if_stopped`): a
    ``BaseException``, so no ``except Exception`` on the way swallows it; :func:`threaded`
    ends the thread with it."""


def stop_requested() -> bool:
    """Whether the consumer of the producer thread calling this has stopped taking items
    (``False`` outside a :func:`threaded` producer, e.g. in the main thread)."""
    stop = getattr(_local, "stop", None)
    return stop is not None and stop.is_set()


def raise_if_stopped() -> None:
    """Raise :class:`Stopped` when :func:`stop_requested`: for long work between items."""
    if stop_requested():
        raise Stopped()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def offer(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` into the bounded queue ``q``, waiting for room until ``stop`` is set
    (checked every 0.1 s); False when stopped before it went in."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def threaded(source: Iterable[T], maxsize: int = 8, name: str = "producer") -> Iterator[T]:
    q: queue.Queue[object] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def put(item: object) -> bool:
        return offer(q, item, stop)

    def work() -> None:
        _local.stop = stop
        it = iter(source)
        try:
            for item in it:
                if not put(item):
                    break
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            put(_Failure(exc))
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None and stop.is_set():
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
        put(_DONE)

    thread = threading.Thread(target=work, name=f"trackedit-{name}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = q.get(timeout=_POLL)  # a wait that signals and a stopped consumer can end
            except queue.Empty:
                raise_if_stopped()
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=30)
