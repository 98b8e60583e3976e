"""A simulation with its ledger: committed, certified, audited; tampering is caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridshare.app.simulate import SimulationResult, run_simulation
from gridshare.cli import app
from gridshare.ledger.keys import LocalSigner
from gridshare.model.summary import CertificateSummary, CommitSummary
from gridshare.simulator.run import prepare

pytestmark = pytest.mark.slow  # a simulated day committed and certified on chain

TINY = Path(__file__).parent / "data" / "tiny.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("tiny")
    return run_simulation(prepare(TINY), out, operator=LocalSigner.generate(), plots=False)


def _production_wh(db: Path) -> int:
    with sqlite3.connect(db) as c:
        (total,) = c.execute(
            "SELECT SUM(r.export_wh) FROM readings r JOIN meters m ON m.meter_pk = r.meter_pk "
            "WHERE m.kind = 'production'"
        ).fetchone()
    return int(total)


def test_every_interval_is_committed_and_certified_exactly(run: SimulationResult) -> None:
    summary = run.summary
    assert summary.section(CommitSummary).commitments == summary.pipeline.intervals == 96
    assert summary.audit is not None
    assert summary.audit.verified is True
    production = _production_wh(run.out_dir / "gridshare.sqlite")
    assert production > 0
    # certificate supply for the period == verified renewable production, to the Wh
    assert summary.section(CertificateSummary).certificates_issued_wh == production
    assert summary.audit.verification.as_json()["certified_wh"] == production


def test_verify_proves_the_store_then_catches_a_tampered_reading(
    run: SimulationResult, tmp_path: Path
) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data-dir", str(run.out_dir)])
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output

    # plant a tampered reading in a copy of the run
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run.out_dir, copy)
    with sqlite3.connect(copy / "gridshare.sqlite") as c:
        pk, start = c.execute(
            "SELECT r.meter_pk, r.interval_start_s FROM readings r JOIN meters m "
            "ON m.meter_pk = r.meter_pk WHERE m.meter_id = 'tiny:homes-001/grid' "
            "ORDER BY r.interval_start_s LIMIT 1 OFFSET 40"
        ).fetchone()
        c.execute(
            "UPDATE readings SET import_wh = import_wh + 1 WHERE meter_pk = ? "
            "AND interval_start_s = ?",
            (pk, start),
        )
    bad = runner.invoke(app, ["verify", "--data-dir", str(copy)])
    assert bad.exit_code == 1, bad.output
    assert f"interval {start}" in bad.output
    assert "consumption root" in bad.output

    from datetime import UTC, datetime

    when = datetime.fromtimestamp(start, UTC).isoformat()
    proof = runner.invoke(
        app, ["verify", "--data-dir", str(copy), "--reading", "tiny:homes-001/grid", when]
    )
    assert proof.exit_code == 1
    assert "disproved" in proof.output
    good = runner.invoke(
        app, ["verify", "--data-dir", str(run.out_dir), "--reading", "tiny:homes-001/grid", when]
    )
    assert good.exit_code == 0, good.output
    assert "proved" in good.output
    assert "sibling hashes" in good.output
