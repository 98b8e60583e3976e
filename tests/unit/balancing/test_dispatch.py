"""The dispatch LP: every limit holds, the stored energy follows the battery model, and
the plan never costs more than the self-consumption rule on the same forecast."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.dispatch import grid_cost_micros_f, optimise_dispatch
from gridshare.balancing.self_consumption import BatteryFleet, self_consumption_step
from gridshare.errors import DataError

TOL = 1e-4  # Wh: the solver's feasibility tolerance, scaled


def fleet_of(n: int, rng: np.random.Generator) -> BatteryFleet:
    capacity = rng.integers(2_000, 20_000, n)
    return BatteryFleet.from_round_trip(
        capacity,
        (capacity * rng.uniform(0.0, 0.2, n)).astype(np.int64),
        rng.integers(200, 3_000, n),
        rng.uniform(0.8, 0.98, n),
    )


def rule_cost(
    fleet: BatteryFleet,
    stored: np.ndarray,
    load: np.ndarray,
    rest: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    demand: float,
) -> float:
    """Run the self-consumption rule over the horizon and price the community's exchange."""
    net = rest.astype(np.float64).copy()
    for k in range(load.shape[1]):
        surplus = -np.round(load[:, k]).astype(np.int64)
        step = self_consumption_step(fleet, stored, surplus)
        stored = step.stored_wh
        net[k] += float((load[:, k] + step.charge_wh - step.discharge_wh).sum())
    return grid_cost_micros_f(np.maximum(net, 0), np.maximum(-net, 0), buy, sell, demand)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 24),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 8_000_000.0]),
)
def test_limits_hold_and_the_plan_beats_the_rule(n: int, t: int, seed: int, demand: float) -> None:
    rng = np.random.default_rng(seed)
    fleet = fleet_of(n, rng)
    stored = fleet.min_stored_wh + (
        (fleet.capacity_wh - fleet.min_stored_wh) * rng.uniform(0, 1, n)
    ).astype(np.int64)
    load = np.round(rng.normal(0, 1_500, (n, t)))
    rest = np.round(rng.normal(2_000, 2_000, t))
    buy = rng.choice([150_000.0, 280_000.0, 450_000.0], t)
    sell = np.full(t, 70_000.0)
    plan = optimise_dispatch(fleet, stored, load, rest, buy, sell, demand_micros_per_kwh=demand)

    # power and state-of-charge limits
    step = fleet.max_step_wh[:, None]
    assert (plan.charge_wh_f >= -TOL).all()
    assert (plan.charge_wh_f <= step + TOL).all()
    assert (plan.discharge_wh_f >= -TOL).all()
    assert (plan.discharge_wh_f <= step + TOL).all()
    assert (plan.stored_wh_f >= fleet.min_stored_wh[:, None] - TOL).all()
    assert (plan.stored_wh_f <= fleet.capacity_wh[:, None] + TOL).all()
    # stored energy follows the battery model, from the given start
    before = np.concatenate((stored[:, None], plan.stored_wh_f[:, :-1]), axis=1)
    expected = (
        before
        + fleet.charge_efficiency[:, None] * plan.charge_wh_f
        - plan.discharge_wh_f / fleet.discharge_efficiency[:, None]
    )
    assert np.allclose(plan.stored_wh_f, expected, atol=1e-3)
    # the community balance at the connection
    net = rest + (load + plan.charge_wh_f - plan.discharge_wh_f).sum(axis=0)
    assert np.allclose(plan.import_wh_f - plan.export_wh_f, net, atol=1e-3)

    # never worse than the rule (up to 1 Wh per battery-interval of its integer rounding)
    slack = float(buy.max()) * n * t / 1000 + demand * n / 1000
    assert plan.cost_micros_f <= rule_cost(fleet, stored, load, rest, buy, sell, demand) + slack


def test_peak_shaving_and_load_shifting_fall_out_of_the_same_model() -> None:
    """One battery, a cheap night and an expensive evening peak: the plan charges when
    it is cheap and discharges into the expensive peak, cutting it."""
    fleet = BatteryFleet.from_round_trip(
        np.array([10_000]), np.array([0]), np.array([2_500]), np.array([1.0])
    )
    load = np.zeros((1, 4))
    rest = np.array([1_000.0, 1_000.0, 6_000.0, 6_000.0])
    buy = np.array([100_000.0, 100_000.0, 400_000.0, 400_000.0])
    plan = optimise_dispatch(fleet, np.array([0]), load, rest, buy, np.zeros(4))
    assert plan.charge_wh_f[0, :2].sum() == pytest.approx(5_000, abs=1e-3)
    assert plan.import_wh_f[2:] == pytest.approx([3_500, 3_500], abs=1e-3)
    flat = optimise_dispatch(
        fleet,
        np.array([0]),
        load,
        rest,
        np.full(4, 100_000.0),
        np.zeros(4),
        demand_micros_per_kwh=50_000_000,
    )
    assert flat.peak_import_wh_f == pytest.approx(3_500, abs=1e-3)  # flattened to the mean


def test_grid_limits_are_met_when_they_can_be() -> None:
    fleet = BatteryFleet.from_round_trip(
        np.array([8_000]), np.array([0]), np.array([4_000]), np.array([1.0])
    )
    plan = optimise_dispatch(
        fleet,
        np.array([8_000]),
        np.zeros((1, 2)),
        np.array([5_000.0, 5_000.0]),
        np.full(2, 200_000.0),
        np.zeros(2),
        import_limit_wh_f=1_000,
    )
    assert (plan.import_wh_f <= 1_000 + 1e-3).all()


def test_shapes_are_checked() -> None:
    fleet = BatteryFleet.from_round_trip(
        np.array([8_000]), np.array([0]), np.array([4_000]), np.array([1.0])
    )
    with pytest.raises(DataError, match="one value per interval"):
        optimise_dispatch(
            fleet, np.array([0]), np.zeros((1, 3)), np.zeros(2), np.zeros(3), np.zeros(3)
        )
