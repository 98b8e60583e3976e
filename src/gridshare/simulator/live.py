"""The live path, driven by the scenario's simulated meters over a real MQTT broker.

``publish_scenario`` is the meter side (``gridshare meters simulate``): each simulated
interval becomes one signed bundle per meter, published to the broker. Timestamps are
re-based so that the intervals lie in the recent past (or, at ``speed`` 1, are published
as they end in real time), because the ingest validator refuses future and stale ones.

``listen`` is the community side (``gridshare meters listen``): subscribe, validate,
store, then close, commit and certify each interval as it completes, on the same
pipeline and steps as ``gridshare simulate``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gridshare.control.mqtt import MqttCommandPublisher, MqttDeviceControl, MqttGridStatus
from gridshare.ingest.http import build_server
from gridshare.ingest.mqtt import BrokerConfig, MqttIngest, MqttPublisher, readings_topic
from gridshare.ingest.service import IngestService, StoredReadingSource
from gridshare.ledger.balancing import BalancingLedger
from gridshare.ledger.chain import open_chain
from gridshare.ledger.deployment import deploy_or_load
from gridshare.ledger.keys import Signer
from gridshare.ledger.metering import MeteringLedger
from gridshare.metering.wire import ReadingBundle, encode_bundle
from gridshare.model import Battery, DispatchableGenerator, DispatchMode, ReadingBatch
from gridshare.pipeline import JsonValue, Pipeline
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.pipeline.live import IngestClock
from gridshare.pipeline.metering_steps import CertificationStep, CommitmentStep
from gridshare.pipeline.steps import Step
from gridshare.simulator.balancing import (
    CommunityBalancingChain,
    build_balancing,
    enrolments,
    flexibility_budget,
)
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.onchain import onboard, participant_accounts
from gridshare.simulator.run import build_simulation, simulation_window
from gridshare.simulator.scenario import Scenario
from gridshare.storage import open_store
from gridshare.units import Interval, from_unix_seconds

Progress = Callable[[str, int, int], None]


def rebased_start_s(scenario: Scenario, intervals: int, speed: float, now_s: float) -> int:
    """First published interval: ends now at real time, else ``intervals`` before now."""
    length = scenario.simulation.interval_minutes * 60
    aligned = int(now_s) // length * length
    return aligned if speed == 1 else aligned - intervals * length


def scenario_bundles(
    scenario: Scenario, first_start_s: int
) -> Iterator[tuple[int, int, list[ReadingBundle]]]:
    """(interval index, count, signed bundles) of every simulated interval, re-based to
    start at ``first_start_s``."""
    community, clock, source, _w, _s, _e = build_simulation(scenario)
    fleet = SimulatedMeterFleet(community, scenario.community.seed)
    length = int(community.interval_length.total_seconds())
    for k, interval in enumerate(clock.intervals()):
        batch = source.collect(interval)
        shifted = Interval(from_unix_seconds(first_start_s + k * length), community.interval_length)
        rebased = ReadingBatch(
            shifted, batch.meter_index, batch.import_wh, batch.export_wh, batch.stored_wh
        )
        yield k, clock.count, fleet.bundles(rebased)


def publish_scenario(
    scenario: Scenario,
    broker: BrokerConfig,
    *,
    speed: float = 0.0,
    progress: Progress | None = None,
    now: Callable[[], float] = time.time,
    max_rate: float = 3_000.0,
) -> int:
    """Publish every simulated interval's signed readings; returns readings published.

    ``speed`` 0 publishes as fast as ``max_rate`` (messages per second; 0: no limit)
    allows; 1 is real time (each interval when it ends); N is N times real time. The
    rate limit matters with a broker's default per-subscriber queue (Mosquitto: 1,000
    messages), which drops what a burst puts beyond it.
    """
    length = scenario.simulation.interval_minutes * 60
    window_start, window_end = simulation_window(scenario)
    count = int((window_end - window_start).total_seconds()) // length
    first = rebased_start_s(scenario, count, speed, now())
    publisher = MqttPublisher(broker)
    published = 0
    started = now()
    try:
        for k, total, bundles in scenario_bundles(scenario, first):
            if speed > 0:
                due = (
                    (first + (k + 1) * length) if speed == 1 else started + (k + 1) * length / speed
                )
                while (wait := due - now()) > 0:
                    time.sleep(min(wait, 1.0))
            publisher.publish_many(
                [
                    (readings_topic(scenario.community.id, b.meter_id), encode_bundle(b))
                    for b in bundles
                ]
            )
            published += len(bundles)
            if progress:
                progress("publish", k + 1, total)
            # keep within the broker's per-client queue (Mosquitto: 1,000 by default)
            publisher.flush()
    finally:
        publisher.close()
    return published


@dataclass
class ListenResult:
    summary: dict[str, JsonValue]
    out_dir: Path
    database_url: str


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
    community, _clock, _source, _w, _s, _e = build_simulation(scenario)
    fleet = SimulatedMeterFleet(community, scenario.community.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{out_dir / 'gridshare.sqlite'}"
    store = open_store(url)
    ingest_store = open_store(url)
    connection = open_chain(out_dir, operator)
    try:
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        ingest_store.register_community(community)
        deployment = deploy_or_load(
            connection.transactions,
            out_dir,
            interval_length_s=int(community.interval_length.total_seconds()),
        )
        ledger = MeteringLedger(connection.transactions, deployment)
        onboard(community, fleet, ledger, scenario.community.seed)
        devices: list[bytes | None] = [bytes.fromhex(a[2:]) for a in fleet.addresses]
        # suspensions come from the registry; intervals already committed stay closed
        by_device = {
            bytes.fromhex(a[2:]): m.meter_id
            for m, a in zip(community.meters, fleet.addresses, strict=True)
        }
        inactive = {by_device[d] for d in ledger.inactive_devices(list(by_device))}
        committed_end = ledger.last_committed_end() or 0
        service = IngestService.for_store(
            ingest_store, inactive=inactive, closed_before_s=max(first_start_s, committed_end)
        )
        subscriber = None
        if mqtt:
            subscriber = MqttIngest(service, community.community_id, broker, client_id=client_id)
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
        accounting = EnergyAccountingStep(community)
        steps: list[Step] = [
            accounting,
            CommitmentStep(community, devices, ledger),
            CertificationStep(community, devices, ledger),
        ]
        run_id = f"{community.community_id}-live-{first_start_s}"
        # balancing: setpoints and demand-response events go out over MQTT, the grid's
        # state comes in over MQTT, actions are recorded on GridBalancing
        interval_s = int(community.interval_length.total_seconds())
        publisher = MqttCommandPublisher(
            broker, community.community_id, enrolments(scenario, community)
        )
        publisher.start()
        controlled = [
            a
            for a in community.assets
            if isinstance(a, Battery)
            or (
                isinstance(a, DispatchableGenerator) and a.dispatch_mode is DispatchMode.FOLLOW_LOAD
            )
        ]
        position = {p.participant_id: i for i, p in enumerate(community.participants)}
        control = MqttDeviceControl(
            publisher, interval_s, {a.asset_id: position[a.participant_id] for a in controlled}
        )
        grid = MqttGridStatus(broker, community.community_id)
        grid.start()
        balancing_ledger = BalancingLedger(connection.transactions, deployment)
        balancing_ledger.fund(flexibility_budget(scenario), reference=f"{run_id}/flexibility")
        accounts = participant_accounts(
            community, scenario.community.seed, connection.transactions.signer.address
        )
        steps.append(
            build_balancing(
                scenario,
                community,
                accounting,
                control,
                grid,
                channel=publisher,
                chain=CommunityBalancingChain(
                    balancing_ledger,
                    {i: accounts[p.participant_id] for i, p in enumerate(community.participants)},
                ),
            )
        )
        done = [0]

        def closed(_c: object) -> None:
            done[0] += 1
            # follow suspensions made on chain while running
            service.set_inactive({by_device[d] for d in ledger.inactive_devices(list(by_device))})
            if on_interval:
                on_interval(done[0])

        store.begin_run(run_id, community.community_id, "live", scenario.community.seed)
        pipeline = Pipeline(
            community, clock, StoredReadingSource(service), store, steps, run_id=run_id,
            on_interval=closed,
        )  # fmt: skip
        try:
            report = pipeline.run()
        finally:
            publisher.close()
            grid.close()
            if subscriber is not None:
                subscriber.stop()
            if server is not None:
                server.should_exit = True
        summary: dict[str, JsonValue] = {
            "community": community.community_id,
            "pipeline": report.as_json(),
            "ingest": service.counts.as_json(),  # type: ignore[dict-item]
            "closed_complete": clock.closed_complete,
            "closed_overdue": clock.closed_overdue,
            **pipeline.summary(),
        }
        store.finish_run(run_id, "finished", summary)
        return ListenResult(summary, out_dir, url)
    finally:
        connection.close()
        ingest_store.close()
        store.close()
