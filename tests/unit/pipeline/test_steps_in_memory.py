"""The market, balancing and commitment steps on in-memory adapters (store and chains)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.factories import QUARTER, small_community
from tests.unit.pipeline.conftest import PLANNED
from tests.unit.pipeline.memory_run import MemoryRun, run_tiny

from gridshare.app.steps import Surroundings
from gridshare.balancing.schedule import net_setpoints, schedule_hash
from gridshare.market.settlement import DayBatch, trades_root
from gridshare.metering.commitment import interval_trees
from gridshare.model import NOT_REPORTED, ReadingBatch, WriteReport
from gridshare.pipeline.market_step import MarketStep
from gridshare.pipeline.ports import Setpoints
from gridshare.simulator.source import SimulatedMeterSource
from gridshare.storage.memory import InMemoryStore
from gridshare.units import Interval, from_unix_seconds

Run = tuple[InMemoryStore, MemoryRun]


def test_market_places_clears_and_settles(day_run: Run) -> None:
    store, run = day_run
    step = run.step("market")
    assert isinstance(step, MarketStep)
    intervals = store.market_intervals()
    fills = store.market_fills()
    assert step.orders > 0
    # every accepted order but those for the interval still open is settled
    assert 0 < len(fills) == sum(i.orders for i in intervals) < step.orders - step.rejected
    traded = [i for i in intervals if i.volume_wh > 0]
    assert traded
    # money is conserved in every settled interval
    for i in intervals:
        assert (
            i.buyers_paid_micros == i.sellers_credited_micros + i.refunds_micros + i.to_fund_micros
        )
    # what was bought was sold, and no one filled beyond its order
    assert sum(f.filled_wh for f in fills if f.side == "buy") == sum(
        f.filled_wh for f in fills if f.side == "sell"
    )
    assert all(f.filled_wh <= f.quantity_wh for f in fills)
    # the chain twin got every traded interval: the complete first day as one batch,
    # the rest interval by interval with the trades root the store recorded
    on_chain = {c.start_s for c, _, _ in run.market.settled}
    on_chain |= {start for batch, _ in run.market.days for start in _day_starts(batch)}
    assert {i.interval_start_s for i in traded} <= on_chain
    roots = {i.interval_start_s: i.trades_root for i in intervals}
    for clearing, _settlement, root in run.market.settled:
        assert root == trades_root(clearing)
        assert roots[clearing.start_s] == "0x" + root.hex()
    assert run.market.released  # sellers' proceeds released after settlement


def _day_starts(batch: DayBatch) -> set[int]:
    return set(range(batch.day * 86_400, (batch.day + 1) * 86_400, 900))


def test_balancing_hashes_and_records_each_plan(day_run: Run) -> None:
    store, run = day_run
    schedules = run.balancing.schedules
    assert len(schedules) == PLANNED
    recorded = {
        b.interval_start_s + 900: b.next_plan_hash
        for b in store.balancing_intervals()
        if b.next_plan_hash is not None
    }
    for start, horizon, digest, _planned, _rule in schedules:
        assert horizon == 96
        setpoints = store.tables.dispatch_setpoints[start]
        meters = [m for m, _ in setpoints]
        again = schedule_hash(start, [net_setpoints(meters, [wh for _, wh in setpoints])])
        assert digest == again
        assert recorded[start] == "0x" + digest.hex()
    assert len(store.balancing_intervals()) == 96 + PLANNED


def test_commitments_are_the_interval_trees_of_the_stored_readings(day_run: Run) -> None:
    store, run = day_run
    commitments = store.commitments()
    assert len(commitments) == 96 + PLANNED
    kinds = run.community.catalogue.kind_code
    length = run.community.interval_length
    with store.transaction() as tx:
        for record in commitments:
            batch = tx.read_readings(
                Interval.containing(from_unix_seconds(record.interval_start_s), length)
            )
            trees = interval_trees(batch, kinds, run.devices).commitment
            assert record.production_root == "0x" + trees.production_root.hex()
            assert record.consumption_root == "0x" + trees.consumption_root.hex()
            assert (record.production_wh, record.readings) == (
                trees.production_wh,
                trees.readings,
            )
            assert run.metering.committed[record.interval_start_s] == trees


def test_a_failed_unit_of_work_leaves_nothing(day_run: Run) -> None:
    store, _run = day_run
    before = len(store.tables.market_rejections)

    def fail() -> None:
        with store.transaction() as tx:
            tx.write_market_rejections(store.tables.market_rejections[:1])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert len(store.tables.market_rejections) == before


def test_in_memory_readings_are_idempotent() -> None:
    community = small_community(2)
    store = InMemoryStore()
    store.register_community(community)
    interval = Interval.containing(from_unix_seconds(1_750_000_500), QUARTER)
    first = ReadingBatch(interval, np.array([0, 1]), np.array([5, 6]), np.array([0, 0]),
                         np.full(2, NOT_REPORTED))  # fmt: skip
    again = ReadingBatch(interval, np.array([1, 2]), np.array([7, 8]), np.array([0, 0]),
                         np.full(2, NOT_REPORTED))  # fmt: skip
    with store.transaction() as tx:
        assert tx.write_readings(first) == WriteReport(2, 0, 0)
        assert tx.write_readings(first) == WriteReport(0, 2, 0)
        assert tx.write_readings(again) == WriteReport(1, 0, 1)
        kept = tx.read_readings(interval)
    assert kept.meter_index.tolist() == [0, 1, 2]
    assert kept.import_wh.tolist() == [5, 6, 8]  # the first value of the conflict is kept
    assert store.tables.conflicts == [(interval.start_s, 1, (7, 0, NOT_REPORTED))]


class _Devices:
    """The simulated devices, with every command the balancing step sent them kept."""

    def __init__(self, source: SimulatedMeterSource) -> None:
        self.source = source
        self.applied: list[Setpoints] = []

    def apply(self, setpoints: Setpoints) -> None:
        self.applied.append(setpoints)
        self.source.apply(setpoints)


class _Outage:
    """The main grid is away for the intervals in ``[down_s, up_s)``."""

    def __init__(self, down_s: int, up_s: int) -> None:
        self.down_s, self.up_s = down_s, up_s

    def is_connected(self, interval_start_s: int) -> bool:
        return not self.down_s <= interval_start_s < self.up_s


def test_members_shed_in_an_island_are_restored_when_the_grid_returns() -> None:
    """Before its first plan the step dispatches nothing while connected; an island's
    shedding must still be undone: the first connected interval after it gets setpoints
    that shed nobody, and the step is silent again after that."""
    devices: list[_Devices] = []
    outage: list[_Outage] = []

    def surroundings(source: SimulatedMeterSource, first_s: int) -> Surroundings:
        devices.append(_Devices(source))
        outage.append(_Outage(first_s + 3 * 900, first_s + 5 * 900))
        return Surroundings(devices[0], outage[0], source)

    run_tiny(InMemoryStore(), intervals=8, surroundings=surroundings)
    applied = {s.interval_start_s - outage[0].down_s: s for s in devices[0].applied}
    # planned one interval ahead: the island's two intervals, then the first one served
    assert sorted(applied) == [0, 900, 1800]
    assert applied[0].shed is not None
    assert applied[900].shed is not None
    assert applied[1800].shed is None
    assert applied[1800].battery_net_wh is None  # served by the devices' own rules
