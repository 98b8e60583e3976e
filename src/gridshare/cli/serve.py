"""``gridshare serve``: run the community node until stopped."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from gridshare.cli.keys import operator
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.settings import Settings


def serve(
    community: Annotated[
        Path, typer.Argument(help="Community file (the scenario format: members, assets, meters)")
    ],
    registry: Annotated[
        Path,
        typer.Option(
            help="TOML of addresses only: table accounts (member id = address), "
            "table devices (meter id = address)"
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Store, embedded chain and keys (default: GRIDSHARE_DATA_DIR)"),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="HTTP address (default: GRIDSHARE_HTTP_HOST)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default: GRIDSHARE_HTTP_PORT, 8080)")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="First interval, ISO 8601, for a store that has closed none "
            "(default: the interval in progress); later starts resume from the store"
        ),
    ] = None,
    grace_s: Annotated[
        float, typer.Option(help="Close an interval this many seconds after it ends")
    ] = 60.0,
) -> None:
    """Run the community node: ingest, the interval pipeline, market, balancing, ledger.

    HTTP ingest always (POST /v1/readings); MQTT when GRIDSHARE_MQTT_URL names a broker;
    PostgreSQL and an EVM node with GRIDSHARE_DATABASE_URL and GRIDSHARE_CHAIN_URL. The
    operator key comes from the keystore (password: GRIDSHARE_KEY_PASSWORD or a prompt).
    Stop it with SIGTERM or Ctrl-C; restarting resumes where it left off.
    """
    from gridshare.api.app import create_app as create_api
    from gridshare.app.node import NodeOptions
    from gridshare.app.registrations import CommunityFile
    from gridshare.app.serve import serve as run
    from gridshare.ingest.mqtt import BrokerConfig
    from gridshare.simulator.run import prepare
    from gridshare.units import parse_utc_seconds

    try:
        settings = Settings()
        stop = threading.Event()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})
        community_file = CommunityFile(prepare(community))  # checks registrations sent to the API
        options = NodeOptions(
            settings.data_dir,
            database_url=settings.database_url,
            chain_url=settings.chain_url,
            broker=BrokerConfig.from_url(settings.mqtt_url) if settings.mqtt_url else None,
            client_id=settings.mqtt_client_id,
            http_port=port if port is not None else settings.http_port,
            http_host=host or settings.http_host,
            api_token=settings.api_token,
            first_start_s=parse_utc_seconds(start) if start else None,
            grace_s=grace_s,
            kind="serve",
            # the run's stop event also ends the API's live streams: a stopping server
            # waits for open responses, so they must end first
            api=lambda ports: create_api(
                ports.store,
                settings,
                chain_id=ports.chain_id,
                market=ports.market,
                shutdown=ports.stop,
                verifier=ports.verifier,
                chain=ports.chain,
                configuration=ports.configuration,
                community_file=community_file,
            ),
        )

        def ready() -> None:
            console.print(
                f"gridshare node serving on http://{options.http_host}:{options.http_port} "
                f"(data in {options.data_dir}); SIGTERM or Ctrl-C stops it"
            )

        def closed(done: int) -> None:
            console.print(f"interval closed ({done} since start)")

        def changed(participants: list[str], changes: int) -> None:
            if participants:
                console.print(f"joined the community (approved): {', '.join(participants)}")
            if changes:
                console.print(f"configuration changed by the operator ({changes} change(s))")

        result = run(
            community,
            registry,
            lambda: operator(settings, create=True),
            options,
            stop=stop,
            on_ready=ready,
            on_interval=closed,
            on_change=changed,
        )
    except GridshareError as exc:
        raise fail(exc) from None
    console.print(
        f"stopped: {result.summary.pipeline.intervals} intervals closed by run {result.run_id}"
    )
