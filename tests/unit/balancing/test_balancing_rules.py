"""The balancing rules that the step applies each interval, as pure functions: the plan's
horizon blocks, an island's running totals, the reserve, the self-consumption rule's
counterfactual exchange, and the market's island price."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.balancing.dispatch import Schedule, planned_member_net_wh
from gridshare.balancing.horizon import block_sum, horizon_spans
from gridshare.balancing.islanding import Island
from gridshare.balancing.monitor import reserve_kw
from gridshare.balancing.plants import plant_output_wh
from gridshare.balancing.self_consumption import (
    BatteryFleet,
    rule_exchange_wh,
    self_consumption_step,
)
from gridshare.market.clearing import GridPrices
from gridshare.model import ReadingBatch
from gridshare.units import EPOCH, Interval


@given(st.integers(1, 400), st.integers(0, 50), st.integers(1, 12))
def test_horizon_spans_cover_the_horizon_fine_first(horizon: int, fine: int, block: int) -> None:
    spans = horizon_spans(horizon, fine, block)
    assert int(spans.sum()) == horizon
    assert (spans[: min(fine, horizon)] == 1).all()
    assert (spans[min(fine, horizon) :] <= block).all()
    series = np.arange(horizon, dtype=np.float64)
    assert block_sum(series, spans).sum() == pytest.approx(series.sum())


def test_horizon_spans_by_hand_and_refusals() -> None:
    assert horizon_spans(96, 8, 4).tolist() == [1] * 8 + [4] * 22
    assert horizon_spans(10, 2, 3).tolist() == [1, 1, 3, 3, 2]
    with pytest.raises(ValueError, match="horizon >= 1"):
        horizon_spans(0, 8, 4)


def test_an_island_adds_shed_and_critical_load_per_interval() -> None:
    consumption = np.array([100.0, 250.0, 40.0, 10.0])
    shed = np.array([True, False, True, False])
    critical = np.array([False, True, True, False])
    island = Island(1_000).with_interval(consumption, shed, critical)
    island = island.with_interval(consumption, shed, critical)
    assert (island.intervals, island.shed_wh) == (2, 280)
    assert (island.unserved_critical_wh, island.served_critical_wh) == (80, 500)
    assert island.end_s(900) == 1_000 + 2 * 900


def _fleet(n: int) -> BatteryFleet:
    capacity = np.full(n, 10_000, dtype=np.int64)
    return BatteryFleet.from_round_trip(
        capacity, capacity // 10, np.full(n, 1_250, dtype=np.int64), np.full(n, 0.9)
    )


def test_reserve_is_power_limited_when_full_and_energy_limited_when_low() -> None:
    fleet = _fleet(2)
    # full batteries: each gives its rated 5 kW (1,250 Wh in a quarter hour) for an hour
    assert reserve_kw(fleet, np.array([10_000, 10_000]), 0, 0.25) == pytest.approx(10.0)
    # 500 Wh above the minimum of 1,000 Wh, after losses: under 0.5 kW for an hour each
    low = reserve_kw(fleet, np.array([1_500, 1_500]), 0, 0.25)
    assert low == pytest.approx(2 * 500 * np.sqrt(0.9) / 1000)
    # plants add their available output per interval as power
    assert reserve_kw(fleet, np.array([1_000, 1_000]), 250, 0.25) == pytest.approx(1.0)


@given(
    st.lists(st.integers(-3_000, 3_000), min_size=1, max_size=4),
    st.integers(-5_000, 5_000),
    st.integers(0, 2_000),
)
def test_the_rules_exchange_swaps_metered_battery_and_plant_flows_for_the_rules(
    surplus: list[int], metered_exchange: int, plant_available: int
) -> None:
    n = len(surplus)
    fleet = _fleet(n)
    shadow = np.full(n, 5_000, dtype=np.int64)
    owner = np.arange(n, dtype=np.int64)
    production = np.maximum(np.array(surplus), 0)
    consumption = np.maximum(-np.array(surplus), 0)
    before, stored_after = rule_exchange_wh(
        fleet, shadow, owner, production, consumption, metered_exchange, 0, 0, plant_available
    )
    step = self_consumption_step(fleet, shadow, production - consumption)
    expected = metered_exchange + int(step.charge_wh.sum() - step.discharge_wh.sum())
    expected -= min(max(expected, 0), plant_available)
    assert before == expected
    assert stored_after.tolist() == step.stored_wh.tolist()
    # what the batteries and plants really did is taken out first
    moved, _ = rule_exchange_wh(
        fleet, shadow, owner, production, consumption, metered_exchange + 300, 200, 100, 0
    )
    unmoved, _ = rule_exchange_wh(
        fleet, shadow, owner, production, consumption, metered_exchange, 0, 0, 0
    )
    assert moved == unmoved + 300 + 100 - 200


def test_the_island_price_is_the_tariffs_midpoint() -> None:
    assert GridPrices(280_000, 70_000).islanded() == GridPrices(175_000, 175_000)
    assert GridPrices(3, 0).islanded() == GridPrices(1, 1)


def test_a_plants_output_is_its_meters_export_or_nothing() -> None:
    batch = ReadingBatch(
        Interval(EPOCH, timedelta(minutes=15)),
        np.array([0, 2, 3]),
        np.array([5, 0, 0]),
        np.array([0, 700, 40]),
        np.full(3, -1),
    )
    out = plant_output_wh(batch, np.array([2, 1, 3]))
    assert out.tolist() == [700, 0, 40]
    assert out.dtype == np.int64
    assert plant_output_wh(batch, np.zeros(0, dtype=np.int64)).size == 0


def test_members_planned_net_adds_their_batteries_net_charge() -> None:
    zeros = np.zeros((2, 3))
    charge = np.array([[0.0, 300.4, 0.0], [0.0, 0.0, 0.0]])
    discharge = np.array([[0.0, 0.0, 0.0], [0.0, 100.0, 0.0]])
    schedule = Schedule(charge, discharge, zeros, np.zeros(3), np.zeros(3), 0.0, 0.0)
    net = np.array([[10.0, 1_000.0, 0.0], [0.0, -200.2, 0.0], [0.0, 50.0, 0.0]])
    owner = np.array([0, 2])
    planned = planned_member_net_wh(schedule, net, owner, np.array([1, 1, 1]))
    assert planned is not None
    assert planned.tolist() == [1_300, -200, -50]
    assert planned_member_net_wh(schedule, net, owner, np.array([1, 2])) is None
    assert planned_member_net_wh(schedule, net, owner, np.array([3])) is None
