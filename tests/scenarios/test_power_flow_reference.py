"""Issue 6's check: gridshare's power flow against pandapower's own ``runpp``.

* Baran & Wu's 33-bus feeder (``pandapower.networks.case33bw``) with its own loads as the
  members' injections: bus voltages to 1e-6 pu, line loading, losses and the import at
  the slack match pandapower, for the published load and for scaled load profiles.
* The published figures of Baran & Wu (1989): 202.7 kW of losses, lowest voltage
  0.9131 pu at bus 18 (pandapower's bus 17, counted from 0).
* The CIGRE European LV network (three 20/0.4 kV transformers, bus-bus switches), with
  its own loads as members and with members on top of its loads kept as background.
* A Kerber LV feeder (cable capacitance, transformer iron losses and no-load current).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]
import pytest

from gridshare.balancing.power_flow import (
    NetworkSpec,
    PowerFlowModel,
    PowerFlowResult,
    build_network,
    connect_members,
    extract_member_loads,
)

VM_TOL_PU = 1e-6
LOADING_TOL_PERCENT = 1e-4
POWER_TOL_KW = 1e-3
SCALES = (0.1, 0.5, 0.8, 1.0, 1.2, 1.5)


def pandapower_reference(name: str, scale: float = 1.0) -> Any:
    net = build_network(NetworkSpec(named=name))
    net.load["scaling"] = scale
    pp.runpp(net)
    return net


def assert_matches(result: PowerFlowResult, ref: Any) -> None:
    assert result.converged
    res_bus, res_line = ref.res_bus, ref.res_line
    np.testing.assert_allclose(result.vm_pu, res_bus["vm_pu"].to_numpy(), rtol=0, atol=VM_TOL_PU)
    np.testing.assert_allclose(result.va_degree, res_bus["va_degree"].to_numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        result.line_loading_percent,
        res_line["loading_percent"].to_numpy(),
        rtol=1e-6,
        atol=LOADING_TOL_PERCENT,
    )
    losses_kw = 1000 * res_line["pl_mw"].sum()
    if len(ref.trafo):
        res_trafo = ref.res_trafo
        losses_kw += 1000 * res_trafo["pl_mw"].sum()
        np.testing.assert_allclose(
            result.trafo_loading_percent,
            res_trafo["loading_percent"].to_numpy(),
            rtol=1e-6,
            atol=LOADING_TOL_PERCENT,
        )
    ext_grid = ref.res_ext_grid
    assert result.losses_kw == pytest.approx(losses_kw, abs=POWER_TOL_KW)
    assert result.slack_p_kw == pytest.approx(1000 * ext_grid["p_mw"].sum(), abs=POWER_TOL_KW)
    assert result.slack_q_kvar == pytest.approx(1000 * ext_grid["q_mvar"].sum(), abs=POWER_TOL_KW)


@pytest.mark.parametrize("name", ["case33bw", "cigre_lv", "kerber_landnetz"])
def test_own_loads_match_pandapower(name: str) -> None:
    net = build_network(NetworkSpec(named=name))
    members = extract_member_loads(net)
    assert not net.load["in_service"].any()
    model = PowerFlowModel(net, members.bus_of_member)
    assert_matches(model.solve(members.p_kw, members.q_kvar), pandapower_reference(name))


@pytest.mark.parametrize("name", ["case33bw", "cigre_lv"])
def test_scaled_load_profiles_match_pandapower(name: str) -> None:
    net = build_network(NetworkSpec(named=name))
    members = extract_member_loads(net)
    model = PowerFlowModel(net, members.bus_of_member)
    scales = np.array(SCALES)[:, None]
    series = model.solve_series(scales * members.p_kw, scales * members.q_kvar)
    assert series.converged.all()
    for t, scale in enumerate(SCALES):
        assert_matches(series.at(t), pandapower_reference(name, scale))


def test_published_baran_wu_figures() -> None:
    net = build_network(NetworkSpec(named="case33bw"))
    members = extract_member_loads(net)
    assert members.p_kw.sum() == pytest.approx(3715.0)
    assert members.q_kvar.sum() == pytest.approx(2300.0)
    result = PowerFlowModel(net, members.bus_of_member).solve(members.p_kw, members.q_kvar)
    assert result.losses_kw == pytest.approx(202.7, abs=0.1)
    assert int(np.argmin(result.vm_pu)) == 17  # Baran & Wu's bus 18
    assert float(np.min(result.vm_pu)) == pytest.approx(0.9131, abs=1e-4)
    assert result.slack_p_kw == pytest.approx(3715.0 + 202.7, abs=0.1)


def test_members_on_top_of_cigre_background_match_pandapower() -> None:
    net = build_network(NetworkSpec(named="cigre_lv"))
    members = connect_members(net, 25, seed=3, keep_background=True)
    rng = np.random.default_rng(8)
    p_kw = rng.uniform(-6.0, 9.0, members.size)
    model = PowerFlowModel(net, members, power_factor=0.97)
    result = model.solve(p_kw)
    q_kvar = p_kw * np.tan(np.arccos(0.97))
    for bus, p, q in zip(members.tolist(), p_kw, q_kvar, strict=True):
        pp.create_load(net, bus=bus, p_mw=p / 1000, q_mvar=q / 1000)
    pp.runpp(net)
    assert_matches(result, net)
