"""The dispatch LP's options: blocked steps, dispatchable generators, energy already sold,
a terminal value for stored energy, a demand-charge floor, linearised voltage limits, and
the rule's cost on blocked steps (the base LP is tested in test_dispatch.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridshare.balancing.dispatch import (
    Generators,
    VoltageLimits,
    grid_cost_micros_f,
    optimise_dispatch,
    rule_cost_micros_f,
)
from gridshare.balancing.self_consumption import BatteryFleet, self_consumption_step
from gridshare.errors import DataError

TOL = 1e-3  # Wh: the solver's feasibility tolerance, scaled
PRICES = [100_000.0, 200_000.0, 350_000.0, 500_000.0]


def lossless(capacity: int, min_stored: int, max_step: int) -> BatteryFleet:
    return BatteryFleet.from_round_trip(
        np.array([capacity]), np.array([min_stored]), np.array([max_step]), np.array([1.0])
    )


def no_batteries() -> BatteryFleet:
    empty = np.zeros(0, dtype=np.int64)
    return BatteryFleet.from_round_trip(empty, empty, empty, np.zeros(0))


NONE = np.zeros(0, dtype=np.int64)


def fleet_of(n: int, rng: np.random.Generator) -> BatteryFleet:
    capacity = rng.integers(2_000, 20_000, n)
    return BatteryFleet.from_round_trip(
        capacity,
        (capacity * rng.uniform(0.0, 0.2, n)).astype(np.int64),
        rng.integers(200, 3_000, n),
        rng.uniform(0.8, 0.98, n),
    )


def random_problem(seed: int, n: int, t: int):
    rng = np.random.default_rng(seed)
    fleet = fleet_of(n, rng)
    stored = fleet.min_stored_wh + (
        (fleet.capacity_wh - fleet.min_stored_wh) * rng.uniform(0, 1, n)
    ).astype(np.int64)
    load = np.round(rng.normal(0, 1_500, (n, t)))
    rest = np.round(rng.normal(2_000, 2_000, t))
    buy = rng.choice(PRICES, t)
    sell = np.full(t, 70_000.0)
    return rng, fleet, stored, load, rest, buy, sell


def check_plan(plan, fleet, stored, load, rest, span, gen_max=None) -> None:
    """Limits scaled by the step length, the battery model and the community balance."""
    step = fleet.max_step_wh[:, None] * span[None, :]
    assert (plan.charge_wh_f >= -TOL).all()
    assert (plan.charge_wh_f <= step + TOL).all()
    assert (plan.discharge_wh_f >= -TOL).all()
    assert (plan.discharge_wh_f <= step + TOL).all()
    assert (plan.stored_wh_f >= fleet.min_stored_wh[:, None] - TOL).all()
    assert (plan.stored_wh_f <= fleet.capacity_wh[:, None] + TOL).all()
    before = np.concatenate((stored[:, None], plan.stored_wh_f[:, :-1]), axis=1)
    expected = (
        before
        + fleet.charge_efficiency[:, None] * plan.charge_wh_f
        - plan.discharge_wh_f / fleet.discharge_efficiency[:, None]
    )
    assert np.allclose(plan.stored_wh_f, expected, atol=TOL)
    generation = plan.generation_wh_f.sum(axis=0) if plan.generation_wh_f.size else 0.0
    net = rest + (load + plan.charge_wh_f - plan.discharge_wh_f).sum(axis=0) - generation
    assert np.allclose(plan.import_wh_f - plan.export_wh_f, net, atol=TOL)
    if gen_max is not None:
        assert (plan.generation_wh_f >= -TOL).all()
        assert (plan.generation_wh_f <= np.outer(gen_max, span) + TOL).all()


spans = st.lists(st.integers(1, 4), min_size=1, max_size=10)


# -- steps -------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(0, 2**32 - 1), st.booleans())
def test_one_interval_steps_are_the_same_as_no_steps(
    n: int, t: int, seed: int, demand: bool
) -> None:
    _, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    charge = 8_000_000.0 if demand else 0.0
    kwargs = {"demand_micros_per_kwh": charge, "import_limit_wh_f": 4_000.0}
    plain = optimise_dispatch(fleet, stored, load, rest, buy, sell, **kwargs)
    ones = optimise_dispatch(
        fleet, stored, load, rest, buy, sell, steps=np.ones(t, dtype=np.int64), **kwargs
    )
    assert ones.cost_micros_f == pytest.approx(plain.cost_micros_f, rel=1e-12, abs=1e-9)
    for a, b in [
        (ones.charge_wh_f, plain.charge_wh_f),
        (ones.discharge_wh_f, plain.discharge_wh_f),
        (ones.stored_wh_f, plain.stored_wh_f),
        (ones.import_wh_f, plain.import_wh_f),
        (ones.export_wh_f, plain.export_wh_f),
    ]:
        assert np.allclose(a, b, atol=1e-6)
    assert ones.peak_import_wh_f == pytest.approx(plain.peak_import_wh_f, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), spans, st.integers(0, 2**32 - 1), st.booleans())
def test_a_blocked_plan_respects_limits_scaled_by_the_block(
    n: int, span_list: list[int], seed: int, demand: bool
) -> None:
    t = len(span_list)
    span = np.array(span_list, dtype=np.int64)
    _, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    load, rest = load * span, rest * span  # a block's energy is that of its intervals
    plan = optimise_dispatch(
        fleet,
        stored,
        load,
        rest,
        buy,
        sell,
        steps=span,
        demand_micros_per_kwh=8_000_000.0 if demand else 0.0,
    )
    check_plan(plan, fleet, stored, load, rest, span)
    # the peak is the highest mean import per interval of a step
    assert plan.peak_import_wh_f >= (plan.import_wh_f / span).max() - TOL
    if demand:
        assert plan.peak_import_wh_f == pytest.approx((plan.import_wh_f / span).max(), abs=TOL)


def test_a_block_has_its_intervals_power() -> None:
    """Steps of 1, 4 and 4 intervals, 1000 Wh of battery power per interval: the plan
    charges 4000 Wh in the cheap block and discharges 4000 Wh into the dear one."""
    fleet = lossless(10_000, 0, 1_000)
    plan = optimise_dispatch(
        fleet,
        np.array([0]),
        np.zeros((1, 3)),
        np.array([0.0, 0.0, 20_000.0]),
        np.array([300_000.0, 100_000.0, 500_000.0]),
        np.zeros(3),
        steps=np.array([1, 4, 4]),
    )
    assert plan.charge_wh_f[0] == pytest.approx([0, 4_000, 0], abs=TOL)
    assert plan.discharge_wh_f[0] == pytest.approx([0, 0, 4_000], abs=TOL)
    assert plan.import_wh_f == pytest.approx([0, 4_000, 16_000], abs=TOL)
    assert plan.cost_micros_f == pytest.approx(400_000 + 8_000_000, abs=5.0)


@pytest.mark.parametrize(("rest", "kind"), [(3_000.0, "import"), (-3_000.0, "export")])
def test_grid_limits_scale_with_the_block(rest: float, kind: str) -> None:
    """A limit of 1000 Wh per interval allows 4000 Wh in a block of four: no penalty."""
    empty = lossless(0, 0, 0)
    args = (empty, np.array([0]), np.zeros((1, 1)), np.array([rest]))
    prices = (np.array([100_000.0]), np.array([50_000.0]))
    limit = {f"{kind}_limit_wh_f": 1_000.0}
    blocked = optimise_dispatch(*args, *prices, steps=np.array([4]), **limit)
    energy = 300_000.0 if kind == "import" else -150_000.0
    assert blocked.cost_micros_f == pytest.approx(energy, abs=1e-6)
    single = optimise_dispatch(*args, *prices, **limit)
    assert single.cost_micros_f > energy + 1e9  # 2000 Wh over the limit are penalised


def test_the_peak_of_a_block_is_its_mean_import() -> None:
    empty = lossless(0, 0, 0)
    buy = np.array([100_000.0, 100_000.0])
    plan = optimise_dispatch(
        empty,
        np.array([0]),
        np.zeros((1, 2)),
        np.array([4_000.0, 1_500.0]),
        buy,
        np.zeros(2),
        steps=np.array([4, 1]),
        demand_micros_per_kwh=1_000_000.0,
    )
    assert plan.peak_import_wh_f == pytest.approx(1_500, abs=TOL)
    expected = 5_500 * 100 + 1_000_000.0 * 1_500 / 1000
    assert plan.cost_micros_f == pytest.approx(expected, abs=1e-3)
    priced = grid_cost_micros_f(
        plan.import_wh_f, plan.export_wh_f, buy, np.zeros(2), 1_000_000.0, steps=np.array([4, 1])
    )
    assert priced == pytest.approx(expected, abs=1e-3)


def test_grid_cost_with_steps_by_hand() -> None:
    imports = np.array([4_000.0, 1_500.0, 0.0])
    exports = np.array([0.0, 0.0, 2_000.0])
    buy = np.array([100_000.0, 200_000.0, 300_000.0])
    sell = np.full(3, 50_000.0)
    # energy: (4000 * 100k + 1500 * 200k - 2000 * 50k) / 1000 = 600,000
    # peak: max(4000 / 4, 1500 / 1, 0 / 2) = 1500 Wh -> 8e6 * 1.5 = 12,000,000
    cost = grid_cost_micros_f(imports, exports, buy, sell, 8_000_000.0, steps=np.array([4, 1, 2]))
    assert cost == pytest.approx(12_600_000.0)
    whole = grid_cost_micros_f(imports, exports, buy, sell, 8_000_000.0)
    assert whole == pytest.approx(32_600_000.0)


def test_steps_must_be_whole_intervals_one_per_step() -> None:
    fleet = lossless(1_000, 0, 100)
    args = (fleet, np.array([0]), np.zeros((1, 2)), np.zeros(2), np.zeros(2), np.zeros(2))
    for bad in (np.array([1]), np.array([1, 0]), np.array([2, -1])):
        with pytest.raises(DataError, match="steps"):
            optimise_dispatch(*args, steps=bad)


# -- generators --------------------------------------------------------------------------


def test_a_generator_runs_when_cheaper_than_import() -> None:
    plan = optimise_dispatch(
        no_batteries(),
        NONE,
        np.zeros((0, 2)),
        np.array([2_000.0, 2_000.0]),
        np.full(2, 300_000.0),
        np.full(2, 50_000.0),
        generators=Generators(np.array([1_500]), np.array([100_000.0])),
    )
    assert plan.generation_wh_f == pytest.approx(np.array([[1_500, 1_500]]), abs=TOL)
    assert plan.import_wh_f == pytest.approx([500, 500], abs=TOL)
    assert plan.cost_micros_f == pytest.approx(2 * (1_500 * 100 + 500 * 300), abs=1e-3)


def test_a_generator_dearer_than_import_stays_off() -> None:
    plan = optimise_dispatch(
        no_batteries(),
        NONE,
        np.zeros((0, 1)),
        np.array([2_000.0]),
        np.array([300_000.0]),
        np.array([50_000.0]),
        generators=Generators(np.array([1_500]), np.array([400_000.0])),
    )
    assert plan.generation_wh_f == pytest.approx(np.array([[0.0]]), abs=TOL)
    assert plan.import_wh_f == pytest.approx([2_000], abs=TOL)


@pytest.mark.parametrize(
    ("sell", "generation", "export"), [(50_000.0, 500, 0), (150_000.0, 1_000, 500)]
)
def test_a_generator_exports_only_when_export_pays_its_cost(
    sell: float, generation: float, export: float
) -> None:
    """Cost 100k per kWh: with an export price of 50k it covers the 500 Wh load only;
    with 150k it runs flat out and exports the rest."""
    plan = optimise_dispatch(
        no_batteries(),
        NONE,
        np.zeros((0, 2)),
        np.array([500.0, 500.0]),
        np.full(2, 300_000.0),
        np.full(2, sell),
        generators=Generators(np.array([1_000]), np.array([100_000.0])),
    )
    assert plan.generation_wh_f[0] == pytest.approx([generation] * 2, abs=TOL)
    assert plan.export_wh_f == pytest.approx([export] * 2, abs=TOL)


def test_a_generator_is_bounded_by_its_power_times_the_block() -> None:
    plan = optimise_dispatch(
        no_batteries(),
        NONE,
        np.zeros((0, 2)),
        np.array([5_000.0, 5_000.0]),
        np.full(2, 300_000.0),
        np.zeros(2),
        steps=np.array([1, 3]),
        generators=Generators(np.array([1_000]), np.array([100_000.0])),
    )
    assert plan.generation_wh_f[0] == pytest.approx([1_000, 3_000], abs=TOL)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(1, 3),
    spans,
    st.integers(0, 2**32 - 1),
)
def test_generators_run_when_cheaper_and_never_to_export_at_a_loss(
    n: int, g: int, span_list: list[int], seed: int
) -> None:
    """At the optimum, shifting a Wh between a generator and the grid cannot pay: a
    generator cheaper than import runs flat out while anything is imported, and one
    dearer than the export price does not run while anything is exported."""
    t = len(span_list)
    span = np.array(span_list, dtype=np.int64)
    rng, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    load, rest = load * span, rest * span
    # export never pays more than import (else the LP trades with the grid without end)
    sell = np.minimum(rng.choice([30_000.0, 70_000.0, 250_000.0], t), 0.9 * buy)
    gens = Generators(
        rng.integers(0, 3_000, g),
        rng.choice([20_000.0, 150_000.0, 300_000.0, 600_000.0], g),
    )
    plan = optimise_dispatch(fleet, stored, load, rest, buy, sell, steps=span, generators=gens)
    check_plan(plan, fleet, stored, load, rest, span, gens.max_wh)
    for k in range(g):
        for s in range(t):
            produced = plan.generation_wh_f[k, s]
            if gens.cost_micros_per_kwh[k] < buy[s] and plan.import_wh_f[s] > TOL:
                assert produced >= gens.max_wh[k] * span[s] - TOL
            if gens.cost_micros_per_kwh[k] > sell[s] and plan.export_wh_f[s] > TOL:
                assert produced <= TOL


def test_each_generator_needs_a_cost() -> None:
    with pytest.raises(DataError, match="marginal cost"):
        optimise_dispatch(
            no_batteries(),
            NONE,
            np.zeros((0, 1)),
            np.zeros(1),
            np.zeros(1),
            np.zeros(1),
            generators=Generators(np.array([1, 2]), np.array([1.0])),
        )


# -- sold energy -------------------------------------------------------------------------


def sold_case(sold: int | None, first_load: float, stored: int):
    return optimise_dispatch(
        lossless(10_000, 0, 2_500),
        np.array([stored]),
        np.array([[first_load, 0.0]]),
        np.array([0.0, 4_000.0]),
        np.array([100_000.0, 500_000.0]),
        np.zeros(2),
        sold_wh=None if sold is None else np.array([sold], dtype=np.int64),
    )


def test_sold_energy_is_not_charged() -> None:
    """The owner has 3000 Wh of surplus and sold 2000: its battery charges at most the
    1000 left, though charging up to its 2500 Wh rating would pay."""
    free = sold_case(None, -3_000.0, 0)
    assert free.charge_wh_f[0, 0] == pytest.approx(2_500, abs=TOL)
    plan = sold_case(2_000, -3_000.0, 0)
    assert plan.charge_wh_f[0, 0] == pytest.approx(1_000, abs=TOL)
    assert plan.short_wh_f == pytest.approx([0.0], abs=TOL)


def test_a_shortfall_against_the_sale_is_reported() -> None:
    """1000 Wh of surplus, 2500 Wh sold, an empty battery: 1500 Wh short."""
    plan = sold_case(2_500, -1_000.0, 0)
    assert plan.charge_wh_f[0, 0] == pytest.approx(0, abs=TOL)
    assert plan.discharge_wh_f[0, 0] == pytest.approx(0, abs=TOL)
    assert plan.short_wh_f == pytest.approx([1_500.0], abs=TOL)


def test_without_sales_no_shortfall_is_reported() -> None:
    assert sold_case(None, -1_000.0, 0).short_wh_f.shape == (0,)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_first_step_charge_never_exceeds_the_unsold_surplus(n: int, t: int, seed: int) -> None:
    rng, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    sold = rng.integers(0, 3_001, n)
    plan = optimise_dispatch(fleet, stored, load, rest, buy, sell, sold_wh=sold)
    check_plan(plan, fleet, stored, load, rest, np.ones(t, dtype=np.int64))
    unsold = np.maximum(-load[:, 0] - sold, 0.0)
    assert (plan.charge_wh_f[:, 0] <= unsold + TOL).all()
    first = plan.charge_wh_f[:, 0] - plan.discharge_wh_f[:, 0]
    assert np.allclose(plan.short_wh_f, np.maximum(sold + load[:, 0] + first, 0.0), atol=TOL)


def test_sold_needs_one_value_per_owner() -> None:
    with pytest.raises(DataError, match="sold_wh"):
        optimise_dispatch(
            lossless(1_000, 0, 100),
            np.array([0]),
            np.zeros((1, 1)),
            np.zeros(1),
            np.zeros(1),
            np.zeros(1),
            sold_wh=np.zeros(2, dtype=np.int64),
        )


# -- terminal value ----------------------------------------------------------------------


def dump_case(terminal: float):
    """5000 Wh stored, nothing to serve, flat prices: buy 300k, sell 100k."""
    return optimise_dispatch(
        lossless(10_000, 0, 2_000),
        np.array([5_000]),
        np.zeros((1, 2)),
        np.zeros(2),
        np.full(2, 300_000.0),
        np.full(2, 100_000.0),
        terminal_value_micros_per_kwh=terminal,
    )


@pytest.mark.parametrize("terminal", [0.0, 50_000.0])
def test_stored_energy_is_dumped_when_it_is_worth_less_than_export(terminal: float) -> None:
    plan = dump_case(terminal)
    assert plan.discharge_wh_f[0] == pytest.approx([2_000, 2_000], abs=TOL)
    assert plan.export_wh_f == pytest.approx([2_000, 2_000], abs=TOL)
    assert plan.stored_wh_f[0, -1] == pytest.approx(1_000, abs=TOL)


@pytest.mark.parametrize("terminal", [100_001.0, 200_000.0])
def test_stored_energy_is_kept_when_worth_more_than_export(terminal: float) -> None:
    plan = dump_case(terminal)
    assert plan.discharge_wh_f[0] == pytest.approx([0, 0], abs=TOL)
    assert plan.export_wh_f == pytest.approx([0, 0], abs=TOL)
    assert plan.stored_wh_f[0, -1] == pytest.approx(5_000, abs=TOL)
    # the objective credits the stored energy
    assert plan.cost_micros_f == pytest.approx(-terminal * 5, abs=1.0)


def test_a_terminal_value_still_serves_dear_imports() -> None:
    """Worth 200k stored, the energy still displaces imports at 300k."""
    plan = optimise_dispatch(
        lossless(10_000, 0, 2_000),
        np.array([5_000]),
        np.zeros((1, 2)),
        np.array([1_500.0, 1_500.0]),
        np.full(2, 300_000.0),
        np.full(2, 100_000.0),
        terminal_value_micros_per_kwh=200_000.0,
    )
    assert plan.discharge_wh_f[0] == pytest.approx([1_500, 1_500], abs=TOL)
    assert plan.export_wh_f == pytest.approx([0, 0], abs=TOL)


# -- peak floor --------------------------------------------------------------------------


def test_the_demand_charge_does_not_shave_below_the_floor() -> None:
    """Flat prices, a 6000 Wh evening on a 1000 Wh day: without a floor the peak is
    flattened to 3500; with a floor of 5000 already set this month, shaving below 5000
    saves nothing, and the plan stops at it."""
    fleet = lossless(10_000, 0, 2_500)
    args = (
        fleet,
        np.array([0]),
        np.zeros((1, 4)),
        np.array([1_000.0, 1_000.0, 6_000.0, 6_000.0]),
        np.full(4, 100_000.0),
        np.zeros(4),
    )
    unfloored = optimise_dispatch(*args, demand_micros_per_kwh=50_000_000.0)
    assert unfloored.import_wh_f.max() == pytest.approx(3_500, abs=TOL)
    plan = optimise_dispatch(*args, demand_micros_per_kwh=50_000_000.0, peak_floor_wh=5_000)
    assert plan.peak_import_wh_f == pytest.approx(5_000, abs=TOL)
    assert plan.import_wh_f.max() == pytest.approx(5_000, abs=TOL)
    assert plan.charge_wh_f.sum() == pytest.approx(2_000, abs=TOL)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 10),
    st.integers(0, 2**32 - 1),
    st.floats(1.0, 2.0),
)
def test_a_floor_above_the_natural_peak_leaves_the_energy_cost_alone(
    n: int, t: int, seed: int, factor: float
) -> None:
    _, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    free = optimise_dispatch(fleet, stored, load, rest, buy, sell)
    floor = int(np.ceil(max(float(free.import_wh_f.max()), 0.0) * factor))  # whole Wh, above
    demand = 8_000_000.0
    plan = optimise_dispatch(
        fleet, stored, load, rest, buy, sell, demand_micros_per_kwh=demand, peak_floor_wh=floor
    )
    assert plan.peak_import_wh_f == pytest.approx(floor, abs=TOL)
    expected = free.cost_micros_f + demand * floor / 1000
    assert plan.cost_micros_f == pytest.approx(expected, rel=1e-9, abs=1e-2)
    energy = grid_cost_micros_f(plan.import_wh_f, plan.export_wh_f, buy, sell)
    free_energy = grid_cost_micros_f(free.import_wh_f, free.export_wh_f, buy, sell)
    assert energy == pytest.approx(free_energy, abs=50.0)  # tie-breaking charges only


# -- voltage -----------------------------------------------------------------------------


def voltage_case(sensitivity: float, base: float, *, span: int = 1, stored: int = 5_000):
    fleet = lossless(10_000, 0, 3_000)
    limits = VoltageLimits(np.array([[sensitivity]]), np.array([[base]]), 0.95, 1.05)
    plan = optimise_dispatch(
        fleet,
        np.array([stored]),
        np.zeros((1, 1)),
        np.zeros(1),
        np.array([300_000.0]),
        np.zeros(1),
        steps=np.array([span]),
        voltage=limits,
    )
    x = plan.charge_wh_f[0, 0] - plan.discharge_wh_f[0, 0]
    return plan, base + sensitivity * x / span


def test_without_a_voltage_problem_the_battery_rests() -> None:
    plan, v = voltage_case(-1e-5, 1.0)
    assert plan.discharge_wh_f[0, 0] == pytest.approx(0, abs=TOL)
    assert plan.charge_wh_f[0, 0] == pytest.approx(0, abs=TOL)
    assert v == pytest.approx(1.0)


def test_a_low_voltage_is_lifted_by_discharging() -> None:
    """Charging lowers the bus voltage by 1e-5 pu per Wh: at 0.93 pu the battery must
    discharge 2000 Wh to bring it to 0.95, and does no more (the energy has no use)."""
    plan, v = voltage_case(-1e-5, 0.93)
    assert plan.discharge_wh_f[0, 0] == pytest.approx(2_000, abs=0.01)
    assert 0.95 - 1e-7 <= v <= 1.05


def test_a_low_voltage_is_lifted_by_charging_where_charging_raises_it() -> None:
    plan, v = voltage_case(+1e-5, 0.93)
    assert plan.charge_wh_f[0, 0] == pytest.approx(2_000, abs=0.01)
    assert 0.95 - 1e-7 <= v <= 1.05


def test_a_high_voltage_is_pulled_down_by_charging() -> None:
    plan, v = voltage_case(-1e-5, 1.07)
    assert plan.charge_wh_f[0, 0] == pytest.approx(2_000, abs=0.01)
    assert 0.95 <= v <= 1.05 + 1e-7


def test_an_unreachable_band_gets_as_close_as_the_battery_can() -> None:
    plan, v = voltage_case(-1e-5, 0.80)
    assert plan.discharge_wh_f[0, 0] == pytest.approx(3_000, abs=TOL)
    assert v == pytest.approx(0.83, abs=1e-7)


def test_a_blocks_voltage_is_its_mean_over_the_block() -> None:
    """Over two intervals the battery moves 2 * 2000 Wh for the mean lift of 0.02 pu."""
    plan, v = voltage_case(-1e-5, 0.93, span=2)
    assert plan.discharge_wh_f[0, 0] == pytest.approx(4_000, abs=0.01)
    assert 0.95 - 1e-7 <= v <= 1.05


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(0, 2**32 - 1),
    st.floats(0.88, 1.12),
    st.lists(st.one_of(st.floats(-2e-5, -1e-6), st.floats(1e-6, 2e-5)), min_size=2, max_size=2),
    st.integers(1, 3),
)
@example(1, 1, 1.0625, [-1.706302152287604e-05, -1.485739235841813e-05], 1)
def test_voltage_lands_in_the_band_when_it_can(
    n: int, seed: int, base: float, sensitivity: list[float], span: int
) -> None:
    """One interval, one watched bus: the battery net charges x[n] can range over
    [-most discharge, most charge], so V = base + S x / span ranges over an interval.
    When it meets the band the plan's V lies in it; otherwise V is the reachable end
    nearest the band (the penalty outweighs any energy price)."""
    rng, fleet, stored, load, rest, buy, sell = random_problem(seed, n, 1)
    load, rest = load * span, rest * span
    s = np.array(sensitivity[:n])
    limits = VoltageLimits(s[None, :], np.array([[base]]), 0.95, 1.05)
    plan = optimise_dispatch(
        fleet, stored, load, rest, buy, sell, steps=np.array([span]), voltage=limits
    )
    check_plan(plan, fleet, stored, load, rest, np.array([span]))
    x = plan.charge_wh_f[:, 0] - plan.discharge_wh_f[:, 0]
    v = base + float(s @ x) / span
    most_in = np.minimum(
        fleet.max_step_wh * span, (fleet.capacity_wh - stored) / fleet.charge_efficiency
    )
    most_out = np.minimum(
        fleet.max_step_wh * span, (stored - fleet.min_stored_wh) * fleet.discharge_efficiency
    )
    ends = (s * most_in, -s * most_out)
    lo = base + float(np.minimum(*ends).sum()) / span
    hi = base + float(np.maximum(*ends).sum()) / span
    if hi >= 0.95 and lo <= 1.05:
        assert 0.95 - 1e-6 <= v <= 1.05 + 1e-6
    elif hi < 0.95:
        assert v == pytest.approx(hi, abs=1e-6)
    else:
        assert v == pytest.approx(lo, abs=1e-6)


@pytest.mark.parametrize("penalty", ["export_limit", "voltage"])
def test_a_penalty_does_not_make_the_plan_cycle_a_battery(penalty: str) -> None:
    """A battery 200 Wh short of full (0.9 each way, 2000 Wh a step) cannot take more
    than floor(200 / 0.9) = 222 Wh. Faced with a penalty it could lessen by taking more
    (5000 Wh of surplus against a 1000 Wh export limit; or 0.02 pu of over-voltage that
    1e-5 pu per Wh of charge would cure), the plan must not charge and discharge at once
    to burn energy in the losses: a net setpoint beyond 222 Wh is one the battery cannot
    follow, so the planned exchange or voltage would not happen."""
    fleet = BatteryFleet.from_round_trip(
        np.array([10_000]), np.array([0]), np.array([2_000]), np.array([0.81])
    )
    stored = np.array([9_800])
    if penalty == "export_limit":
        plan = optimise_dispatch(
            fleet,
            stored,
            np.zeros((1, 1)),
            np.array([-5_000.0]),
            np.array([300_000.0]),
            np.array([50_000.0]),
            export_limit_wh_f=1_000.0,
        )
    else:
        plan = optimise_dispatch(
            fleet,
            stored,
            np.zeros((1, 1)),
            np.zeros(1),
            np.array([300_000.0]),
            np.zeros(1),
            voltage=VoltageLimits(np.array([[-1e-5]]), np.array([[1.07]])),
        )
    setpoint = plan.first_setpoints_wh()
    followed = self_consumption_step(fleet, stored, setpoint)
    assert min(plan.charge_wh_f[0, 0], plan.discharge_wh_f[0, 0]) <= TOL, (
        plan.charge_wh_f,
        plan.discharge_wh_f,
    )
    assert abs(int(followed.charge_wh[0] - followed.discharge_wh[0]) - int(setpoint[0])) <= 1


# -- the rule's cost ---------------------------------------------------------------------


def simulate_rule(fleet, stored, load, rest, buy, sell, demand, span) -> float:
    """Independent: each step is ``span`` intervals, so the rule may move ``span`` times
    an interval's energy; the exchange is priced step by step, and the demand charge
    applies to the highest mean import per interval."""
    stored = np.asarray(stored, dtype=np.int64)
    total, peak = 0.0, 0.0
    for k in range(rest.size):
        scaled = BatteryFleet(
            fleet.capacity_wh,
            fleet.min_stored_wh,
            fleet.max_step_wh * int(span[k]),
            fleet.charge_efficiency,
            fleet.discharge_efficiency,
        )
        surplus = np.array([-round(float(x)) for x in load[:, k]], dtype=np.int64)
        step = self_consumption_step(scaled, stored, surplus)
        stored = step.stored_wh
        exchange = float(rest[k]) + sum(
            float(load[b, k]) + int(step.charge_wh[b]) - int(step.discharge_wh[b])
            for b in range(load.shape[0])
        )
        if exchange > 0:
            total += exchange * buy[k] / 1000
            peak = max(peak, exchange / span[k])
        else:
            total += exchange * sell[k] / 1000
    return total + demand * peak / 1000


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    spans,
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 8_000_000.0]),
    st.booleans(),
)
def test_rule_cost_equals_a_step_by_step_simulation(
    n: int, span_list: list[int], seed: int, demand: float, blocked: bool
) -> None:
    t = len(span_list)
    span = np.array(span_list, dtype=np.int64) if blocked else np.ones(t, dtype=np.int64)
    _, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    load, rest = load * span, rest * span
    cost = rule_cost_micros_f(
        fleet, stored, load, rest, buy, sell, demand, steps=span if blocked else None
    )
    expected = simulate_rule(fleet, stored, load, rest, buy, sell, demand, span)
    assert cost == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), spans, st.integers(0, 2**32 - 1), st.sampled_from([0.0, 8_000_000.0]))
def test_a_blocked_plan_never_costs_more_than_the_rule(
    n: int, span_list: list[int], seed: int, demand: float
) -> None:
    t = len(span_list)
    span = np.array(span_list, dtype=np.int64)
    _, fleet, stored, load, rest, buy, sell = random_problem(seed, n, t)
    load, rest = load * span, rest * span
    plan = optimise_dispatch(
        fleet, stored, load, rest, buy, sell, demand_micros_per_kwh=demand, steps=span
    )
    rule = rule_cost_micros_f(fleet, stored, load, rest, buy, sell, demand, steps=span)
    # up to 1 Wh per battery-step of the rule's integer rounding
    slack = float(buy.max()) * n * t / 1000 + demand * n / 1000
    assert plan.cost_micros_f <= rule + slack
