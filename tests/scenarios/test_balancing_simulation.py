"""Balancing end to end on a small community: the plan, islanding with critical loads,
demand response, the power flow, and the counterfactual the report compares with."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridshare.app.simulate import SimulationResult, run_simulation
from gridshare.cli import app
from gridshare.ledger.keys import LocalSigner
from gridshare.model.summary import AccountingSummary, BalancingSummary, MarketSummary
from gridshare.simulator.run import prepare
from gridshare.simulator.scenario import GridEventSpec, Scenario
from gridshare.storage import open_store

pytestmark = pytest.mark.slow  # four multi-day island simulations, one on chain

ISLAND = Path(__file__).parent / "data" / "island.toml"


def _run(scenario: Scenario, out: Path) -> SimulationResult:
    return run_simulation(scenario, out, plots=False, scenario_name="island")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return _run(prepare(ISLAND), tmp_path_factory.mktemp("planned"))


@pytest.fixture(scope="module")
def rule(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    scenario = prepare(ISLAND)
    balancing = scenario.balancing.model_copy(update={"optimise": False})
    return _run(
        scenario.model_copy(update={"balancing": balancing}), tmp_path_factory.mktemp("rule")
    )


@pytest.fixture(scope="module")
def blackout(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """A night-long outage: storage cannot carry everyone."""
    scenario = prepare(ISLAND)
    local = ZoneInfo("America/New_York")
    event = GridEventSpec(
        kind="grid_outage", start=datetime(2025, 6, 3, 18, tzinfo=local), hours=14
    )
    return _run(
        scenario.model_copy(update={"events": [event]}), tmp_path_factory.mktemp("blackout")
    )


def _frame(result: SimulationResult, name: str) -> pd.DataFrame:
    store = open_store(result.database_url)
    try:
        return getattr(store, name)("isle")  # type: ignore[no-any-return]
    finally:
        store.close()


def _readings(result: SimulationResult) -> pd.DataFrame:
    store = open_store(result.database_url)
    try:
        return store.readings()
    finally:
        store.close()


def test_summary_reports_the_balancing_keys(planned: SimulationResult) -> None:
    s = planned.summary.as_json()
    for key in (
        "unserved_critical_kwh",
        "islanded_hours",
        "voltage_violations",
        "peak_import_kw",
        "peak_import_kw_before",
    ):
        assert key in s
    balancing = planned.summary.section(BalancingSummary)
    assert balancing.islanded_hours == 4.0
    b = balancing.balancing
    assert b.plans > 0
    assert b.peak_import_kw.after == planned.summary.section(AccountingSummary).peak_import_kw
    assert b.network is not None
    assert b.network.vm_min_pu is not None
    assert b.network.vm_min_pu > 0.9
    # the market ran on its island rule through the outage's 16 intervals
    assert planned.summary.section(MarketSummary).market.islanded_intervals == 16


def test_accounting_stays_exact_through_islands_and_demand_response(
    planned: SimulationResult,
) -> None:
    a = planned.summary.section(AccountingSummary)
    e = a.energy_wh
    assert a.energy_balance_residual_wh == 0
    truth = planned.source.truth
    assert e.consumption == int(truth.consumption_wh.sum())
    assert e.production == int(truth.production_wh.sum())
    assert e.storage_losses == truth.storage_losses_wh


def test_the_connection_is_open_while_islanded(planned: SimulationResult) -> None:
    readings = _readings(planned)
    pcc = readings[readings["meter_id"] == "isle:pcc"].set_index("interval_start_s")
    islanded = _frame(planned, "balancing_intervals").set_index("interval_start_s")["islanded"]
    inside = islanded[islanded.astype(bool)].index
    assert len(inside) == 16  # four hours of 15 minutes
    assert (pcc.loc[inside, ["import_wh", "export_wh"]].to_numpy() == 0).all()
    assert pcc.drop(inside)["import_wh"].sum() > 0


def test_the_rule_run_is_its_own_counterfactual(rule: SimulationResult) -> None:
    """Without the optimiser the shadow rule and the metered world are the same run: the
    report's 'before' figures are computed, not copied."""
    b = rule.summary.section(BalancingSummary).balancing
    assert b.plans == 0
    assert b.peak_import_kw.before == b.peak_import_kw.after
    assert b.grid_cost.before == b.grid_cost.after
    assert b.grid_cost.saving == 0


def test_the_plan_beats_the_rule_on_the_connection_cost(
    planned: SimulationResult, rule: SimulationResult
) -> None:
    """Two real runs on the same weather and loads: the metered connection cost with the
    plan is below the metered cost with the rule, and the planned run's own estimate of
    its saving agrees in sign."""
    with_plan = planned.summary.section(BalancingSummary).balancing.grid_cost
    with_rule = rule.summary.section(BalancingSummary).balancing.grid_cost
    assert with_plan.after < with_rule.after
    assert with_plan.saving > 0
    imported = [r.summary.section(AccountingSummary).import_kwh for r in (planned, rule)]
    assert imported[0] < imported[1]


