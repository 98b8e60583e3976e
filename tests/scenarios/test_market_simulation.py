"""The market in the shared pipeline: a simulated community trades through its agents,
settles on chain, and the auditor can prove (or disprove) the stored trades."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridshare.app.simulate import SimulationResult, run_simulation
from gridshare.cli import app
from gridshare.ledger.keys import LocalSigner
from gridshare.market.clearing import MECHANISMS
from gridshare.model.summary import AccountingSummary, MarketSummary
from gridshare.simulator.run import prepare

TINY = Path(__file__).parent / "data" / "tiny.toml"


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("tiny-market")
    return run_simulation(prepare(TINY), out, operator=LocalSigner.generate(), plots=False)


def _db(run: SimulationResult) -> sqlite3.Connection:
    return sqlite3.connect(run.out_dir / "gridshare.sqlite")


@pytest.mark.slow  # chain_run: a simulated day settled on chain
def test_trades_settle_on_chain_and_money_is_conserved(chain_run: SimulationResult) -> None:
    assert chain_run.summary.verified is True, chain_run.summary.audit
    s = chain_run.summary.section(MarketSummary)
    assert s.traded_kwh > 0
    assert s.market.settle_transactions > 0
    with _db(chain_run) as c:
        paid, credited, to_fund = c.execute(
            "SELECT SUM(buyers_paid_micros), SUM(sellers_credited_micros) + SUM(refunds_micros), "
            "SUM(to_fund_micros) "
            "FROM market_intervals"
        ).fetchone()
        # every micro buyers paid went to a seller, back to a buyer, or to the fund
        assert paid == credited + to_fund
        bought, sold = c.execute(
            "SELECT SUM(CASE WHEN side = 'buy' THEN filled_wh END), "
            "SUM(CASE WHEN side = 'sell' THEN filled_wh END) FROM market_fills"
        ).fetchone()
        assert bought == sold == round(s.traded_kwh * 1000)
        # nobody filled beyond their order; no buyer above its limit, no seller below it
        over = c.execute(
            "SELECT COUNT(*) FROM market_fills WHERE filled_wh > quantity_wh OR "
            "(side = 'buy' AND amount_micros * 1000 > filled_wh * price_micros_per_kwh + 999) "
            "OR (side = 'sell' AND amount_micros < (filled_wh * price_micros_per_kwh) / 1000)"
        ).fetchone()[0]
        assert over == 0
        # a seller is paid only for what its meter delivered
        short = c.execute(
            "SELECT COUNT(*) FROM market_fills WHERE side = 'sell' AND delivered_wh > filled_wh"
        ).fetchone()[0]
        assert short == 0
        settled = c.execute(
            "SELECT COUNT(*) FROM market_intervals WHERE settled_on_chain"
        ).fetchone()[0]
    assert settled > 0


@pytest.mark.slow  # chain_run: a simulated day settled on chain
def test_members_save_against_the_grid_tariff(chain_run: SimulationResult) -> None:
    """Agents trade only between the grid's export and import prices, so the community
    as a whole pays less than it would to the grid alone."""
    with _db(chain_run) as c:
        rows = c.execute(
            "SELECT grid_only_cost_micros - (paid_micros - credited_micros + grid_cost_micros), "
            "bought_wh, sold_wh "
            "FROM market_member_totals"
        ).fetchall()
    assert sum(r[0] for r in rows) > 0
    assert any(r[1] > 0 for r in rows)
    assert any(r[2] > 0 for r in rows)


@pytest.mark.slow  # chain_run: a simulated day settled on chain
def test_verify_catches_a_changed_trade_and_a_changed_order(
    chain_run: SimulationResult, tmp_path: Path
) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data-dir", str(chain_run.out_dir)])
    assert ok.exit_code == 0, ok.output

    copy = tmp_path / "run"
    shutil.copytree(chain_run.out_dir, copy)
    with sqlite3.connect(copy / "gridshare.sqlite") as c:
        start, row = c.execute(
            "SELECT interval_start_s, row FROM market_trades ORDER BY interval_start_s LIMIT 1"
        ).fetchone()
        c.execute(
            "UPDATE market_trades SET price_micros_per_kwh = price_micros_per_kwh + 1 "
            "WHERE interval_start_s = ? AND row = ?",
            (start, row),
        )
        c.execute(
            "UPDATE market_fills SET price_micros_per_kwh = price_micros_per_kwh + 50000 "
            "WHERE position = 0 AND "
            "interval_start_s = (SELECT MAX(interval_start_s) FROM market_fills)"
        )
        # a fill of the first (batch-settled) day: one micro less paid
        c.execute(
            "UPDATE market_fills SET amount_micros = amount_micros - 1 WHERE side = 'buy' "
            "AND amount_micros > 0 AND rowid = (SELECT MIN(rowid) FROM market_fills "
            "WHERE side = 'buy' AND amount_micros > 0)"
        )
    bad = runner.invoke(app, ["verify", "--data-dir", str(copy)])
    assert bad.exit_code == 1, bad.output
    flat = " ".join(bad.output.split())
    assert f"market interval {start}" in flat
    assert "a trade was changed" in flat
    assert "no longer hash to the stored order hash" in flat
    assert "a fill was changed, added or removed" in flat


@pytest.mark.slow  # chain_run: a simulated day settled on chain
def test_market_report_lists_members_and_writes_a_plot(chain_run: SimulationResult) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["market", "report", "--data-dir", str(chain_run.out_dir), "--members", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "Market of tiny" in result.output
    assert "member savings" in result.output
    assert (chain_run.out_dir / "market.png").stat().st_size > 10_000
    as_json = runner.invoke(
        app, ["market", "report", "--data-dir", str(chain_run.out_dir), "--json"]
    )
    assert as_json.exit_code == 0
    assert '"traded_kwh"' in as_json.output


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_every_mechanism_runs_in_the_pipeline(mechanism: str, tmp_path: Path) -> None:
    """`--market NAME` swaps the mechanism and nothing else: the same community, the same
    energy, a different market result."""
    result = run_simulation(prepare(TINY), tmp_path, plots=False, market=mechanism)
    s = result.summary.section(MarketSummary)
    assert s.market.mechanism == mechanism
    assert s.traded_kwh > 0
    assert result.summary.section(AccountingSummary).energy_balance_residual_wh == 0
    price = s.mean_clearing_price
    assert price is not None
    # every mechanism here prices within the grid's tariffs (0.07 .. 0.28 /kWh)
    assert 0.0 <= price <= 0.28
