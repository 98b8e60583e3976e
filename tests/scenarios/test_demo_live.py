"""The live demo is the simulation, over the wire: the node (`gridshare serve`'s) driven by
the simulated community's meters posting signed readings over HTTP reports exactly the
figures `simulate` reports in process, for every step, and its store proves against its
chain. This is the test that the node and the simulator are one system."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import pytest
from tests.integration.conftest import free_port
from typer.testing import CliRunner

from gridshare.api.app import create_app
from gridshare.app.demo import DemoOptions, run_demo
from gridshare.app.simulate import run_simulation
from gridshare.cli import app
from gridshare.ledger.keys import LocalSigner
from gridshare.model.summary import record_json
from gridshare.settings import Settings
from gridshare.simulator.run import prepare

pytestmark = pytest.mark.slow  # two simulated days, twice, each on its own chain

TINY = Path(__file__).parent / "data" / "tiny.toml"
DAYS = 2


def test_the_live_demo_reports_what_the_simulation_reports(tmp_path: Path) -> None:
    scenario = prepare(TINY, days=DAYS)
    operator = LocalSigner.generate()
    in_process = run_simulation(
        scenario, tmp_path / "simulated", operator=operator, plots=False
    ).summary
    port = free_port()
    answered: list[int] = []
    closed: list[tuple[int, int]] = []

    def ready() -> None:  # the node serves its API while the meters feed it
        answered.append(httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json").status_code)

    demo = run_demo(
        scenario,
        "tiny",
        operator,
        DemoOptions(
            tmp_path / "live",
            port,
            day_s=0,
            api=lambda ports: create_app(
                ports.store,
                Settings(data_dir=tmp_path / "live"),
                chain_id=ports.chain_id,
                market=ports.market,
            ),
        ),
        stop=threading.Event(),
        on_ready=ready,
        on_interval=lambda done, total: closed.append((done, total)),
    )
    assert {p.name for p in demo.plots} >= {"daily_energy.png", "balancing.png"}
    live = demo.node.summary
    intervals = DAYS * 96
    assert closed[-1] == (intervals, intervals)
    assert answered == [200]
    # every reading went over the wire, stored on arrival by ingest
    assert live.pipeline.stored_on_arrival == in_process.pipeline.readings.inserted > 0
    assert live.pipeline.intervals == in_process.pipeline.intervals == intervals
    assert live.live is not None
    assert live.live.closed_complete == intervals
    # every step's figures: energy, commitments, certificates, market, balancing
    assert [type(s) for s in live.steps] == [type(s) for s in in_process.steps]
    for mine, theirs in zip(live.steps, in_process.steps, strict=True):
        assert _figures(mine) == _figures(theirs), type(mine).__name__
    verified = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "live")])
    assert verified.exit_code == 0, verified.output


def _figures(step: object) -> dict[str, object]:
    """A step's summary without its wall-clock timings."""
    figures = record_json(step)  # type: ignore[arg-type]
    figures.pop("timings", None)
    return figures


def test_gridshare_demo_runs_a_bounded_day_and_ends_with_the_summary(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "node"
    result = CliRunner().invoke(
        app,
        ["demo", str(TINY), "--days", "1", "--day-s", "0", "--port", str(port), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"http://127.0.0.1:{port}/v1/docs" in text
    assert "Traded peer to peer" in text
    assert "still serving" not in text  # --days bounds the run: no lingering
    assert (out / "daily_energy.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["closed_complete"] == 96


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--day-s", "-1"], "greater than or equal to 0"),
        (["--days", "0"], "greater than or equal to 1"),
        (["--port", "taken"], "cannot listen for HTTP"),
    ],
)
def test_gridshare_demo_refuses_bad_flags_with_the_reason(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = str(holder.getsockname()[1])
        args = [taken if a == "taken" else a for a in args]
        result = CliRunner().invoke(app, ["demo", str(TINY), "--out", str(tmp_path), *args])
    assert result.exit_code != 0
    assert expected in " ".join(result.output.replace("│", " ").split())
    assert "Traceback" not in result.output
