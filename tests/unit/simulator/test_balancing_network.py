"""A community's own network in its scenario: explicit buses, lines and transformer, and
groups connected to named buses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridshare.simulator.balancing import build_network
from gridshare.simulator.run import build_simulation, prepare
from gridshare.simulator.scenario import ScenarioError, parse_scenario

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "data" / "tiny.toml"

FEEDER = """
[balancing.network]
transformer = { sn_mva = 0.25, vn_hv_kv = 20, vn_lv_kv = 0.4, vk_percent = 4, vkr_percent = 1.2 }
buses = [{ vn_kv = 20, name = "PCC" }, { vn_kv = 0.4 }, { vn_kv = 0.4 }, { vn_kv = 0.4 }]

[[balancing.network.lines]]
from_bus = 1
to_bus = 2
length_km = 0.2
r_ohm_per_km = 0.206
x_ohm_per_km = 0.08
max_i_ka = 0.27

[[balancing.network.lines]]
from_bus = 2
to_bus = 3
length_km = 0.2
r_ohm_per_km = 0.206
x_ohm_per_km = 0.08
max_i_ka = 0.27
"""


def _scenario(extra: str, bus_line: str = "") -> object:
    text = TINY.read_text()
    if bus_line:
        text = text.replace('name = "homes"\n', f'name = "homes"\n{bus_line}\n')
    scenario = parse_scenario(text + extra, "tiny.toml")
    return scenario.model_copy(update={"weather": prepare(TINY).weather})


def test_an_explicit_feeder_with_a_group_on_its_last_bus() -> None:
    scenario = _scenario(FEEDER, "bus = 3")
    community, *_ = build_simulation(scenario)  # type: ignore[arg-type]
    network = build_network(scenario, community)  # type: ignore[arg-type]
    assert network is not None
    buses = network.model.bus_of_member
    homes = [i for i, p in enumerate(community.participants) if ":homes-" in p.participant_id]
    assert len(homes) == 4
    assert (buses[homes] == 3).all()
    others = np.delete(buses, homes)
    assert set(others.tolist()) <= {1, 2, 3}  # round-robin over the LV buses
    # a load at the end of the feeder pulls its voltage below the busbar's
    p_kw = np.zeros(len(community.participants))
    p_kw[homes] = 20.0
    result = network.solve(p_kw)
    assert result.converged
    assert result.vm_pu[3] < result.vm_pu[2] < result.vm_pu[1] < 1.0


def test_a_line_to_a_missing_bus_is_refused_with_the_reason() -> None:
    broken = FEEDER.replace("to_bus = 3", "to_bus = 9")
    scenario = _scenario(broken)
    community, *_ = build_simulation(scenario)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="balancing.network"):
        build_network(scenario, community)  # type: ignore[arg-type]


def test_a_group_on_a_bus_the_network_lacks_is_refused() -> None:
    scenario = _scenario(FEEDER, "bus = 12")
    community, *_ = build_simulation(scenario)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="balancing.network"):
        build_network(scenario, community)  # type: ignore[arg-type]
