"""``gridshare meters listen``: the live pipeline on real ingest, with the same steps as a
simulation.

Readings arrive signed over MQTT and/or HTTP and are validated and stored on arrival;
the ingest clock closes each interval when every meter reported or it is overdue; the
steps (accounting, commitment, certification, market, balancing) run on what the store
holds. Setpoints and demand-response events go out over MQTT and the main grid's state
comes in over MQTT. The community's members are still the scenario's simulated ones:
their meters publish with the simulated fleet's device keys and their trading agents
sign with simulated account keys (members with their own keys come with the node).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uvicorn import Server

from gridshare.app.ledger import connect_ledger
from gridshare.app.steps import Surroundings, Trading, build_steps
from gridshare.control.mqtt import MqttCommandPublisher, MqttDeviceControl, MqttGridStatus
from gridshare.control.mqtt.messages import relay_device_id
from gridshare.ingest.clock import IngestClock
from gridshare.ingest.http import build_server
from gridshare.ingest.mqtt import BrokerConfig, MqttIngest
from gridshare.ingest.service import IngestService, StoredReadingSource
from gridshare.ledger.keys import Signer
from gridshare.model import Battery, Community, DispatchableGenerator, DispatchMode, Role
from gridshare.model.summary import LiveFacts, RunSummary
from gridshare.pipeline import Pipeline
from gridshare.simulator.balancing import enrolments
from gridshare.simulator.market import escrow_deposits, trading_agents
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.run import scenario_community
from gridshare.simulator.scenario import Scenario
from gridshare.storage import open_store

__all__ = ["ListenResult", "listen"]


def _relays(community: Community) -> dict[int, str]:
    """Each member's connection relay (the operator has none), by participant position."""
    return {
        i: relay_device_id(p.participant_id)
        for i, p in enumerate(community.participants)
        if p.role is not Role.OPERATOR
    }


@dataclass
class ListenResult:
    summary: RunSummary
    out_dir: Path
    database_url: str


def _controlled_devices(community: Community) -> dict[str, int]:
    """Batteries and load-following plants, by asset id, to their owner's position."""
    position = {p.participant_id: i for i, p in enumerate(community.participants)}
    return {
        a.asset_id: position[a.participant_id]
        for a in community.assets
        if isinstance(a, Battery)
        or (isinstance(a, DispatchableGenerator) and a.dispatch_mode is DispatchMode.FOLLOW_LOAD)
    }


@dataclass
class _Ingress:
    """Where signed readings come in: the MQTT subscriber and/or the HTTP server."""

    subscriber: MqttIngest | None
    server: Server | None

    @classmethod
    def start(
        cls,
        service: IngestService,
        community_id: str,
        broker: BrokerConfig,
        client_id: str | None,
        http_port: int | None,
        http_host: str,
        api_token: str | None,
        *,
        mqtt: bool,
    ) -> _Ingress:
        subscriber = None
        if mqtt:
            subscriber = MqttIngest(service, community_id, broker, client_id=client_id)
            subscriber.start()
        server = None
        if http_port is not None:
            server = build_server(
                service, http_host, http_port, api_token=api_token, log_level="warning"
            )
            threading.Thread(target=server.run, name="http-ingest", daemon=True).start()
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.01)
        return cls(subscriber, server)

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.stop()
        if self.server is not None:
            self.server.should_exit = True


@dataclass
class _Field:
    """The devices and the grid in the field: setpoints and demand-response events go out
    over MQTT, the main grid's state comes in over MQTT."""

    publisher: MqttCommandPublisher
    control: MqttDeviceControl
    grid: MqttGridStatus

    @classmethod
    def start(cls, scenario: Scenario, community: Community, broker: BrokerConfig) -> _Field:
        interval_s = int(community.interval_length.total_seconds())
        publisher = MqttCommandPublisher(
            broker, community.community_id, enrolments(scenario, community)
        )
        publisher.start()
        control = MqttDeviceControl(
            publisher, interval_s, _controlled_devices(community), _relays(community)
        )
        grid = MqttGridStatus(broker, community.community_id)
        grid.start()
        return cls(publisher, control, grid)

    def close(self) -> None:
        self.publisher.close()
        self.grid.close()


def listen(
    scenario: Scenario,
    broker: BrokerConfig,
    out_dir: Path,
    operator: Signer,
    *,
    first_start_s: int,
    intervals: int,
    grace_s: float = 60.0,
    database_url: str | None = None,
    stop: threading.Event | None = None,
    on_interval: Callable[[int], None] | None = None,
    client_id: str | None = None,
    on_ready: Callable[[], None] | None = None,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    api_token: str | None = None,
    mqtt: bool = True,
) -> ListenResult:
    """Run the live pipeline for ``intervals`` intervals from ``first_start_s``.

    Readings arrive over MQTT (unless ``mqtt`` is False) and, with ``http_port``, also as
    HTTP batches (``POST /v1/readings``); both feed the same ingest service.
    """
    community = scenario_community(scenario)
    seed = scenario.community.seed
    fleet = SimulatedMeterFleet(community, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{out_dir / 'gridshare.sqlite'}"
    run_id = f"{community.community_id}-live-{first_start_s}"
    agents = trading_agents(community, scenario.market, seed)
    deposits = escrow_deposits(community, scenario.market, scenario.simulation.days)
    members = Trading(agents, {agents[i].maker: amount for i, amount in deposits.items()})
    store = open_store(url)
    ingest_store = open_store(url)
    ledger = connect_ledger(
        scenario,
        community,
        fleet,
        out_dir,
        operator,
        run_id=run_id,
        escrow_micros=members.escrow_micros,
    )
    try:
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        ingest_store.register_community(community)
        # suspensions come from the registry; intervals already committed stay closed
        by_device = {
            bytes.fromhex(a[2:]): m.meter_id
            for m, a in zip(community.meters, fleet.addresses, strict=True)
        }
        metering = ledger.metering
        service = IngestService.for_store(
            ingest_store,
            inactive={by_device[d] for d in metering.inactive_devices(list(by_device))},
            closed_before_s=max(first_start_s, metering.last_committed_end() or 0),
        )
        ingress = _Ingress.start(
            service, community.community_id, broker, client_id, http_port,
            http_host, api_token, mqtt=mqtt,
        )  # fmt: skip
        if on_ready is not None:
            on_ready()
        clock = IngestClock(
            service,
            first_start_s,
            community.interval_length,
            len(community.meters),
            grace_s=grace_s,
            stop=stop,
            max_intervals=intervals,
        )
        field = _Field.start(scenario, community, broker)
        steps = build_steps(
            scenario,
            community,
            Surroundings(field.control, field.grid, field.publisher),
            trading=members,
            chains=ledger.chains,
        )
        done = [0]

        def closed(_c: object) -> None:
            done[0] += 1
            # follow suspensions made on chain while running
            service.set_inactive({by_device[d] for d in metering.inactive_devices(list(by_device))})
            if on_interval:
                on_interval(done[0])

        store.begin_run(run_id, community.community_id, "live", seed)
        pipeline = Pipeline(
            community, clock, StoredReadingSource(service), store, steps, run_id=run_id,
            on_interval=closed,
        )  # fmt: skip
        try:
            report = pipeline.run()
        finally:
            field.close()
            ingress.close()
        live = LiveFacts(service.counts.figures(), clock.closed_complete, clock.closed_overdue)
        summary = RunSummary(community.community_id, report, pipeline.summaries(), live=live)
        store.finish_run(run_id, "finished", summary)
        return ListenResult(summary, out_dir, url)
    finally:
        ledger.close()
        ingest_store.close()
        store.close()