def test_critical_loads_are_served_first(blackout: SimulationResult) -> None:
    """In every islanded interval, if the clinic is disconnected then so is every
    non-critical load (the homes and shops)."""
    assert blackout.summary.section(BalancingSummary).islanded_hours == 14.0
    readings = _readings(blackout)
    grid = readings[readings["meter_id"].str.endswith("/grid")]
    islanded = _frame(blackout, "balancing_intervals").set_index("interval_start_s")["islanded"]
    starts = islanded[islanded.astype(bool)].index
    rows = grid[grid["interval_start_s"].isin(starts)]
    off = rows.assign(off=(rows["import_wh"] == 0) & (rows["export_wh"] == 0))
    table = off.pivot(index="interval_start_s", columns="meter_id", values="off")
    clinic = table["isle:clinic-001/grid"]
    consumers = [c for c in table.columns if "homes-" in c or "shops-" in c]
    shed_any = table[consumers].any(axis=1)
    assert shed_any.any(), "the blackout must force shedding for this test to mean anything"
    assert (~clinic | table[consumers].all(axis=1)).all()
    truth = blackout.source.truth
    shed_energy = int(truth.unserved_wh.sum())
    assert shed_energy > 0
    # the clinic is the last served: what it lost is at most what everyone else lost
    assert truth.unserved_critical_wh <= shed_energy - truth.unserved_critical_wh or (
        truth.unserved_critical_wh == 0
    )


def test_islands_are_recorded_with_shed_and_served_energy(blackout: SimulationResult) -> None:
    islands = _frame(blackout, "island_events")
    assert len(islands) == 1
    row = islands.iloc[0]
    assert int(row["end_s"]) - int(row["start_s"]) == 14 * 3600
    assert int(row["shed_wh"]) > 0
    assert int(row["served_critical_wh"]) > 0
    summary = blackout.summary.section(BalancingSummary).balancing.islands[0]
    assert summary.shed_kwh == pytest.approx(int(row["shed_wh"]) / 1000, abs=0.001)


def test_demand_response_pays_measured_curtailment_only(planned: SimulationResult) -> None:
    events = _frame(planned, "dr_events")
    responses = _frame(planned, "dr_responses")
    assert len(events) > 0
    assert len(responses) > 0
    assert (responses["delivered_wh"] <= responses["requested_wh"]).all()
    assert (responses["delivered_wh"] >= 0).all()
    out = responses[responses["response"] == "opted_out"]
    assert (out["payment_micros"] == 0).all()
    rate = dict(zip(events["event_id"], events["rate_micros_per_kwh"], strict=True))
    expected = [
        d * rate[e] // 1000
        for e, d in zip(responses["event_id"], responses["delivered_wh"], strict=True)
    ]
    paid_in = responses["response"] != "opted_out"
    assert np.array_equal(
        responses.loc[paid_in, "payment_micros"].to_numpy(),
        np.array(expected)[paid_in.to_numpy()],
    )
    dr = planned.summary.section(BalancingSummary).balancing.demand_response
    assert dr is not None
    assert dr.paid_micros == int(responses["payment_micros"].sum())


def test_dispatched_setpoints_are_stored_and_hashed(planned: SimulationResult) -> None:
    setpoints = _frame(planned, "dispatch_setpoints")
    intervals = _frame(planned, "balancing_intervals")
    planned_rows = intervals["next_plan_hash"].notna().sum()
    assert planned_rows == planned.summary.section(BalancingSummary).balancing.plans
    # one row per battery and load-following plant for each dispatched interval
    devices = setpoints.groupby("interval_start_s").size()
    assert set(devices) == {7}


@pytest.fixture(scope="module")
def on_chain(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    scenario = prepare(ISLAND, days=2)
    return run_simulation(
        scenario,
        tmp_path_factory.mktemp("chain"),
        operator=LocalSigner.generate(),
        plots=False,
        scenario_name="island",
    )


def test_balancing_actions_are_on_chain_and_verified(on_chain: SimulationResult) -> None:
    audit = on_chain.summary.audit
    assert audit is not None
    assert audit.verified is True, audit.verification.problems
    assert "Balancing of isle" in " ".join(audit.verification.findings)
    b = on_chain.summary.section(BalancingSummary).balancing
    assert b.chain_transactions > 0
    store = open_store(on_chain.database_url)
    try:
        events = store.chain_events(store_chain_id(on_chain))
    finally:
        store.close()
    recorded = [e for e in events if e.contract == "GridBalancing"]
    schedules = [e for e in recorded if e.event == "ScheduleRecorded"]
    islands = [e for e in recorded if e.event == "IslandRecorded"]
    paid = [e for e in recorded if e.event == "ResponseRecorded"]
    assert len(schedules) == b.plans
    assert len(islands) == 1
    dr = b.demand_response
    assert dr is not None
    assert sum(int(str(e.arg("payment_micros"))) for e in paid) == dr.paid_micros


def test_verify_catches_a_tampered_setpoint(on_chain: SimulationResult, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(on_chain.out_dir, copy)
    with sqlite3.connect(copy / "gridshare.sqlite") as c:
        start, position = c.execute(
            "SELECT interval_start_s, position FROM dispatch_setpoints "
            "WHERE setpoint_wh != 0 ORDER BY interval_start_s LIMIT 1"
        ).fetchone()
        c.execute(
            "UPDATE dispatch_setpoints SET setpoint_wh = setpoint_wh + 100 "
            "WHERE interval_start_s = ? AND position = ?",
            (start, position),
        )
    result = CliRunner().invoke(app, ["verify", "--data-dir", str(copy)])
    assert result.exit_code == 1, result.output
    assert f"schedule {start}" in result.output


def store_chain_id(result: SimulationResult) -> int:
    deployments = list((result.out_dir / "deployments").glob("*.json"))
    assert len(deployments) == 1
    return int(deployments[0].stem.split("-")[-1])
