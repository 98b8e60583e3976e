"""``gridshare meters``: the live metering path, demonstrated with simulated meters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.units import SECONDS_PER_MINUTE

meters_app = typer.Typer(help="Meters over MQTT: publish simulated meters, run the live pipeline.")
BROKER_HELP = "MQTT broker URL: mqtt://[user:pass@]host[:port] or mqtts:// for TLS"


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip


@meters_app.command("simulate")
def simulate_meters(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file")],
    broker: Annotated[str, typer.Option(help=BROKER_HELP)] = "mqtt://127.0.0.1:1883",
    days: Annotated[int | None, typer.Option(help="Override the scenario's days")] = None,
    speed: Annotated[
        float, typer.Option(help="0: as fast as possible; 1: real time; N: N x real time")
    ] = 0.0,
    ca_certs: Annotated[str | None, typer.Option(help="CA bundle for mqtts://")] = None,
    max_rate: Annotated[
        float, typer.Option(help="Messages per second at most (0: no limit)")
    ] = 3_000.0,
) -> None:
    """Publish the scenario's meters' signed readings to the broker (rebased to now)."""
    from gridshare.ingest.mqtt import BrokerConfig
    from gridshare.simulator.live import publish_scenario
    from gridshare.simulator.run import prepare

    try:
        spec = prepare(scenario, days)
        started = time.perf_counter()
        with _bar() as bar:
            task = bar.add_task("Publishing intervals", total=None)

            def progress(_phase: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            count = publish_scenario(
                spec,
                BrokerConfig.from_url(broker, ca_certs),
                speed=speed,
                progress=progress,
                max_rate=max_rate,
            )
    except GridshareError as exc:
        raise fail(exc) from None
    elapsed = time.perf_counter() - started
    console.print(f"Published {count:,} signed readings in {elapsed:.1f} s")


@meters_app.command("listen")
def listen_meters(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file (community and devices)")],
    out: Annotated[Path, typer.Option(help="Directory for the store and the embedded chain")],
    intervals: Annotated[int, typer.Option(help="Intervals to close before stopping")],
    start: Annotated[
        str | None, typer.Option(help="First interval start, ISO 8601 (default: now - intervals)")
    ] = None,
    broker: Annotated[str, typer.Option(help=BROKER_HELP)] = "mqtt://127.0.0.1:1883",
    grace_s: Annotated[float, typer.Option(help="Close an incomplete interval this late")] = 60.0,
    ca_certs: Annotated[str | None, typer.Option(help="CA bundle for mqtts://")] = None,
    http_port: Annotated[
        int | None, typer.Option(help="Also accept HTTP batches: POST /v1/readings on this port")
    ] = None,
    api_token: Annotated[
        str | None, typer.Option(envvar="GRIDSHARE_API_TOKEN", help="Bearer token for HTTP")
    ] = None,
) -> None:
    """Ingest readings from the broker (and HTTP); close, commit and certify each interval."""
    import json

    from gridshare.app.live import listen
    from gridshare.ingest.mqtt import BrokerConfig
    from gridshare.settings import Settings
    from gridshare.simulator.keys import simulation_operator
    from gridshare.simulator.live import rebased_start_s
    from gridshare.simulator.run import prepare
    from gridshare.units import parse_utc_seconds

    try:
        spec = prepare(scenario)
        first = (
            parse_utc_seconds(start) if start else rebased_start_s(spec, intervals, 0, time.time())
        )
        length = spec.simulation.interval_minutes * SECONDS_PER_MINUTE
        if first % length:
            raise GridshareError(
                f"--start {start}: interval starts are multiples of {length} s since the epoch"
            )
        with _bar() as bar:
            task = bar.add_task("Intervals closed, committed, certified", total=intervals)
            result = listen(
                spec,
                BrokerConfig.from_url(broker, ca_certs),
                out,
                simulation_operator(out, Settings()),
                first_start_s=first,
                intervals=intervals,
                grace_s=grace_s,
                on_interval=lambda done: bar.update(task, completed=done),
                http_port=http_port,
                api_token=api_token,
            )
    except GridshareError as exc:
        raise fail(exc) from None
    (out / "summary.json").write_text(
        json.dumps(result.summary.as_json(), indent=2) + "\n", "utf-8"
    )
    console.print_json(json.dumps(result.summary.as_json()))
