"""Work that must run on the node's pipeline thread between two intervals, handed over
from other threads (:class:`BetweenIntervals`).

The embedded chain belongs to one thread of one process, and the operator's transaction
manager keeps one nonce: so the API's verify jobs, members' relayed transactions, gas
top-ups and chain reads run there, while the ingest clock waits for the next interval
(its idle hook), and see a store and chain that no interval is halfway through.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from gridshare.errors import GridshareError

__all__ = ["BetweenIntervals"]

T = TypeVar("T")


class BetweenIntervals:
    """A queue of work for the pipeline thread; :meth:`run_pending` is the node clock's
    idle hook."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, work: Callable[[], T], timeout_s: float | None = None) -> T:
        """Run ``work`` on the pipeline thread at its next pause; wait for its result
        (at most ``timeout_s``: then :class:`GridshareError`, and the work is dropped if
        it has not started)."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise GridshareError("the node is stopping: try again once it runs")
            self._queue.put((work, future))
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            if future.cancel():
                raise GridshareError(
                    f"the node was busy for {timeout_s:.0f} s (an interval in progress): try again"
                ) from None
            return future.result()

    def run_pending(self) -> None:
        while True:
            try:
                work, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)

    def close(self) -> None:
        """Refuse new work and fail what is still waiting (the node stops)."""
        with self._lock:
            self._closed = True
        while True:
            try:
                _work, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(GridshareError("the node stopped before the work ran"))
