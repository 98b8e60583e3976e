"""The interval loop: the same code runs live and in simulation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import islice

import numpy as np

from gridshare.model import Community, QualityFlag, WriteReport
from gridshare.model.summary import PipelineReport, StepSummary
from gridshare.pipeline.closing import ClosedInterval, close_interval
from gridshare.pipeline.context import IntervalContext, check_step_order
from gridshare.pipeline.ports import Clock, ReadingSource, Store, StoreTransaction
from gridshare.pipeline.steps import Step
from gridshare.units import Interval


class Pipeline:
    """Runs every interval the clock gives through ingest, closing and the steps.

    Each interval's readings and step outputs are written in one store transaction, so
    an interval is either fully recorded or not at all. A simulation may group several
    intervals into one transaction (``intervals_per_transaction``) to save commits; live
    operation keeps one, so nothing waits for later intervals.
    """

    def __init__(
        self,
        community: Community,
        clock: Clock,
        source: ReadingSource,
        store: Store,
        steps: Sequence[Step],
        *,
        run_id: str,
        on_interval: Callable[[ClosedInterval], None] | None = None,
        intervals_per_transaction: int = 1,
    ) -> None:
        if intervals_per_transaction < 1:
            raise ValueError("intervals_per_transaction must be >= 1")
        check_step_order(steps)
        self.community = community
        self.clock = clock
        self.source = source
        self.store = store
        self.steps = tuple(steps)
        self.run_id = run_id
        self.on_interval = on_interval
        self.intervals_per_transaction = intervals_per_transaction
        self._expected = np.arange(len(community.meters), dtype=np.int64)
        self._durable = source.durable
        self._carried: Mapping[type, object] = {}
        """What the steps provided in the previous interval (``IntervalContext.previous``)."""

    def run(self) -> PipelineReport:
        """Process every interval, then let each step write its totals."""
        report = PipelineReport()
        self.store.register_community(self.community)
        intervals = iter(self.clock.intervals())
        while group := list(islice(intervals, self.intervals_per_transaction)):
            with self.store.transaction() as tx:
                done = [self._process(interval, tx) for interval in group]
            for closed, written in done:
                report.intervals += 1
                report.readings += written
                if self._durable:
                    report.stored_on_arrival += int(closed.batch.meter_index.size)
                report.missing_readings += int(closed.missing_meter_index.size)
                if self.on_interval is not None:
                    self.on_interval(closed)
        with self.store.transaction() as tx:
            for step in self.steps:
                step.finish(self.run_id, tx)
        return report

    def _process(
        self, interval: Interval, tx: StoreTransaction
    ) -> tuple[ClosedInterval, WriteReport]:
        batch = self.source.collect(interval)
        quality = QualityFlag.OK
        if self._durable:  # live ingest stored (and counted) each reading on arrival
            batch = tx.read_readings(interval)
            written = WriteReport()
        else:
            written = tx.write_readings(batch)
        if written.conflicts:
            # The store kept the first value of each conflicting reading; the steps
            # must see the same values the store (and later the chain) holds.
            quality = QualityFlag.CONFLICT
            batch = tx.read_readings(interval)
        closed = close_interval(batch, self._expected, quality)
        ctx = IntervalContext(closed, self._carried)
        for step in self.steps:
            step.run(ctx, tx)
        self._carried = ctx.outputs()
        return closed, written

    def summaries(self) -> tuple[StepSummary, ...]:
        """What each step reported, in step order."""
        return tuple(step.summary() for step in self.steps)
