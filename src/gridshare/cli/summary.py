"""The summary of a simulated run (``summary.json``) as a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from gridshare.units import micros_to_currency, wh_to_kwh

ENERGY_ROWS = [
    ("Consumption", "consumption_kwh", "{:,.1f} kWh"),
    ("Import from main grid", "import_kwh", "{:,.1f} kWh"),
    ("Export to main grid", "export_kwh", "{:,.1f} kWh"),
    ("Storage losses", "storage_losses_kwh", "{:,.1f} kWh"),
    ("Self-consumption ratio", "self_consumption_ratio", "{:.1%}"),
    ("Self-sufficiency ratio", "self_sufficiency_ratio", "{:.1%}"),
    ("Peak import", "peak_import_kw", "{:,.1f} kW"),
    ("Peak export", "peak_export_kw", "{:,.1f} kW"),
    ("Energy balance residual", "energy_balance_residual_wh", "{} Wh"),
]


def _section(summary: Mapping[str, object], key: str) -> dict[str, Any]:
    value = summary[key]
    assert isinstance(value, dict)  # noqa: S101 - shape fixed by the accounting step
    return value


def _energy_rows(table: Table, summary: Mapping[str, object]) -> None:
    production = _section(summary, "production_kwh")
    table.add_row("Production", f"{production['total']:,.1f} kWh")
    for source, value in production["by_source"].items():
        if value:
            table.add_row(f"  {source}", f"{value:,.1f} kWh")
    for label, key, fmt in ENERGY_ROWS:
        value = summary.get(key)
        table.add_row(label, "n/a" if value is None else fmt.format(value))
    flagged = _section(summary, "intervals_flagged")
    table.add_row("Intervals over a grid limit", str(flagged["limit_exceeded"]))
    table.add_row("Intervals with missing readings", str(flagged["missing"]))
    cost = _section(summary, "grid_cost")
    table.add_row("Grid cost (import - export)", f"{cost['net_cost']}")


def _market_rows(table: Table, summary: Mapping[str, object]) -> None:
    market = _section(summary, "market")
    table.add_row(
        f"Traded peer to peer ({market['mechanism']})", f"{summary['traded_kwh']:,.1f} kWh"
    )
    price = summary.get("mean_clearing_price")
    table.add_row("  mean price", "n/a" if price is None else f"{price:.4f} /kWh")
    table.add_row("  members' savings vs grid tariff", str(summary["member_savings"]))
    table.add_row("  fees to the community fund", str(summary["fees"]))
    table.add_row("  orders (refused)", f"{market['orders']:,} ({market['orders_rejected']:,})")


def _balancing_rows(table: Table, summary: Mapping[str, object], balancing: dict[str, Any]) -> None:
    peak = balancing["peak_import_kw"]
    table.add_row(
        f"Balancing ({balancing['optimiser']}): peak import",
        f"{peak['before']:,.1f} -> {peak['after']:,.1f} kW",
    )
    cost = balancing["grid_cost"]
    table.add_row("  connection cost, rule -> plan", f"{cost['before']} -> {cost['after']}")
    table.add_row("  saving (stored energy valued)", str(cost["saving"]))
    table.add_row("  islanded", f"{summary['islanded_hours']} h")
    table.add_row("  unserved critical load", f"{summary['unserved_critical_kwh']} kWh")
    table.add_row("  voltage violations (bus-intervals)", str(summary["voltage_violations"]))
    dr = balancing.get("demand_response")
    if isinstance(dr, dict):
        table.add_row(
            "  demand response",
            f"{dr['events']} events, {dr['delivered_kwh']} kWh, "
            f"paid {micros_to_currency(int(dr['paid_micros']))}",
        )
    alerts = balancing["alerts"]
    critical = sum(v.get("critical", 0) for v in alerts.values())
    warnings = sum(v.get("warning", 0) for v in alerts.values())
    table.add_row("  alerts (critical, warning)", f"{critical}, {warnings}")


def _ledger_rows(table: Table, summary: Mapping[str, object]) -> None:
    table.add_row("Intervals committed on chain", f"{summary['commitments']:,}")
    issued = summary.get("certificates_issued_wh")
    assert isinstance(issued, int)  # noqa: S101
    table.add_row("Certificates issued", f"{wh_to_kwh(issued):,.1f} kWh ({issued:,} Wh tokens)")
    verified = summary.get("verified")
    table.add_row("Verified against the chain", "[green]yes[/]" if verified else "[red]NO[/]")


def summary_table(summary: Mapping[str, object]) -> Table:
    """Energy, grid, market, balancing and ledger figures of a run, the sections it has."""
    table = Table(
        title=f"Community {summary['community']} - {summary['start']} to {summary['end']}"
    )
    table.add_column("Quantity")
    table.add_column("Value", justify="right")
    _energy_rows(table, summary)
    if "traded_kwh" in summary:
        _market_rows(table, summary)
    balancing = summary.get("balancing")
    if isinstance(balancing, dict):
        _balancing_rows(table, summary, balancing)
    if "commitments" in summary:
        _ledger_rows(table, summary)
    return table
