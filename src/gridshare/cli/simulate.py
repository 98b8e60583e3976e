"""``gridshare simulate``: a scenario through the full pipeline, with a summary table."""

from __future__ import annotations

import time
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

from gridshare.balancing.monitor import Alert
from gridshare.cli.output import console, fail
from gridshare.cli.summary import summary_table
from gridshare.errors import GridshareError
from gridshare.settings import Settings
from gridshare.simulator.keys import simulation_operator


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
    from gridshare.app.simulate import run_simulation
    from gridshare.simulator.run import prepare

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
    console.print(summary_table(result.summary))
    console.print(f"Summary: {out_dir / 'summary.json'}")
    for path in result.plots:
        console.print(f"Plot:    {path}")
    console.print(f"Store:   {result.database_url}")
    console.print(f"Took {elapsed:.1f} s")
