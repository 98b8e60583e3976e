"""The self-consumption battery rule keeps every battery within its limits, exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.self_consumption import BatteryFleet, self_consumption_step

MAX_WH = 10_000_000


@dataclass(frozen=True)
class Case:
    fleet: BatteryFleet
    stored_wh: np.ndarray
    surpluses_wh: list[np.ndarray]


@st.composite
def cases(draw: st.DrawFn, lossless: bool = False) -> Case:
    """A random fleet, its starting stored energy and a sequence of owner surpluses."""
    n = draw(st.integers(min_value=1, max_value=6))
    capacity = [draw(st.integers(min_value=1, max_value=MAX_WH)) for _ in range(n)]
    minimum = [draw(st.integers(min_value=0, max_value=c)) for c in capacity]
    max_step = [draw(st.integers(min_value=0, max_value=c)) for c in capacity]
    stored = [
        draw(st.integers(min_value=m, max_value=c)) for m, c in zip(minimum, capacity, strict=True)
    ]
    arrays = (np.array(x, dtype=np.int64) for x in (capacity, minimum, max_step))
    if lossless:
        fleet = BatteryFleet.from_round_trip(*arrays, np.ones(n))
    elif draw(st.booleans()):
        efficiency = st.floats(min_value=0.25, max_value=1.0)
        round_trip = np.array([draw(efficiency) for _ in range(n)])
        fleet = BatteryFleet.from_round_trip(*arrays, round_trip)
    else:
        efficiency = st.floats(min_value=0.5, max_value=1.0)
        charge = np.array([draw(efficiency) for _ in range(n)])
        discharge = np.array([draw(efficiency) for _ in range(n)])
        fleet = BatteryFleet(*arrays, charge, discharge)
    surplus = st.integers(min_value=-2 * MAX_WH, max_value=2 * MAX_WH) | st.sampled_from([-1, 0, 1])
    steps = draw(st.integers(min_value=1, max_value=12))
    surpluses = [np.array([draw(surplus) for _ in range(n)], dtype=np.int64) for _ in range(steps)]
    return Case(fleet, np.array(stored, dtype=np.int64), surpluses)


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_rule_respects_limits_and_conserves_energy(case: Case) -> None:
    """Over any sequence of surpluses every battery stays within its limits.

    Per interval: min <= stored <= capacity; charge and discharge within [0, max_step],
    never both; charge only from a surplus and at most the surplus; discharge only into a
    deficit and at most the deficit; new - old stored == charge - discharge - loss, loss >= 0;
    the store gains at most charge x charge efficiency and delivers at most what it loses
    x discharge efficiency.
    """
    fleet, stored = case.fleet, case.stored_wh
    for surplus in case.surpluses_wh:
        step = self_consumption_step(fleet, stored, surplus)
        for column in (step.charge_wh, step.discharge_wh, step.stored_wh, step.loss_wh):
            assert column.dtype == np.int64
        assert (step.stored_wh >= fleet.min_stored_wh).all()
        assert (step.stored_wh <= fleet.capacity_wh).all()
        assert (step.charge_wh >= 0).all()
        assert (step.discharge_wh >= 0).all()
        assert (step.charge_wh <= fleet.max_step_wh).all()
        assert (step.discharge_wh <= fleet.max_step_wh).all()
        assert not ((step.charge_wh > 0) & (step.discharge_wh > 0)).any()
        assert (step.charge_wh[surplus <= 0] == 0).all()
        assert (step.discharge_wh[surplus >= 0] == 0).all()
        assert (step.charge_wh <= np.maximum(surplus, 0)).all()
        assert (step.discharge_wh <= np.maximum(-surplus, 0)).all()
        assert (step.loss_wh >= 0).all()
        gain = np.maximum(step.stored_wh - stored, 0)
        drop = np.maximum(stored - step.stored_wh, 0)
        assert (gain <= step.charge_wh * fleet.charge_efficiency + 1e-6).all()
        assert (step.discharge_wh <= drop * fleet.discharge_efficiency + 1e-6).all()
        assert (step.stored_wh - stored == step.charge_wh - step.discharge_wh - step.loss_wh).all()
        stored = step.stored_wh


@settings(max_examples=200, deadline=None)
@given(case=cases(lossless=True))
def test_lossless_battery_loses_nothing_and_moves_what_it_can(case: Case) -> None:
    """With efficiency 1.0 the loss is 0 and each battery moves min(need, power, room)."""
    fleet, stored = case.fleet, case.stored_wh
    for surplus in case.surpluses_wh:
        step = self_consumption_step(fleet, stored, surplus)
        assert (step.loss_wh == 0).all()
        room = fleet.capacity_wh - stored
        usable = stored - fleet.min_stored_wh
        expected_charge = np.minimum(np.minimum(np.maximum(surplus, 0), fleet.max_step_wh), room)
        expected_discharge = np.minimum(
            np.minimum(np.maximum(-surplus, 0), fleet.max_step_wh), usable
        )
        assert (step.charge_wh == expected_charge).all()
        assert (step.discharge_wh == expected_discharge).all()
        assert (step.stored_wh == stored + step.charge_wh - step.discharge_wh).all()
        stored = step.stored_wh


def test_lossy_charge_and_discharge_example() -> None:
    """90 % each way: 1000 Wh in stores 900 Wh; 900 Wh out takes 1000 Wh from the store."""
    fleet = BatteryFleet(
        capacity_wh=np.array([10_000], dtype=np.int64),
        min_stored_wh=np.array([1_000], dtype=np.int64),
        max_step_wh=np.array([2_500], dtype=np.int64),
        charge_efficiency=np.array([0.9]),
        discharge_efficiency=np.array([0.9]),
    )
    charged = self_consumption_step(fleet, np.array([5_000]), np.array([1_000]))
    assert (charged.charge_wh[0], charged.stored_wh[0], charged.loss_wh[0]) == (1_000, 5_900, 100)
    discharged = self_consumption_step(fleet, np.array([5_000]), np.array([-900]))
    assert discharged.discharge_wh[0] == 900
    assert discharged.stored_wh[0] == 4_000
    assert discharged.loss_wh[0] == 100


def test_full_and_empty_batteries_stay_idle() -> None:
    """A full battery does not charge; one at its minimum does not discharge."""
    fleet = BatteryFleet.from_round_trip(
        np.array([5_000, 5_000], dtype=np.int64),
        np.array([500, 500], dtype=np.int64),
        np.array([1_000, 1_000], dtype=np.int64),
        np.array([0.81, 0.81]),
    )
    step = self_consumption_step(fleet, np.array([5_000, 500]), np.array([3_000, -3_000]))
    assert step.charge_wh.tolist() == [0, 0]
    assert step.discharge_wh.tolist() == [0, 0]
    assert step.stored_wh.tolist() == [5_000, 500]
