"""The simulated clock: every interval of the run, as fast as the pipeline takes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from gridshare.units import Interval


class SimulatedClock:
    """Yields the intervals of ``[start, end)`` in order (implements ``Clock``)."""

    def __init__(self, start: datetime, end: datetime, length: timedelta) -> None:
        self.first = Interval(start, length)
        self.end = end
        self.count = int((end - self.first.start) / length)

    def intervals(self) -> Iterator[Interval]:
        interval = self.first
        while interval.start < self.end:
            yield interval
            interval = interval.next()
