"""``gridshare simulate``: a scenario through the full pipeline, with a summary table."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gridshare.balancing.monitor import Alert
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.settings import Settings
from gridshare.simulator.keys import simulation_operator
from gridshare.units import micros_to_currency


class AlertPrinter:
    """Prints a balancing alert when its kind starts (not again while it lasts)."""

    STYLE: ClassVar[dict[str, str]] = {"critical": "bold red", "warning": "yellow"}

    def __init__(self, out: Console, time_zone: str) -> None:
        self.out = out
        self.zone = ZoneInfo(time_zone)
        self._last: dict[str, int] = {}
        self._length = 0

    def __call__(self, alert: Alert) -> None:
        kind = alert.kind.value
        previous = self._last.get(kind)
        self._last[kind] = alert.interval_start_s
        if previous is not None:
            gap = alert.interval_start_s - previous
            if gap > 0 and (self._length == 0 or gap < self._length):
                self._length = gap
            if gap <= self._length:
                return  # the same episode goes on
        when = datetime.fromtimestamp(alert.interval_start_s, self.zone)
        style = self.STYLE[alert.severity.value]
        self.out.print(
            f"[{style}]{alert.severity.value:>8}[/] {when:%a %d %b %H:%M} {alert.message}",
            soft_wrap=True,
        )


def _summary_table(summary: Mapping[str, object]) -> Table:
    table = Table(
        title=f"Community {summary['community']} - {summary['start']} to {summary['end']}"
    )
    table.add_column("Quantity")
    table.add_column("Value", justify="right")
    production = summary["production_kwh"]
    assert isinstance(production, dict)  # noqa: S101 - shape fixed by the accounting step
    table.add_row("Production", f"{production['total']:,.1f} kWh")
    for source, value in production["by_source"].items():
        if value:
            table.add_row(f"  {source}", f"{value:,.1f} kWh")
    rows = [
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
    for label, key, fmt in rows:
        value = summary.get(key)
        table.add_row(label, "n/a" if value is None else fmt.format(value))
    flagged = summary["intervals_flagged"]
    assert isinstance(flagged, dict)  # noqa: S101
    table.add_row("Intervals over a grid limit", str(flagged["limit_exceeded"]))
    table.add_row("Intervals with missing readings", str(flagged["missing"]))
    cost = summary["grid_cost"]
    assert isinstance(cost, dict)  # noqa: S101
    table.add_row("Grid cost (import - export)", f"{cost['net_cost']}")
    if "traded_kwh" in summary:
        market = summary["market"]
        assert isinstance(market, dict)  # noqa: S101
        table.add_row(
            f"Traded peer to peer ({market['mechanism']})", f"{summary['traded_kwh']:,.1f} kWh"
        )
        price = summary.get("mean_clearing_price")
        table.add_row("  mean price", "n/a" if price is None else f"{price:.4f} /kWh")
        table.add_row("  members' savings vs grid tariff", str(summary["member_savings"]))
        table.add_row("  fees to the community fund", str(summary["fees"]))
        table.add_row("  orders (refused)", f"{market['orders']:,} ({market['orders_rejected']:,})")
    balancing = summary.get("balancing")
    if isinstance(balancing, dict):
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
    if "commitments" in summary:
        table.add_row("Intervals committed on chain", f"{summary['commitments']:,}")
        issued = summary.get("certificates_issued_wh")
        assert isinstance(issued, int)  # noqa: S101
        table.add_row("Certificates issued", f"{issued / 1000:,.1f} kWh ({issued:,} Wh tokens)")
        verified = summary.get("verified")
        table.add_row("Verified against the chain", "[green]yes[/]" if verified else "[red]NO[/]")
    return table


def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file, e.g. scenarios/demo.toml")],
    days: Annotated[int | None, typer.Option(help="Override the scenario's number of days")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: DATA_DIR/<community>)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite in the output directory)")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Delete this community's earlier data first")
    ] = False,
    plots: Annotated[bool, typer.Option(help="Write PNG plots")] = True,
    market: Annotated[
        str | None,
        typer.Option(
            help="Market mechanism: pay-as-clear, pay-as-bid, mcafee, cda, excess-auction, "
            "sdr, mid-market or bill-sharing (default: the scenario's)"
        ),
    ] = None,
    ledger: Annotated[
        bool,
        typer.Option(
            help="Run the ledger (embedded chain): commitments, certificates, on-chain "
            "settlement, audit. --no-ledger for fast research runs"
        ),
    ] = True,
    trading: Annotated[bool, typer.Option(help="Run the peer-to-peer market")] = True,
    balancing: Annotated[
        bool,
        typer.Option(
            help="Run balancing: monitor, dispatch plan, demand response, power flow, islanding"
        ),
    ] = True,
    alerts: Annotated[
        bool, typer.Option(help="Print balancing alerts as they start during the run")
    ] = True,
) -> None:
    """Simulate a community through the full pipeline; write summary.json and plots."""
    from gridshare.simulator.run import prepare, run_simulation

    settings = Settings()
    try:
        spec = prepare(scenario, days)
        out_dir = out or settings.data_dir / spec.community.id
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}
            labels = {
                "profiles": "Weather, PV, wind and load profiles",
                "ledger": "Ledger: deploy, register members and devices",
                "intervals": "Pipeline: meter -> store -> commit -> certify -> trade",
                "verify": "Audit: stored readings vs chain roots and certificates",
                "plots": "Plots",
            }

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(labels.get(phase, phase), total=total, rate="")
                if phase == "intervals" and (done % 96 == 0 or done == total):
                    elapsed = time.perf_counter() - started
                    bar.update(
                        tasks[phase], completed=done, rate=f"{done / max(elapsed, 1e-9):,.0f}/s"
                    )
                elif phase != "intervals":
                    bar.update(tasks[phase], completed=done)

            result = run_simulation(
                spec,
                out_dir,
                scenario_name=str(scenario),
                database_url=database_url or settings.database_url,
                replace=replace,
                progress=progress,
                plots=plots,
                operator=(lambda: simulation_operator(out_dir, settings)) if ledger else None,
                market=market,
                trading=trading,
                balancing=balancing,
                on_alert=AlertPrinter(bar.console, spec.community.time_zone) if alerts else None,
            )
        elapsed = time.perf_counter() - started
    except GridshareError as exc:
        raise fail(exc) from None
    console.print(_summary_table(result.summary))
    console.print(f"Summary: {out_dir / 'summary.json'}")
    for path in result.plots:
        console.print(f"Plot:    {path}")
    console.print(f"Store:   {result.database_url}")
    console.print(f"Took {elapsed:.1f} s")
