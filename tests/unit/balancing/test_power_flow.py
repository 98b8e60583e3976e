"""Network physics: the power flow conserves power, has no losses without load, its
voltage sensitivity is the derivative of its own solution, and bad input is refused with
a message. Droop frequency follows its formula."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.power_flow import (
    BusSpec,
    FrequencyLimits,
    LineSpec,
    NetworkSpec,
    PowerFlowError,
    PowerFlowModel,
    TransformerSpec,
    build_network,
    classify_frequency,
    connect_members,
    droop_frequency_hz,
    extract_member_loads,
)
from gridshare.errors import DataError

FEEDER_BUSES = 8  # PCC, LV busbar, 6 buses along a 30 m-segment cable
POWER_TOL_KW = 1e-3  # 1e-8 pu mismatch on a 1-10 MVA base, summed over the buses


@pytest.fixture(scope="module")
def feeder() -> PowerFlowModel:
    net = build_network(NetworkSpec.feeder(FEEDER_BUSES))
    members = connect_members(net, 12)
    return PowerFlowModel(net, members)


@pytest.fixture(scope="module")
def case33() -> PowerFlowModel:
    net = build_network(NetworkSpec(named="case33bw"))
    members = connect_members(net, 40)
    return PowerFlowModel(net, members)


@pytest.fixture(scope="module")
def cigre() -> PowerFlowModel:
    net = build_network(NetworkSpec(named="cigre_lv"))
    return PowerFlowModel(net, connect_members(net, 30))


# ------------------------------------------------------------------ physics


def test_no_load_gives_flat_voltage(
    feeder: PowerFlowModel, case33: PowerFlowModel, cigre: PowerFlowModel
) -> None:
    for model in (feeder, case33, cigre):
        result = model.solve(np.zeros(model.n_members))
        assert result.converged
        np.testing.assert_allclose(result.vm_pu, 1.0, atol=1e-12)
        assert result.losses_kw == pytest.approx(0.0, abs=1e-9)
        assert result.slack_p_kw == pytest.approx(0.0, abs=1e-9)
        np.testing.assert_allclose(result.line_loading_percent, 0.0, atol=1e-9)
        assert result.voltage_violations == ()
        assert result.overloaded_lines == ()
        assert result.is_within_limits


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-10.0, 25.0))
def test_feeder_conserves_power(feeder: PowerFlowModel, seed: int, mean_kw: float) -> None:
    p_kw = np.random.default_rng(seed).normal(mean_kw, 8.0, feeder.n_members)
    result = feeder.solve(p_kw)
    assert result.converged
    assert result.losses_kw >= 0.0
    assert result.slack_p_kw == pytest.approx(p_kw.sum() + result.losses_kw, abs=POWER_TOL_KW)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.5))
def test_case33bw_conserves_power(case33: PowerFlowModel, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    p_kw = scale * rng.uniform(-50.0, 150.0, case33.n_members)
    result = case33.solve(p_kw)
    assert result.converged
    assert result.losses_kw >= 0.0
    assert result.slack_p_kw == pytest.approx(p_kw.sum() + result.losses_kw, abs=POWER_TOL_KW)
    q_kvar = p_kw * math.tan(math.acos(0.95))
    assert result.slack_q_kvar > q_kvar.sum() - POWER_TOL_KW  # lines only absorb Q here


def test_export_raises_and_import_lowers_voltage(feeder: PowerFlowModel) -> None:
    load = feeder.solve(np.full(feeder.n_members, 10.0))
    export = feeder.solve(np.full(feeder.n_members, -10.0))
    assert np.nanmax(load.vm_pu[1:]) < 1.0 < np.nanmin(export.vm_pu[1:])
    assert load.slack_p_kw > 120.0
    assert export.slack_p_kw < -110.0


def test_explicit_reactive_power_equals_the_power_factor(feeder: PowerFlowModel) -> None:
    p_kw = np.linspace(-5.0, 20.0, feeder.n_members)
    by_pf = feeder.solve(p_kw)
    by_q = feeder.solve(p_kw, q_kvar=p_kw * math.tan(math.acos(0.95)))
    np.testing.assert_allclose(by_pf.vm_pu, by_q.vm_pu, atol=1e-10)
    assert by_pf.slack_q_kvar == pytest.approx(by_q.slack_q_kvar, abs=1e-6)


def test_unity_power_factor_draws_no_reactive_power() -> None:
    net = build_network(NetworkSpec.feeder(FEEDER_BUSES))
    model = PowerFlowModel(net, connect_members(net, 6), power_factor=1.0)
    result = model.solve(np.full(6, 8.0))
    # only the network's own reactive losses (positive, small) remain
    assert 0.0 < result.slack_q_kvar < 0.2 * result.slack_p_kw


def test_a_member_on_the_slack_bus_changes_only_the_import() -> None:
    net = build_network(NetworkSpec.feeder(FEEDER_BUSES))
    model = PowerFlowModel(net, np.array([0, 5]))
    base = model.solve(np.array([0.0, 10.0]))
    with_slack_member = model.solve(np.array([30.0, 10.0]))
    np.testing.assert_allclose(base.vm_pu, with_slack_member.vm_pu, atol=1e-12)
    assert with_slack_member.slack_p_kw == pytest.approx(base.slack_p_kw + 30.0, abs=1e-9)
    assert model.sensitivity(np.array([30.0, 10.0]))[:, 0].tolist() == [0.0] * FEEDER_BUSES


def test_series_equals_interval_by_interval(case33: PowerFlowModel) -> None:
    rng = np.random.default_rng(5)
    p_kw = rng.uniform(0.0, 150.0, (6, case33.n_members))
    series = case33.solve_series(p_kw)
    assert series.vm_pu.shape == (6, 33)
    assert series.line_loading_percent.shape == (6, 37)
    assert series.converged.all()
    case33.reset()
    for t in range(6):
        one = case33.solve(p_kw[t])
        np.testing.assert_allclose(series.at(t).vm_pu, one.vm_pu, atol=1e-9)
        assert series.losses_kw[t] == pytest.approx(one.losses_kw, abs=POWER_TOL_KW)
        assert series.slack_p_kw[t] == pytest.approx(one.slack_p_kw, abs=POWER_TOL_KW)
    assert series.at(2).converged


def test_warm_start_takes_fewer_iterations(cigre: PowerFlowModel) -> None:
    p_kw = np.full(cigre.n_members, 12.0)
    cigre.reset()
    cold = cigre.solve(p_kw)
    warm = cigre.solve(p_kw * 1.01)
    assert warm.iterations < cold.iterations
    assert warm.converged


# ------------------------------------------------------------------ limits


def test_case33bw_under_voltage_is_listed() -> None:
    net = build_network(NetworkSpec(named="case33bw"))
    members = extract_member_loads(net)
    model = PowerFlowModel(net, members.bus_of_member)
    result = model.solve(members.p_kw, members.q_kvar)
    under = {v.bus: v for v in result.voltage_violations}
    assert under[17].kind == "under"
    assert under[17].vm_pu == pytest.approx(0.9131, abs=1e-4)
    assert all(v.kind == "under" and v.vm_pu < 0.95 for v in under.values())
    assert not result.is_within_limits


def test_export_over_voltage_and_overloaded_lines() -> None:
    net = build_network(NetworkSpec.feeder(FEEDER_BUSES))
    model = PowerFlowModel(
        net, np.full(4, FEEDER_BUSES - 1), v_max_pu=1.03, max_line_loading_percent=50.0
    )
    result = model.solve(np.full(4, -30.0))
    assert result.converged
    over = [v for v in result.voltage_violations if v.kind == "over"]
    assert over
    assert over[-1].bus == FEEDER_BUSES - 1
    assert [o.line for o in result.overloaded_lines] == list(range(FEEDER_BUSES - 2))
    assert all(o.loading_percent > 50.0 for o in result.overloaded_lines)
    series = model.solve_series(np.array([[0.0] * 4, [-30.0] * 4]))
    assert series.violating_intervals.tolist() == [1]


def test_non_convergence_is_reported_and_the_next_interval_recovers(
    feeder: PowerFlowModel,
) -> None:
    hopeless = feeder.solve(np.full(feeder.n_members, 5_000.0))
    assert not hopeless.converged
    assert np.isnan(hopeless.vm_pu).all()
    assert math.isnan(hopeless.losses_kw)
    assert hopeless.voltage_violations == ()
    fine = feeder.solve(np.full(feeder.n_members, 5.0))
    assert fine.converged
    series = feeder.solve_series(np.array([[5.0] * 12, [5_000.0] * 12, [5.0] * 12]))
    assert series.converged.tolist() == [True, False, True]
    assert 1 in series.violating_intervals
    with pytest.raises(PowerFlowError, match="does not converge"):
        feeder.sensitivity(np.full(feeder.n_members, 5_000.0))


# ------------------------------------------------------------------ sensitivity


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 39))
def test_sensitivity_matches_finite_differences(
    case33: PowerFlowModel, seed: int, member: int
) -> None:
    model = case33
    p_kw = np.random.default_rng(seed).uniform(-20.0, 120.0, 40)
    sens = model.sensitivity(p_kw)
    assert sens.shape == (33, 40)
    step_kw = 1.0
    up, down = p_kw.copy(), p_kw.copy()
    up[member] += step_kw
    down[member] -= step_kw
    numeric = (model.solve(up).vm_pu - model.solve(down).vm_pu) / (2 * step_kw)
    np.testing.assert_allclose(sens[:, member], numeric, rtol=1e-4, atol=1e-10)


def test_sensitivity_of_the_feeder_and_cigre(feeder: PowerFlowModel, cigre: PowerFlowModel) -> None:
    for model, step_kw in ((feeder, 0.01), (cigre, 0.01)):
        p_kw = np.full(model.n_members, 5.0)
        sens = model.sensitivity(p_kw)
        assert np.all(sens <= 0.0)  # consumption never raises a voltage in these feeders
        assert np.all(sens[0] == 0.0)  # the slack holds its voltage
        for member in (0, model.n_members - 1):
            up = p_kw.copy()
            up[member] += step_kw
            numeric = (model.solve(up).vm_pu - model.solve(p_kw).vm_pu) / step_kw
            np.testing.assert_allclose(sens[:, member], numeric, rtol=2e-3, atol=1e-9)


def test_linear_voltage_prediction_is_close_for_small_changes(case33: PowerFlowModel) -> None:
    rng = np.random.default_rng(11)
    base = rng.uniform(0.0, 100.0, case33.n_members)
    delta = rng.uniform(-5.0, 5.0, case33.n_members)
    predicted = case33.solve(base).vm_pu + case33.sensitivity(base) @ delta
    np.testing.assert_allclose(predicted, case33.solve(base + delta).vm_pu, atol=2e-5)


# ------------------------------------------------------------------ topology


def test_connect_members_round_robin_seed_and_mapping() -> None:
    net = build_network(NetworkSpec(named="cigre_lv"))
    load_buses = sorted(set(net.load["bus"]))
    members = connect_members(net, 20)
    assert members.tolist() == [load_buses[k % len(load_buses)] for k in range(20)]
    assert not net.load["in_service"].any()
    assert connect_members(net, 20).tolist() == members.tolist()  # stable on a second call
    shuffled = connect_members(net, 20, seed=7)
    assert shuffled.tolist() == connect_members(net, 20, seed=7).tolist()
    assert shuffled.tolist() != members.tolist()
    assert sorted(set(shuffled.tolist())) == load_buses
    explicit = connect_members(net, 3, bus_of_member=[5, 5, 40], seed=7)
    assert explicit.tolist() == [5, 5, 40]


def test_connect_members_without_loads_uses_buses_behind_the_transformer() -> None:
    net = build_network(NetworkSpec.feeder(5))
    assert connect_members(net, 5).tolist() == [1, 2, 3, 4, 1]


def test_background_loads_stay_when_asked() -> None:
    net = build_network(NetworkSpec(named="cigre_lv"))
    members = connect_members(net, 4, keep_background=True)
    assert net.load["in_service"].all()
    model = PowerFlowModel(net, members)
    result = model.solve(np.zeros(4))
    pp.runpp(net)
    np.testing.assert_allclose(result.vm_pu, net.res_bus["vm_pu"].to_numpy(), atol=1e-8)
    assert result.slack_p_kw == pytest.approx(net.res_ext_grid["p_mw"].sum() * 1000, abs=1e-3)


def test_explicit_topology_builds_a_solvable_network() -> None:
    spec = NetworkSpec(
        buses=(BusSpec(20.0), BusSpec(0.4), BusSpec(0.4), BusSpec(0.4)),
        lines=(LineSpec(1, 2, 0.1, 0.2, 0.08, 0.2), LineSpec(2, 3, 0.05, 0.4, 0.08, 0.1)),
        transformer=TransformerSpec(0.16, 20.0, 0.4, 4.0, 1.3, pfe_kw=0.4, i0_percent=0.3),
    )
    net = build_network(spec)
    assert (len(net.bus), len(net.line), len(net.trafo), len(net.ext_grid)) == (4, 2, 1, 1)
    model = PowerFlowModel(net, np.array([2, 3, 3]))
    result = model.solve(np.array([5.0, 3.0, 4.0]))
    assert result.converged
    assert result.trafo_loading_percent[0] > 0
    assert result.losses_kw > 0.4 * 0.9  # iron losses at least
    without_trafo = NetworkSpec(
        buses=(BusSpec(0.4), BusSpec(0.4)), lines=(LineSpec(0, 1, 0.1, 0.2, 0.08, 0.2),)
    )
    assert len(build_network(without_trafo).trafo) == 0


def test_kerber_networks_are_reproducible_and_leave_random_alone() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    first = build_network(NetworkSpec(named="kerber_landnetz"))
    second = build_network(NetworkSpec(named="kerber_landnetz"))
    assert random.random() == expected
    assert first.line["std_type"].tolist() == second.line["std_type"].tolist()


# ------------------------------------------------------------------ bad input


def test_errors_are_data_errors() -> None:
    assert issubclass(PowerFlowError, DataError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"named": "ieee13"}, "unknown network 'ieee13'; known: case33bw"),
        ({"named": "case33bw", "buses": (BusSpec(0.4),)}, "either named or an explicit"),
        ({"buses": (BusSpec(0.4),)}, "at least two buses"),
        ({"buses": (BusSpec(0.4), BusSpec(-1.0))}, "bus 1 has vn_kv -1.0"),
        (
            {
                "buses": (BusSpec(0.4), BusSpec(0.4), BusSpec(0.4)),
                "lines": (LineSpec(0, 1, 0.1, 0.2, 0.1, 0.2),),
            },
            r"buses \[2\] are not connected",
        ),
        (
            {"buses": (BusSpec(0.4), BusSpec(0.4)), "lines": (LineSpec(0, 2, 0.1, 0.2, 0.1, 0.2),)},
            "line 0 joins buses",
        ),
        (
            {
                "buses": (BusSpec(20.0), BusSpec(0.4)),
                "lines": (LineSpec(0, 1, 0.1, 0.2, 0.1, 0.2),),
            },
            "put a transformer between voltage levels",
        ),
        (
            {"buses": (BusSpec(0.4), BusSpec(0.4)), "lines": (LineSpec(0, 1, 0.0, 0.2, 0.1, 0.2),)},
            "length_km > 0",
        ),
        (
            {"buses": (BusSpec(0.4), BusSpec(0.4)), "lines": (LineSpec(0, 1, 0.1, 0.0, 0.0, 0.2),)},
            "zero impedance",
        ),
        (
            {
                "buses": (BusSpec(20.0), BusSpec(0.4)),
                "transformer": TransformerSpec(0.25, 20.0, 0.4, 1.0, 2.0),
            },
            "vkr_percent < vk_percent",
        ),
        (
            {
                "buses": (BusSpec(20.0), BusSpec(0.4), BusSpec(20.0)),
                "lines": (LineSpec(0, 2, 0.1, 0.2, 0.1, 0.2),),
                "transformer": TransformerSpec(0.25, 20.0, 0.4, 4.0, 1.0),
            },
            "touches bus 0",
        ),
        ({"named": "case33bw", "slack_vm_pu": 3.0}, "not a plausible voltage"),
    ],
)
def test_bad_network_specs(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PowerFlowError, match=message):
        NetworkSpec(**kwargs)


def test_bad_member_mappings() -> None:
    net = build_network(NetworkSpec.feeder(5))
    with pytest.raises(PowerFlowError, match="member 1 is mapped to bus 9, which the network"):
        PowerFlowModel(net, [1, 9])
    with pytest.raises(PowerFlowError, match="3 entries for 2 members"):
        connect_members(net, 2, bus_of_member=[1, 2, 3])
    with pytest.raises(PowerFlowError, match="integer bus indices"):
        connect_members(net, 2, bus_of_member=[1.0, 2.5])
    with pytest.raises(PowerFlowError, match="one-dimensional"):
        PowerFlowModel(net, [[1, 2]])
    with pytest.raises(PowerFlowError, match="n_members is -1"):
        connect_members(net, -1)
    net.bus.loc[4, "in_service"] = False
    with pytest.raises(PowerFlowError, match="bus 4, which is out of service"):
        PowerFlowModel(net, [1, 4])


def test_bad_model_settings() -> None:
    net = build_network(NetworkSpec.feeder(5))
    with pytest.raises(PowerFlowError, match="power_factor must be in"):
        PowerFlowModel(net, [1, 2], power_factor=1.2)
    with pytest.raises(PowerFlowError, match="power_factor must be in"):
        PowerFlowModel(net, [1, 2], power_factor=[0.9, 0.9, 0.9])
    with pytest.raises(PowerFlowError, match="v_min_pu < v_max_pu"):
        PowerFlowModel(net, [1, 2], v_min_pu=1.05, v_max_pu=0.95)
    pp.create_gen(net, bus=3, p_mw=0.01, vm_pu=1.0)
    with pytest.raises(PowerFlowError, match="net.gen"):
        PowerFlowModel(net, [1, 2])


def test_bad_injections(feeder: PowerFlowModel) -> None:
    with pytest.raises(PowerFlowError, match=r"p_kw has shape \(3,\); expected \(12,\)"):
        feeder.solve(np.zeros(3))
    with pytest.raises(PowerFlowError, match="NaN or infinite"):
        feeder.solve(np.full(12, np.nan))
    with pytest.raises(PowerFlowError, match="q_kvar must be finite"):
        feeder.solve(np.zeros(12), q_kvar=np.zeros(11))
    with pytest.raises(PowerFlowError, match="intervals first"):
        feeder.solve_series(np.zeros((12, 4)))
    with pytest.raises(PowerFlowError, match="intervals first"):
        feeder.solve_series(np.zeros(12))


# ------------------------------------------------------------------ frequency


def test_droop_frequency_worked_example() -> None:
    # 5 % droop, 100 kW of grid-forming units, 10 kW short: 50 - 0.05 * 50 * 0.1 Hz
    assert droop_frequency_hz(10.0, droop_percent=5.0, rated_kw=100.0) == pytest.approx(49.75)
    assert droop_frequency_hz(-10.0, droop_percent=5.0, rated_kw=100.0) == pytest.approx(50.25)
    assert droop_frequency_hz(0.0, droop_percent=4.0, rated_kw=50.0, nominal_hz=60.0) == 60.0
    assert droop_frequency_hz(
        20.0, droop_percent=4.0, rated_kw=200.0, nominal_hz=60.0
    ) == pytest.approx(60.0 - 0.04 * 60.0 * 0.1)


@given(
    st.floats(-500.0, 500.0),
    st.floats(-500.0, 500.0),
    st.floats(0.5, 10.0),
    st.floats(1.0, 1_000.0),
)
def test_droop_frequency_is_linear_and_falls_with_load(
    a_kw: float, b_kw: float, droop: float, rated: float
) -> None:
    fa = droop_frequency_hz(a_kw, droop_percent=droop, rated_kw=rated)
    fb = droop_frequency_hz(b_kw, droop_percent=droop, rated_kw=rated)
    slope = -droop / 100.0 * 50.0 / rated
    assert fa - fb == pytest.approx(slope * (a_kw - b_kw), abs=1e-9)
    if a_kw > b_kw + 1e-6:
        assert fa < fb


def test_frequency_limits_and_classification() -> None:
    assert classify_frequency(50.0) == "ok"
    assert classify_frequency(49.8) == "ok"
    assert classify_frequency(49.79) == "low"
    assert classify_frequency(50.21) == "high"
    sixty = FrequencyLimits.hz_60()
    assert (sixty.low_hz, sixty.nominal_hz, sixty.high_hz) == pytest.approx((59.8, 60.0, 60.2))
    assert classify_frequency(59.85, sixty) == "ok"
    assert classify_frequency(59.7, sixty) == "low"
    assert classify_frequency(50.0, sixty) == "low"
    wide = FrequencyLimits.around(50.0, 0.5)
    assert classify_frequency(50.4, wide) == "ok"
    island = droop_frequency_hz(30.0, droop_percent=5.0, rated_kw=100.0)
    assert classify_frequency(island) == "low"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: droop_frequency_hz(1.0, droop_percent=0.0, rated_kw=10.0), "droop_percent"),
        (lambda: droop_frequency_hz(1.0, droop_percent=5.0, rated_kw=-1.0), "rated_kw"),
        (lambda: droop_frequency_hz(math.inf, droop_percent=5.0, rated_kw=1.0), "finite"),
        (
            lambda: droop_frequency_hz(1.0, droop_percent=5.0, rated_kw=1.0, nominal_hz=0.0),
            "nominal_hz",
        ),
        (lambda: FrequencyLimits(50.0, 50.1, 50.2), "low < nominal < high"),
        (lambda: classify_frequency(math.nan), "finite"),
    ],
)
def test_bad_frequency_input(call: Callable[[], object], message: str) -> None:
    with pytest.raises(PowerFlowError, match=message):
        call()
