"""``gridshare demo``: the community node, driven live by the demo community over the wire."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridshare.cli.output import console, fail
from gridshare.cli.summary import summary_table
from gridshare.errors import GridshareError
from gridshare.settings import Settings
from gridshare.simulator.keys import simulation_operator

DEFAULT_SCENARIO = Path("scenarios/demo.toml")


def demo(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML file (default: scenarios/demo.toml)")
    ] = DEFAULT_SCENARIO,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Simulated days to run, then print the summary (default: the scenario's)"
        ),
    ] = None,
    day_s: Annotated[
        float,
        typer.Option(
            min=0.0, help="Wall-clock seconds per simulated day (0: as fast as the node goes)"
        ),
    ] = 60.0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The node's data directory, started afresh (default: DATA_DIR/<id>-live)"
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="HTTP address of the node")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the node")] = 8080,
    serve: Annotated[
        bool | None,
        typer.Option(
            help="After the last simulated interval, keep serving the API until Ctrl-C "
            "(default: unless --days bounds the run)"
        ),
    ] = None,
) -> None:
    """Start the node and drive it live with a simulated community: its meters post signed
    readings over HTTP, the node trades, certifies and balances them on its ledger, and the
    REST API serves members, operator and auditor meanwhile."""
    from gridshare.api.app import create_app as create_api
    from gridshare.app.demo import DemoOptions, run_demo
    from gridshare.app.serve import stopping_on_signals
    from gridshare.simulator.run import prepare

    settings = Settings()
    stop = threading.Event()
    linger = days is None if serve is None else serve
    try:
        spec = prepare(scenario, days)
        out_dir = out or settings.data_dir / f"{spec.community.id}-live"
        docs = f"http://{host}:{port}/v1/docs"
        options = DemoOptions(
            out_dir,
            port,
            host,
            day_s=day_s,
            linger=linger,
            api=lambda ports: create_api(
                ports.store,
                settings.model_copy(update={"data_dir": out_dir}),
                chain_id=ports.chain_id,
                market=ports.market,
                shutdown=ports.stop,  # streams end before the server stops
                verifier=ports.verifier,
                chain=ports.chain,
                configuration=ports.configuration,
            ),
        )
        with (
            stopping_on_signals(stop),
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar,
        ):
            task = bar.add_task("Live: meters -> node -> trade, certify, balance", total=None)

            def ready() -> None:
                console.print(f"gridshare node on http://{host}:{port}: API docs at {docs}")

            def closed(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)
                if done == total and linger:
                    console.print(f"all {total} intervals closed; still serving {docs} (Ctrl-C)")

            result = run_demo(
                spec,
                str(scenario),
                simulation_operator(out_dir, settings),
                options,
                stop=stop,
                on_ready=ready,
                on_interval=closed,
            )
    except GridshareError as exc:
        raise fail(exc) from None
    summary = result.node.summary
    (out_dir / "summary.json").write_text(
        json.dumps(summary.as_json(), indent=2) + "\n", encoding="utf-8"
    )
    console.print(summary_table(summary))
    console.print(f"Summary: {out_dir / 'summary.json'}")
    for path in result.plots:
        console.print(f"Plot:    {path}")
