"""Islanding: critical loads are served first, shedding follows priority, members that
feed in stay connected, one islanded interval balances exactly in integer Wh, batteries
stay within their limits, and the emergency protocol keeps a reserve for critical loads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.islanding import (
    EmergencyProtocol,
    island_interval,
    plan_shedding,
    shedding_order,
)
from gridshare.balancing.self_consumption import BatteryFleet
from gridshare.errors import DataError


def ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def bools(values: list[bool]) -> np.ndarray:
    return np.array(values, dtype=bool)


def lossless(capacity: list[int], min_stored: list[int], max_step: list[int]) -> BatteryFleet:
    return BatteryFleet.from_round_trip(
        ints(capacity), ints(min_stored), ints(max_step), np.ones(len(capacity))
    )


@dataclass
class Island:
    load: np.ndarray
    production: np.ndarray
    shed: np.ndarray
    critical: np.ndarray
    priority: np.ndarray
    fleet: BatteryFleet
    owner: np.ndarray
    stored: np.ndarray
    follow: np.ndarray


@st.composite
def islands(draw: st.DrawFn) -> Island:
    n = draw(st.integers(1, 7))
    b = draw(st.integers(0, 3))
    f = draw(st.integers(0, 2))
    wh = st.integers(0, 5_000)
    load = ints(draw(st.lists(wh, min_size=n, max_size=n)))
    production = ints(draw(st.lists(st.one_of(st.just(0), wh), min_size=n, max_size=n)))
    shed = bools(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if draw(st.booleans()):
        shed[:] = False  # often nothing is commanded
    critical = bools(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    priority = ints(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    capacity = ints(draw(st.lists(st.integers(0, 10_000), min_size=b, max_size=b)))
    min_stored = np.array(
        [draw(st.integers(0, int(c) // 4)) for c in capacity], dtype=np.int64
    ).reshape(b)
    stored = np.array(
        [draw(st.integers(int(m), int(c))) for m, c in zip(min_stored, capacity, strict=True)],
        dtype=np.int64,
    ).reshape(b)
    max_step = ints(draw(st.lists(st.integers(0, 3_000), min_size=b, max_size=b)))
    efficiency = np.array(draw(st.lists(st.floats(0.7, 1.0), min_size=b, max_size=b)))
    fleet = BatteryFleet.from_round_trip(capacity, min_stored, max_step, efficiency)
    owner = ints(draw(st.lists(st.integers(0, n - 1), min_size=b, max_size=b)))
    follow = ints(draw(st.lists(st.integers(0, 3_000), min_size=f, max_size=f)))
    return Island(load, production, shed, critical, priority, fleet, owner, stored, follow)


def run(i: Island):
    return island_interval(
        i.load,
        i.production,
        i.shed,
        i.critical,
        i.priority,
        i.fleet,
        i.owner,
        i.stored,
        i.follow,
    )


def test_shedding_order_is_non_critical_first_then_priority_then_position() -> None:
    critical = bools([True, False, False, True, False])
    priority = ints([0, 2, 1, 0, 1])
    assert shedding_order(critical, priority).tolist() == [2, 4, 1, 0, 3]


# -- island_interval -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(islands())
def test_critical_loads_are_served_first(i: Island) -> None:
    """Whenever the protection trips a critical member, every non-critical member with
    a positive net load is already disconnected."""
    out = run(i)
    net = i.load - i.production
    if (out.tripped & i.critical).any():
        assert not (out.connected & ~i.critical & (net > 0)).any()


@settings(max_examples=300, deadline=None)
@given(islands())
def test_tripping_follows_the_shedding_order(i: Island) -> None:
    """The tripped members are a prefix, in shedding order, of the members that were
    still connected with a positive net load."""
    out = run(i)
    net = i.load - i.production
    candidates = [int(p) for p in shedding_order(i.critical, i.priority) if not i.shed[p]]
    candidates = [p for p in candidates if net[p] > 0]
    flags = [bool(out.tripped[p]) for p in candidates]
    assert flags == sorted(flags, reverse=True)  # True... then False...
    # only those are ever tripped, and commanded sheds stay disconnected
    assert not (out.tripped & (i.shed | (net <= 0))).any()
    assert np.array_equal(out.connected, ~i.shed & ~out.tripped)


@settings(max_examples=300, deadline=None)
@given(islands())
def test_members_feeding_in_are_never_tripped(i: Island) -> None:
    out = run(i)
    feeding = i.production >= i.load
    assert not (out.tripped & feeding).any()
    assert (out.connected | i.shed)[feeding].all()


@settings(max_examples=300, deadline=None)
@given(islands())
def test_an_islanded_interval_balances_exactly(i: Island) -> None:
    """In integers: the connected members' net load plus the batteries' net charge, less
    what the load-following plants give, plus the curtailed production, is the imbalance
    left to the grid-forming droop; the island sheds its way to balance, so that is 0."""
    out = run(i)
    step = out.battery
    connected_net = int(np.where(out.connected, i.load - i.production, 0).sum())
    identity = (
        connected_net
        + int(step.charge_wh.sum())
        - int(step.discharge_wh.sum())
        - int(out.dispatchable_wh.sum())
        + int(out.curtailed_wh.sum())
    )
    assert identity == out.imbalance_wh
    assert out.imbalance_wh == 0
    # never both charging and discharging the fleet, following and curtailing
    assert not (step.charge_wh.sum() > 0 and step.discharge_wh.sum() > 0)
    assert not (out.dispatchable_wh.sum() > 0 and out.curtailed_wh.sum() > 0)
    # plants give at most what they have; only connected members' production is curtailed
    assert (out.dispatchable_wh >= 0).all()
    assert (out.dispatchable_wh <= i.follow).all()
    assert (out.curtailed_wh >= 0).all()
    assert (out.curtailed_wh <= np.where(out.connected, i.production, 0)).all()


@settings(max_examples=300, deadline=None)
@given(islands())
def test_batteries_stay_within_their_limits(i: Island) -> None:
    out = run(i)
    step = out.battery
    fleet = i.fleet
    assert (step.charge_wh >= 0).all()
    assert (step.discharge_wh >= 0).all()
    assert (step.charge_wh <= fleet.max_step_wh).all()
    assert (step.discharge_wh <= fleet.max_step_wh).all()
    assert (step.stored_wh >= fleet.min_stored_wh).all()
    assert (step.stored_wh <= fleet.capacity_wh).all()
    assert (step.loss_wh >= 0).all()
    # energy is conserved in every battery: stored change = charge - discharge - loss
    assert np.array_equal(
        step.stored_wh - i.stored, step.charge_wh - step.discharge_wh - step.loss_wh
    )
    # the battery of a disconnected member does nothing
    idle = ~out.connected[i.owner]
    assert (step.charge_wh[idle] == 0).all()
    assert (step.discharge_wh[idle] == 0).all()


def test_deficit_hand_example() -> None:
    """1000 Wh of load, 200 Wh of plant and 300 Wh of battery power: the lowest
    priority non-critical member (500 Wh) trips, the rest is served."""
    out = island_interval(
        ints([500, 400, 100]),
        ints([0, 0, 0]),
        bools([False, False, False]),
        bools([False, False, True]),
        ints([0, 1, 0]),
        lossless([1_000], [0], [300]),
        ints([2]),
        ints([1_000]),
        ints([200]),
    )
    assert out.tripped.tolist() == [True, False, False]
    assert out.connected.tolist() == [False, True, True]
    assert out.dispatchable_wh.tolist() == [200]
    assert out.battery.discharge_wh.tolist() == [300]
    assert out.battery.stored_wh.tolist() == [700]
    assert out.curtailed_wh.tolist() == [0, 0, 0]
    assert out.imbalance_wh == 0


def test_surplus_hand_example_is_stored_then_curtailed() -> None:
    """900 Wh of surplus, 100 Wh of headroom: the rest is curtailed at the producer."""
    out = island_interval(
        ints([100, 0]),
        ints([0, 1_000]),
        bools([False, False]),
        bools([True, False]),
        ints([0, 0]),
        lossless([1_000], [0], [500]),
        ints([0]),
        ints([900]),
        ints([0]),
    )
    assert out.battery.charge_wh.tolist() == [100]
    assert out.battery.stored_wh.tolist() == [1_000]
    assert out.curtailed_wh.tolist() == [0, 800]
    assert out.tripped.tolist() == [False, False]


def test_tripping_a_member_takes_its_battery_out_too() -> None:
    """300 Wh of load, 250 Wh of battery power: the battery's owner is the non-critical
    member and trips first; its battery goes with it, so the critical member's 200 Wh
    has nothing left to serve it and trips as well."""
    out = island_interval(
        ints([100, 200]),
        ints([0, 0]),
        bools([False, False]),
        bools([False, True]),
        ints([0, 0]),
        lossless([1_000], [0], [250]),
        ints([0]),
        ints([1_000]),
        ints([]),
    )
    assert out.tripped.tolist() == [True, True]
    assert out.battery.discharge_wh.tolist() == [0]
    assert out.battery.stored_wh.tolist() == [1_000]


def test_island_inputs_need_one_value_per_member() -> None:
    with pytest.raises(DataError, match="one value per member"):
        island_interval(
            ints([1, 2]),
            ints([1]),
            bools([False, False]),
            bools([False, False]),
            ints([0, 0]),
            lossless([], [], []),
            ints([]),
            ints([]),
            ints([]),
        )


# -- plan_shedding ---------------------------------------------------------------------

# members: 0 critical (100 Wh), 1 and 2 non-critical (300 Wh at priority 1, 200 Wh at
# priority 2), 3 non-critical at the lowest priority but feeding in 50 Wh
HAND = {
    "load_wh": ints([100, 300, 200, 0]),
    "production_wh": ints([0, 0, 0, 50]),
    "critical": bools([True, False, False, False]),
    "priority": ints([0, 1, 2, 0]),
    "fleet": lossless([2_000], [0], [1_000]),
    "battery_owner": ints([3]),  # the producer: never shed
    "stored_wh": ints([900]),
    "dispatchable_wh": 0,
}


@pytest.mark.parametrize(
    ("reserve_hours", "expected"),
    [
        # need 0: 900 usable covers the 550 deficit
        (0.0, [False, False, False, False]),
        # need 100 Wh * 1 h * 4 = 400: 900 - 550 < 400; shedding member 1 leaves
        # 900 - 250 = 650 >= 400. Member 3 feeds in and is skipped.
        (1.0, [False, True, False, False]),
        # need 800: shed 1 (650 < 800), then 2 (850 >= 800); the critical member stays
        (2.0, [False, True, True, False]),
        # need 1600: everyone non-critical is shed; critical members are not shed to
        # keep a reserve, only when their power cannot be supplied
        (4.0, [False, True, True, False]),
    ],
)
def test_plan_keeps_a_reserve_for_critical_loads(
    reserve_hours: float, expected: list[bool]
) -> None:
    shed = plan_shedding(
        **HAND,
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=reserve_hours),
    )
    assert shed.tolist() == expected


def test_plan_sheds_for_power_even_critical_loads_last() -> None:
    """The battery gives at most 250 Wh a quarter-hour: members are shed until the
    deficit fits, the critical one last."""
    shed = plan_shedding(
        ints([100, 200, 300]),
        ints([0, 0, 0]),
        bools([True, False, False]),
        ints([0, 5, 1]),
        lossless([100_000], [0], [250]),
        ints([0]),
        ints([100_000]),
        0,
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=0.0),
    )
    assert shed.tolist() == [False, True, True]
    shed = plan_shedding(
        ints([400, 200, 300]),
        ints([0, 0, 0]),
        bools([True, False, False]),
        ints([0, 5, 1]),
        lossless([100_000], [0], [250]),
        ints([0]),
        ints([100_000]),
        0,
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=0.0),
    )
    assert shed.tolist() == [True, True, True]


def test_plan_sheds_nothing_when_supply_suffices() -> None:
    shed = plan_shedding(
        **(HAND | {"dispatchable_wh": 600}),
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=2.0),
    )
    assert not shed.any()


def test_plan_without_shedding_non_critical_sheds_nothing() -> None:
    shed = plan_shedding(
        ints([10_000, 10_000]),
        ints([0, 0]),
        bools([True, False]),
        ints([0, 0]),
        lossless([100], [0], [10]),
        ints([0]),
        ints([0]),
        0,
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=4.0, shed_non_critical=False),
    )
    assert shed.tolist() == [False, False]


@st.composite
def shedding_cases(draw: st.DrawFn) -> tuple[Island, int, float, int]:
    island = draw(islands())
    dispatchable = draw(st.integers(0, 5_000))
    reserve_hours = draw(st.sampled_from([0.0, 0.5, 1.0, 4.0]))
    per_hour = draw(st.sampled_from([1, 2, 4, 12]))
    return island, dispatchable, reserve_hours, per_hour


@settings(max_examples=300, deadline=None)
@given(shedding_cases())
def test_plan_shedding_invariants(case: tuple[Island, int, float, int]) -> None:
    """Only members with a positive net load are shed, in shedding order, critical ones
    only once every non-critical one is; after the plan either both of its conditions
    hold or nobody else is left to shed; and the last member shed was needed."""
    i, dispatchable, reserve_hours, per_hour = case
    shed = plan_shedding(
        i.load,
        i.production,
        i.critical,
        i.priority,
        i.fleet,
        i.owner,
        i.stored,
        dispatchable,
        intervals_per_hour=per_hour,
        protocol=EmergencyProtocol(reserve_hours=reserve_hours),
    )
    net = i.load - i.production
    usable = np.maximum(i.stored - i.fleet.min_stored_wh, 0)
    each = np.minimum(i.fleet.max_step_wh, np.floor(usable * i.fleet.discharge_efficiency))
    energy_each = np.floor(usable * i.fleet.discharge_efficiency)
    own = np.bincount(i.owner, weights=each, minlength=net.size)
    # a member is worth shedding only if it takes more than its own battery gives
    helps = net - own > 0
    assert not (shed & ~helps).any()
    if (shed & i.critical).any():
        assert (shed | i.critical | ~helps).all()
    order = [int(p) for p in shedding_order(i.critical, i.priority) if helps[p]]
    flags = [bool(shed[p]) for p in order]
    assert flags == sorted(flags, reverse=True)

    # the two conditions, recomputed independently of the module's helpers; the
    # batteries of shed members leave the island with them
    need = max(0, int(net[i.critical].sum())) * reserve_hours * per_hour

    def holds(shed_set: np.ndarray) -> tuple[bool, bool]:
        deficit = int(net[~shed_set].sum()) - dispatchable
        serving = ~shed_set[i.owner]
        can_discharge = int(each[serving].sum())
        usable_energy = int(energy_each[serving].sum())
        return deficit <= can_discharge, usable_energy - max(deficit, 0) >= need

    power_ok, energy_ok = holds(shed)
    left = [p for p in order if not shed[p]]
    if not power_ok:
        assert left == []
    if not energy_ok:
        assert all(i.critical[p] for p in left)
    shed_in_order = [p for p in order if shed[p]]
    if shed_in_order:
        less = shed.copy()
        less[shed_in_order[-1]] = False
        power_less, energy_less = holds(less)
        last_is_critical = bool(i.critical[shed_in_order[-1]])
        assert not power_less or (not energy_less and not last_is_critical)


def test_a_plan_that_sheds_a_battery_owner_does_not_count_its_battery() -> None:
    """Member 0 (lowest priority) owns the only battery (250 Wh a quarter-hour); member 1
    is non-critical, member 2 critical, 100 Wh each. Shedding member 1 leaves 200 Wh,
    which the battery serves. The plan sheds member 0 instead, counting the battery
    that leaves the island with its owner: the physics then trips member 1 and the
    critical member 2, although a plan that serves the critical load exists."""
    load, production = ints([100, 100, 100]), ints([0, 0, 0])
    critical, priority = bools([False, False, True]), ints([0, 1, 0])
    fleet, owner, stored = lossless([1_000], [0], [250]), ints([0]), ints([1_000])
    protocol = EmergencyProtocol(reserve_hours=0.0)
    alternative = island_interval(
        load,
        production,
        bools([False, True, False]),
        critical,
        priority,
        fleet,
        owner,
        stored,
        ints([]),
    )
    assert not alternative.tripped.any()  # shedding member 1 serves the critical load
    shed = plan_shedding(
        load,
        production,
        critical,
        priority,
        fleet,
        owner,
        stored,
        0,
        intervals_per_hour=4,
        protocol=protocol,
    )
    out = island_interval(
        load, production, shed, critical, priority, fleet, owner, stored, ints([])
    )
    assert not (out.tripped & critical).any(), (shed.tolist(), out.tripped.tolist())


def test_plan_sheds_nothing_with_shed_non_critical_false_under_any_shortage() -> None:
    shed = plan_shedding(
        **HAND,
        intervals_per_hour=4,
        protocol=EmergencyProtocol(reserve_hours=100.0, shed_non_critical=False),
    )
    assert not shed.any()


def test_negative_reserve_hours_raise() -> None:
    with pytest.raises(DataError, match="reserve_hours"):
        EmergencyProtocol(reserve_hours=-0.5)
