"""Live operation: the ingest service stores readings as they arrive; a clock closes
each interval once every meter has reported or a grace period has passed.

The loop, the steps and the store are the same as in simulation; only the clock
(:class:`IngestClock`) and the reading source (``StoredReadingSource``) differ.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from gridshare.ingest.service import IngestService
from gridshare.units import Interval, from_unix_seconds


class IngestClock:
    """Yields interval after interval, each once it is complete or overdue.

    An interval is complete when ``expected`` meters have readings for it; it is overdue
    ``grace_s`` after its end (by ``now``), but never before ``grace_s`` after the clock
    started (so a backlog of past intervals still gets time to arrive). ``stop`` ends the
    run after the current interval; ``max_intervals`` ends it after that many.
    """

    def __init__(
        self,
        service: IngestService,
        first_start_s: int,
        length: timedelta,
        expected: int,
        *,
        grace_s: float = 300.0,
        now: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
        max_intervals: int | None = None,
        poll_s: float = 0.02,
        idle: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.next = Interval(from_unix_seconds(first_start_s), length)
        self.expected = expected
        self.grace_s = grace_s
        self.now = now
        self.stop = stop or threading.Event()
        self.max_intervals = max_intervals
        self.poll_s = poll_s
        self.idle = idle
        """Called while waiting for an interval, on the thread that runs the intervals:
        work that must not overlap one (the node's verify jobs on its embedded chain)."""
        self.closed_complete = 0
        self.closed_overdue = 0

    def intervals(self) -> Iterator[Interval]:
        count = 0
        started = self.now()
        while not self.stop.is_set() and (self.max_intervals is None or count < self.max_intervals):
            interval = self.next
            deadline = max(interval.start_s + interval.length_s, started) + self.grace_s
            while True:
                if self.service.reported(interval) >= self.expected:
                    self.closed_complete += 1
                    break
                if self.now() >= deadline:
                    self.closed_overdue += 1
                    break
                if self.idle is not None:
                    self.idle()
                if self.stop.wait(self.poll_s):
                    return
            yield interval
            count += 1
            self.next = interval.next()
