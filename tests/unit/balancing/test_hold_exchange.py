"""The controller at the connection: hold_exchange moves the batteries' setpoints back
towards the planned exchange, never further than the deviation, always in the right
direction, and never to a setpoint the batteries cannot follow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.self_consumption import BatteryFleet, hold_exchange, self_consumption_step


@dataclass
class Case:
    fleet: BatteryFleet
    stored: np.ndarray
    setpoint: np.ndarray
    deviation: int


def limits(fleet: BatteryFleet, stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(most discharge, most charge) each battery can follow this interval, AC Wh:
    the power rating, and the energy above the floor (after the discharge loss) or below
    the capacity (before the charge loss)."""
    out, into = [], []
    for b in range(stored.size):
        usable = max(int(stored[b]) - int(fleet.min_stored_wh[b]), 0)
        room = max(int(fleet.capacity_wh[b]) - int(stored[b]), 0)
        step = int(fleet.max_step_wh[b])
        out.append(min(step, int(np.floor(usable * fleet.discharge_efficiency[b]))))
        into.append(min(step, int(np.floor(room / fleet.charge_efficiency[b]))))
    return np.array(out, dtype=np.int64), np.array(into, dtype=np.int64)


@st.composite
def cases(draw: st.DrawFn, *, feasible: bool = True) -> Case:
    b = draw(st.integers(1, 5))
    capacity = np.array(draw(st.lists(st.integers(0, 20_000), min_size=b, max_size=b)))
    min_stored = np.array([draw(st.integers(0, int(c) // 3)) for c in capacity])
    stored = np.array(
        [draw(st.integers(int(m), int(c))) for m, c in zip(min_stored, capacity, strict=True)]
    )
    step = np.array(draw(st.lists(st.integers(0, 5_000), min_size=b, max_size=b)))
    efficiency = np.array(draw(st.lists(st.floats(0.6, 1.0), min_size=b, max_size=b)))
    fleet = BatteryFleet.from_round_trip(
        capacity.astype(np.int64), min_stored.astype(np.int64), step.astype(np.int64), efficiency
    )
    stored = stored.astype(np.int64)
    most_out, most_in = limits(fleet, stored)
    if feasible:
        setpoint = [
            draw(st.integers(-int(o), int(i))) for o, i in zip(most_out, most_in, strict=True)
        ]
    else:
        setpoint = draw(st.lists(st.integers(-10_000, 10_000), min_size=b, max_size=b))
    deviation = draw(st.integers(-30_000, 30_000))
    return Case(fleet, stored, np.array(setpoint, dtype=np.int64), deviation)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_adjusted_setpoints_are_followed_exactly(case: Case) -> None:
    """A feasible setpoint stays feasible: the battery model follows the adjusted
    setpoint without clipping, and its limits hold."""
    adjusted = hold_exchange(case.fleet, case.stored, case.setpoint, case.deviation)
    most_out, most_in = limits(case.fleet, case.stored)
    assert (adjusted >= -most_out).all()
    assert (adjusted <= most_in).all()
    step = self_consumption_step(case.fleet, case.stored, adjusted)
    assert np.array_equal(step.charge_wh - step.discharge_wh, adjusted)
    assert (step.charge_wh <= case.fleet.max_step_wh).all()
    assert (step.discharge_wh <= case.fleet.max_step_wh).all()
    assert (step.stored_wh >= case.fleet.min_stored_wh).all()
    assert (step.stored_wh <= case.fleet.capacity_wh).all()


@settings(max_examples=300, deadline=None)
@given(cases(feasible=False))
def test_the_move_is_bounded_by_the_deviation_and_in_its_direction(case: Case) -> None:
    adjusted = hold_exchange(case.fleet, case.stored, case.setpoint, case.deviation)
    assert adjusted.dtype == np.int64
    assert adjusted.shape == case.setpoint.shape
    move = adjusted - case.setpoint
    if case.deviation > 0:  # more import than planned: charge less or discharge more
        assert (move <= 0).all()
    else:
        assert (move >= 0).all()
    assert abs(int(move.sum())) <= abs(case.deviation)
    # a battery already beyond its limit in the direction of the move is not pushed on
    most_out, most_in = limits(case.fleet, case.stored)
    beyond = case.setpoint < -most_out if case.deviation > 0 else case.setpoint > most_in
    assert (move[beyond] == 0).all()


@settings(max_examples=300, deadline=None)
@given(cases())
def test_the_full_deviation_is_taken_unless_the_fleet_runs_out_of_room(case: Case) -> None:
    adjusted = hold_exchange(case.fleet, case.stored, case.setpoint, case.deviation)
    moved = abs(int((adjusted - case.setpoint).sum()))
    most_out, most_in = limits(case.fleet, case.stored)
    if case.deviation > 0:
        room = int((case.setpoint + most_out).sum())
    else:
        room = int((most_in - case.setpoint).sum())
    assert moved == min(abs(case.deviation), room)


@settings(max_examples=100, deadline=None)
@given(cases(feasible=False))
def test_zero_deviation_is_a_no_op(case: Case) -> None:
    adjusted = hold_exchange(case.fleet, case.stored, case.setpoint, 0)
    assert np.array_equal(adjusted, case.setpoint)
    assert adjusted is not case.setpoint  # a copy: the caller's array is not shared


def test_hand_example_shares_pro_rata_to_room() -> None:
    """Two lossless batteries at rest, 1000 and 3000 Wh of discharge room: 2000 Wh of
    unplanned import is taken 500 / 1500."""
    fleet = BatteryFleet.from_round_trip(
        np.array([10_000, 10_000]), np.array([0, 0]), np.array([1_000, 3_000]), np.ones(2)
    )
    stored = np.array([5_000, 5_000])
    adjusted = hold_exchange(fleet, stored, np.array([0, 0]), 2_000)
    assert adjusted.tolist() == [-500, -1_500]
    # the reverse: a surplus of 800 Wh charges them, 200 / 600
    assert hold_exchange(fleet, stored, np.array([0, 0]), -800).tolist() == [200, 600]


def test_no_batteries_is_a_no_op() -> None:
    fleet = BatteryFleet.from_round_trip(
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0),
    )
    adjusted = hold_exchange(fleet, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 500)
    assert adjusted.shape == (0,)
