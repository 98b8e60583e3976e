"""The pipeline loop against a real store: re-delivered and conflicting readings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gridshare.model import NOT_REPORTED, ReadingBatch
from gridshare.pipeline import Pipeline
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.storage import SqlStore, open_store
from gridshare.units import Interval
from tests.factories import small_community as _community

QUARTER = timedelta(minutes=15)
START = datetime(2025, 6, 2, 4, tzinfo=UTC)


class FixedClock:
    def __init__(self, count: int) -> None:
        self.count = count

    def intervals(self) -> Iterator[Interval]:
        interval = Interval(START, QUARTER)
        for _ in range(self.count):
            yield interval
            interval = interval.next()


class FixedMeters:
    """PCC plus three consumers; ``member_wh`` is what each consumer's meter reports."""

    durable = False

    def __init__(self, member_wh: list[int]) -> None:
        self.member_wh = member_wh

    def collect(self, interval: Interval) -> ReadingBatch:
        imports = np.array([sum(self.member_wh), *self.member_wh], dtype=np.int64)
        n = imports.size
        return ReadingBatch(
            interval,
            np.arange(n, dtype=np.int64),
            imports,
            np.zeros(n, dtype=np.int64),
            np.full(n, NOT_REPORTED, dtype=np.int64),
        )


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    opened = open_store(database_url)
    yield opened
    opened.close()


def _run(
    store: SqlStore, member_wh: list[int], run_id: str
) -> tuple[Pipeline, EnergyAccountingStep]:
    community = _community()
    step = EnergyAccountingStep(community)
    pipeline = Pipeline(
        community, FixedClock(4), FixedMeters(member_wh), store, [step], run_id=run_id
    )
    return pipeline, step


def test_redelivered_interval_is_not_counted_twice(store: SqlStore) -> None:
    community = _community()
    store.register_community(community)
    store.begin_run("a", "t", "test", 0)
    store.begin_run("b", "t", "test", 0)
    first, _ = _run(store, [100, 200, 300], "a")
    report = first.run()
    assert (report.readings.inserted, report.readings.duplicates) == (16, 0)
    again, step = _run(store, [100, 200, 300], "b")
    report = again.run()
    assert (report.readings.inserted, report.readings.duplicates) == (0, 16)
    assert store.count("readings") == 16
    assert store.count("interval_balances") == 4
    assert step.summary().consumption_kwh == pytest.approx(4 * 0.6)


def test_conflicting_reading_keeps_first_value_everywhere(store: SqlStore) -> None:
    store.register_community(_community())
    store.begin_run("a", "t", "test", 0)
    store.begin_run("b", "t", "test", 0)
    _run(store, [100, 200, 300], "a")[0].run()
    # Member 1 now claims 250 Wh instead of 200 Wh, and the PCC agrees with the claim.
    pipeline, step = _run(store, [100, 250, 300], "b")
    report = pipeline.run()
    assert report.readings.conflicts == 8  # the member's and the PCC's readings, 4 intervals
    assert len(store.conflicts()) == 8
    summary = step.summary()
    assert summary.consumption_kwh == pytest.approx(4 * 0.6)  # stored values, not offered
    assert summary.energy_balance_residual_wh == 0
    assert summary.intervals_flagged["conflict"] == 4
    balances = store.interval_balances("t")
    assert balances["consumption_wh"].tolist() == [600] * 4
    assert (balances["quality"] & 16).all()


class FailingMeters(FixedMeters):
    """Delivers two intervals, then fails like a broken meter link."""

    def __init__(self) -> None:
        super().__init__([100, 200, 300])
        self.calls = 0

    def collect(self, interval: Interval) -> ReadingBatch:
        self.calls += 1
        if self.calls == 3:
            raise ConnectionError("meter gateway unreachable")
        return super().collect(interval)


@pytest.mark.parametrize(("per_transaction", "kept_intervals"), [(1, 2), (4, 0)])
def test_failure_keeps_only_whole_committed_transactions(
    store: SqlStore, per_transaction: int, kept_intervals: int
) -> None:
    community = _community()
    step = EnergyAccountingStep(community)
    pipeline = Pipeline(
        community,
        FixedClock(4),
        FailingMeters(),
        store,
        [step],
        run_id="a",
        intervals_per_transaction=per_transaction,
    )
    with pytest.raises(ConnectionError):
        pipeline.run()
    assert store.count("readings") == 4 * kept_intervals
    assert store.count("interval_balances") == kept_intervals
