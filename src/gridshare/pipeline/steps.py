"""Pipeline steps: what runs on every closed interval.

A step is any object with a ``name``, ``run`` and ``summary``; the loop runs the steps it
is given in order, so adding a step never edits the loop.
"""

from __future__ import annotations

from typing import Protocol

from gridshare.pipeline.closing import ClosedInterval
from gridshare.pipeline.ports import StoreTransaction

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


class Step(Protocol):
    """One stage of the interval pipeline."""

    @property
    def name(self) -> str:
        """Short name, shown in progress and reports."""
        ...

    def run(self, closed: ClosedInterval, tx: StoreTransaction) -> None:
        """Process one closed interval, writing through ``tx`` (same transaction as its
        readings)."""
        ...

    def finish(self, run_id: str, tx: StoreTransaction) -> None:
        """Write what the step accumulated over the run, once, after the last interval."""
        ...

    def summary(self) -> dict[str, JsonValue]:
        """What the step contributes to the run's summary."""
        ...
