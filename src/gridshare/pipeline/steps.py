"""Pipeline steps: what runs on every closed interval.

A step is any object with a ``name``, the types it ``requires`` and ``provides`` in the
interval's context, ``run``, ``finish`` and ``summary``; the loop runs the steps it is
given in order, so adding a step never edits the loop. Steps hand each other typed values
through the :class:`~gridshare.pipeline.context.IntervalContext`, never attributes of one
another.
"""

from __future__ import annotations

from typing import Protocol

from gridshare.model.summary import StepSummary
from gridshare.pipeline.context import IntervalContext
from gridshare.pipeline.ports import StoreTransaction


class Step(Protocol):
    """One stage of the interval pipeline."""

    @property
    def name(self) -> str:
        """Short name, shown in progress and reports."""
        ...

    @property
    def requires(self) -> tuple[type, ...]:
        """Types an earlier step must provide in the same interval."""
        ...

    @property
    def provides(self) -> tuple[type, ...]:
        """Types this step adds to the interval's context."""
        ...

    def run(self, ctx: IntervalContext, tx: StoreTransaction) -> None:
        """Process one closed interval (``ctx.closed``), writing through ``tx`` (the same
        transaction as its readings) and providing its outputs to ``ctx``."""
        ...

    def finish(self, run_id: str, tx: StoreTransaction) -> None:
        """Write what the step accumulated over the run, once, after the last interval."""
        ...

    def summary(self) -> StepSummary:
        """What the step contributes to the run's summary: a frozen record (see
        :mod:`gridshare.model.summary`), serialised with the rest of the run's."""
        ...
