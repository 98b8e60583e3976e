"""`gridshare keys` and `gridshare chain deploy|status|verify`, embedded and on anvil."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from gridshare.cli import app
from gridshare.storage import default_sqlite_url, open_store
from tests.ledger.conftest import Anvil

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDSHARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDSHARE_KEY_PASSWORD", "test-password")
    monkeypatch.setenv("GRIDSHARE_KEY_KDF_ITERATIONS", "1000")
    monkeypatch.delenv("GRIDSHARE_CHAIN_URL", raising=False)
    monkeypatch.delenv("GRIDSHARE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_status_before_deploy_says_what_to_do(env: Path) -> None:
    result = runner.invoke(app, ["chain", "status"])
    assert result.exit_code == 2
    assert "gridshare chain deploy" in result.output


def test_deploy_status_verify_on_the_embedded_chain(env: Path) -> None:
    deployed = runner.invoke(app, ["chain", "deploy"])
    assert deployed.exit_code == 0, deployed.output
    assert "ParticipantRegistry" in deployed.output
    assert (env / "keys" / "operator.json").exists()
    status = runner.invoke(app, ["chain", "status"])
    assert status.exit_code == 0, status.output
    assert "embedded" in status.output
    assert "code verified" in status.output
    again = runner.invoke(app, ["chain", "deploy"])  # second start reuses the contracts
    assert json.loads((env / "deployments" / "20241125.json").read_text())["chain_id"] == 20241125
    assert again.exit_code == 0
    verified = runner.invoke(app, ["chain", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "the store matches the chain" in verified.output


def test_verify_exits_nonzero_on_a_planted_mismatch(env: Path) -> None:
    assert runner.invoke(app, ["chain", "deploy"]).exit_code == 0
    store = open_store(default_sqlite_url(env))
    try:
        with store.engine.begin() as conn:
            conn.execute(
                text('UPDATE chain_events SET args_json = \'[["account", "0x"], ["role", 4]]\'')
            )
    finally:
        store.close()
    result = runner.invoke(app, ["chain", "verify"])
    assert result.exit_code == 1
    assert "mismatch:" in result.output
    assert "ParticipantRegistered" in result.output


def test_a_real_node_is_a_configuration_change(
    env: Path, anvil: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = runner.invoke(app, ["keys", "create", "operator"])
    assert created.exit_code == 0, created.output
    anvil.fund(created.output.split()[-1], 10**21)
    monkeypatch.setenv("GRIDSHARE_CHAIN_URL", anvil.url)
    deployed = runner.invoke(app, ["chain", "deploy"])
    assert deployed.exit_code == 0, deployed.output
    assert "Contracts on chain 31337" in deployed.output
    status = runner.invoke(app, ["chain", "status"])
    assert anvil.url in status.output
    assert runner.invoke(app, ["chain", "verify"]).exit_code == 0
