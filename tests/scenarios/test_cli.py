"""The command line: the main job, and bad scenarios that must leave nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pvlib
import pytest
from typer.testing import CliRunner

from gridshare.cli import app
from gridshare.simulator.run import prepare

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.toml"
TINY = Path(__file__).resolve().parent / "data" / "tiny.toml"
runner = CliRunner()


@pytest.mark.slow  # a demo day with the embedded chain, market and plots
def test_simulate_prints_summary_and_writes_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(DEMO), "--days", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Energy balance residual" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["energy_balance_residual_wh"] == 0
    assert (tmp_path / "typical_day.png").exists()


def test_bad_scenario_names_file_key_and_expectation_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO.read_text().replace("kwp = 7.0", "kwp = -7.0"))
    database = tmp_path / "db.sqlite"
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["simulate", str(bad), "--out", str(out), "--database-url", f"sqlite:///{database}"],
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert str(bad) in message.replace(" ", "") or "bad.toml" in message
    assert "groups[0].pv.kwp" in message
    assert "greater than 0" in message
    assert not database.exists()
    assert not out.exists()


def test_missing_weather_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "noweather.toml"
    bad.write_text(DEMO.read_text().replace("pvlib:723170TYA.CSV", "pvlib:NOPE.CSV"))
    result = runner.invoke(app, ["simulate", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "weather.source" in result.output
    assert "723170TYA.CSV" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_missing_scenario_file_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert "no such scenario file" in result.output


def test_days_override_is_validated_like_the_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(DEMO), "--days", "5000", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--days 5000" in result.output
    assert "3660" in result.output


def test_relative_weather_path_is_read_from_the_scenario_folder(tmp_path: Path) -> None:
    shutil.copy(Path(pvlib.__file__).parent / "data" / "723170TYA.CSV", tmp_path / "station.csv")
    scenario = tmp_path / "local.toml"
    scenario.write_text(DEMO.read_text().replace("pvlib:723170TYA.CSV", "station.csv"))
    prepared = prepare(scenario)
    assert prepared.weather.source == str(tmp_path / "station.csv")


def test_market_mechanism_is_swapped_in_one_option(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(TINY),
            "--out",
            str(out),
            "--no-ledger",
            "--no-plots",
            "--market",
            "mcafee",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["market"]["mechanism"] == "mcafee"
    assert summary["traded_kwh"] > 0
    assert "commitments" not in summary  # --no-ledger: no chain at all
    assert "Traded peer to peer (mcafee)" in " ".join(result.output.split())


def test_unknown_market_mechanism_is_refused_with_the_choices(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", str(TINY), "--out", str(tmp_path), "--no-ledger", "--market", "vickrey"]
    )
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "unknown market mechanism 'vickrey'" in flat
    assert "pay-as-clear" in flat
