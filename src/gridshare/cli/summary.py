"""The summary of a simulated run as a table."""

from __future__ import annotations

from rich.table import Table

from gridshare.model.summary import (
    AccountingSummary,
    BalancingSummary,
    CertificateSummary,
    CommitSummary,
    MarketSummary,
    RunSummary,
)
from gridshare.units import micros_to_currency, wh_to_kwh


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _energy_rows(table: Table, a: AccountingSummary) -> None:
    table.add_row("Production", f"{a.production_kwh.total:,.1f} kWh")
    for source, value in a.production_kwh.by_source.items():
        if value:
            table.add_row(f"  {source}", f"{value:,.1f} kWh")
    table.add_row("Consumption", f"{a.consumption_kwh:,.1f} kWh")
    table.add_row("Import from main grid", f"{a.import_kwh:,.1f} kWh")
    table.add_row("Export to main grid", f"{a.export_kwh:,.1f} kWh")
    table.add_row("Storage losses", f"{a.storage_losses_kwh:,.1f} kWh")
    table.add_row("Self-consumption ratio", _ratio(a.self_consumption_ratio))
    table.add_row("Self-sufficiency ratio", _ratio(a.self_sufficiency_ratio))
    table.add_row("Peak import", f"{a.peak_import_kw:,.1f} kW")
    table.add_row("Peak export", f"{a.peak_export_kw:,.1f} kW")
    table.add_row("Energy balance residual", f"{a.energy_balance_residual_wh} Wh")
    table.add_row("Intervals over a grid limit", str(a.intervals_flagged.get("limit_exceeded", 0)))
    table.add_row("Intervals with missing readings", str(a.intervals_flagged.get("missing", 0)))
    table.add_row("Grid cost (import - export)", str(a.grid_cost.net_cost))


def _market_rows(table: Table, m: MarketSummary) -> None:
    table.add_row(f"Traded peer to peer ({m.market.mechanism})", f"{m.traded_kwh:,.1f} kWh")
    price = m.mean_clearing_price
    table.add_row("  mean price", "n/a" if price is None else f"{price:.4f} /kWh")
    table.add_row("  members' savings vs grid tariff", str(m.member_savings))
    table.add_row("  fees to the community fund", str(m.fees))
    table.add_row("  orders (refused)", f"{m.market.orders:,} ({m.market.orders_rejected:,})")


def _balancing_rows(table: Table, b: BalancingSummary) -> None:
    plan = b.balancing
    table.add_row(
        f"Balancing ({plan.optimiser}): peak import",
        f"{plan.peak_import_kw.before:,.1f} -> {plan.peak_import_kw.after:,.1f} kW",
    )
    table.add_row(
        "  connection cost, rule -> plan", f"{plan.grid_cost.before} -> {plan.grid_cost.after}"
    )
    table.add_row("  saving (stored energy valued)", str(plan.grid_cost.saving))
    table.add_row("  islanded", f"{b.islanded_hours} h")
    table.add_row("  unserved critical load", f"{b.unserved_critical_kwh} kWh")
    table.add_row("  voltage violations (bus-intervals)", str(b.voltage_violations))
    dr = plan.demand_response
    if dr is not None:
        table.add_row(
            "  demand response",
            f"{dr.events} events, {dr.delivered_kwh} kWh, "
            f"paid {micros_to_currency(dr.paid_micros)}",
        )
    critical = sum(v.get("critical", 0) for v in plan.alerts.values())
    warnings = sum(v.get("warning", 0) for v in plan.alerts.values())
    table.add_row("  alerts (critical, warning)", f"{critical}, {warnings}")


def _ledger_rows(table: Table, summary: RunSummary, commits: CommitSummary) -> None:
    table.add_row("Intervals committed on chain", f"{commits.commitments:,}")
    certificates = summary.find(CertificateSummary)
    if certificates is not None:
        issued = certificates.certificates_issued_wh
        table.add_row("Certificates issued", f"{wh_to_kwh(issued):,.1f} kWh ({issued:,} Wh tokens)")
    verified = summary.verified
    if verified is None:  # a live run: the node does not audit itself as it stops
        table.add_row("Verified against the chain", "not checked here: run gridshare verify")
    else:
        table.add_row("Verified against the chain", "[green]yes[/]" if verified else "[red]NO[/]")


def summary_table(summary: RunSummary) -> Table:
    """Energy, grid, market, balancing and ledger figures of a run, the sections it has."""
    window = summary.simulation
    title = f"Community {summary.community}"
    if window is not None:
        title += f" - {window.start.isoformat()} to {window.end.isoformat()}"
    table = Table(title=title)
    table.add_column("Quantity")
    table.add_column("Value", justify="right")
    accounting = summary.find(AccountingSummary)
    if accounting is not None:
        _energy_rows(table, accounting)
    market = summary.find(MarketSummary)
    if market is not None:
        _market_rows(table, market)
    balancing = summary.find(BalancingSummary)
    if balancing is not None:
        _balancing_rows(table, balancing)
    commits = summary.find(CommitSummary)
    if commits is not None:
        _ledger_rows(table, summary, commits)
    return table
