"""The demo community end to end: pipeline, store, summary, plots and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridshare.app.simulate import SimulationResult, run_simulation
from gridshare.model.summary import AccountingSummary, RunSummary
from gridshare.simulator.run import prepare
from gridshare.storage import StorageError, open_store

pytestmark = pytest.mark.slow  # two demo days, simulated up to five times

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.toml"


def same_run(a: RunSummary, b: RunSummary) -> bool:
    """Equal summaries but for wall-clock timings (which must be reported by both)."""
    first, second = a.as_json(), b.as_json()
    timings = first.pop("timings"), second.pop("timings")
    return all(isinstance(t, dict) and len(t) == 2 for t in timings) and first == second


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return run_simulation(
        prepare(DEMO, days=2), tmp_path_factory.mktemp("demo"), scenario_name="demo"
    )


def test_summary_has_what_an_engineer_needs(demo: SimulationResult) -> None:
    summary = json.loads((demo.out_dir / "summary.json").read_text())
    for key in (
        "production_kwh",
        "consumption_kwh",
        "import_kwh",
        "export_kwh",
        "self_consumption_ratio",
        "self_sufficiency_ratio",
        "peak_import_kw",
        "peak_export_kw",
        "participants",
        "energy_balance_residual_wh",
    ):
        assert key in summary
    assert set(summary["production_kwh"]["by_source"]) == {"solar", "wind", "hydro", "biomass"}
    assert all(v > 0 for v in summary["production_kwh"]["by_source"].values())
    assert 0.0 < summary["self_consumption_ratio"] <= 1.0
    assert 0.0 < summary["self_sufficiency_ratio"] <= 1.0


def test_energy_balance_residual_is_zero(demo: SimulationResult) -> None:
    a = demo.summary.section(AccountingSummary)
    e = a.energy_wh
    assert a.energy_balance_residual_wh == 0
    assert (
        e.production + e.import_ == e.consumption + e.export + e.storage_losses + e.storage_change
    )


def test_accounting_from_meters_matches_the_simulated_world(demo: SimulationResult) -> None:
    """Consumption is derived from meters; the simulator knows the truth."""
    e = demo.summary.section(AccountingSummary).energy_wh
    truth = demo.source.truth
    assert e.consumption == int(truth.consumption_wh.sum())
    assert e.production == int(truth.production_wh.sum())
    assert e.storage_losses == truth.storage_losses_wh


def test_participant_totals_add_up(demo: SimulationResult) -> None:
    accounting = demo.summary.section(AccountingSummary)
    participants = accounting.participants
    total = sum(p.consumption_kwh for p in participants)
    assert total == pytest.approx(accounting.consumption_kwh, abs=0.001 * len(participants))
    assert demo.summary.simulation is not None
    assert len(participants) == demo.summary.simulation.members + 1  # + the operator


def test_store_holds_every_reading_once(demo: SimulationResult) -> None:
    store = open_store(demo.database_url)
    try:
        pipeline = demo.summary.pipeline
        assert store.count("readings") == pipeline.readings.inserted
        assert store.count("interval_balances") == pipeline.intervals == 2 * 96
        pcc = store.readings(["demo:pcc"])
        energy = demo.summary.section(AccountingSummary).energy_wh
        assert int(pcc["import_wh"].sum()) == energy.import_
        participants = len(demo.summary.section(AccountingSummary).participants)
        assert store.count("participant_totals") == participants
    finally:
        store.close()


def test_plots_are_written(demo: SimulationResult) -> None:
    names = {p.name for p in demo.plots}
    assert names == {"daily_energy.png", "typical_day.png", "battery_soc.png", "balancing.png"}
    for path in demo.plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000


def test_same_scenario_and_seed_give_identical_results(
    demo: SimulationResult, tmp_path: Path
) -> None:
    again = run_simulation(prepare(DEMO, days=2), tmp_path, scenario_name="demo", plots=False)
    assert same_run(again.summary, demo.summary)


def test_postgresql_run_equals_sqlite_run(
    demo: SimulationResult, postgres_url: str, tmp_path: Path
) -> None:
    on_postgres = run_simulation(
        prepare(DEMO, days=2),
        tmp_path,
        scenario_name="demo",
        database_url=postgres_url,
        plots=False,
    )
    assert same_run(on_postgres.summary, demo.summary)
    with pytest.raises(StorageError, match="--replace"):
        run_simulation(
            prepare(DEMO, days=1),
            tmp_path,
            scenario_name="demo",
            database_url=postgres_url,
            plots=False,
        )
    replaced = run_simulation(
        prepare(DEMO, days=2),
        tmp_path,
        scenario_name="demo",
        database_url=postgres_url,
        replace=True,
        plots=False,
    )
    assert same_run(replaced.summary, demo.summary)
