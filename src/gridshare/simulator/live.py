"""The live path, driven by the scenario's simulated meters over a real MQTT broker.

``publish_scenario`` is the meter side (``gridshare meters simulate``): each simulated
interval becomes one signed bundle per meter, published to the broker. Timestamps are
re-based so that the intervals lie in the recent past (or, at ``speed`` 1, are published
as they end in real time), because the ingest validator refuses future and stale ones.

The community side (``gridshare meters listen``) is :func:`gridshare.app.live.listen`:
subscribe, validate, store, then run each interval through the same steps as
``gridshare simulate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gridshare.ingest.mqtt import BrokerConfig, MqttPublisher, readings_topic
from gridshare.market.agents import TradingAgent
from gridshare.metering.wire import ReadingBundle, encode_bundle
from gridshare.model import Community, ReadingBatch
from gridshare.simulator.market import escrow_deposits, trading_agents
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.onchain import participant_accounts
from gridshare.simulator.run import build_simulation, simulation_window
from gridshare.simulator.scenario import Scenario
from gridshare.units import SECONDS_PER_MINUTE, Interval, from_unix_seconds

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SimulatedMembers:
    """The scenario's members as a live node sees them: each meter's device address (in
    meter order), each participant's account, their trading agents and escrow. Every key
    is derived from the scenario's seed: for demonstrations only."""

    devices: list[bytes]
    accounts: dict[str, str]
    agents: dict[int, TradingAgent]
    escrow_micros: dict[bytes, int]
    seed: int


def simulated_members(
    scenario: Scenario, community: Community, operator_address: str
) -> SimulatedMembers:
    """The simulated members of ``scenario`` (the operator participant is the chain's
    operator, ``operator_address``)."""
    seed = scenario.community.seed
    fleet = SimulatedMeterFleet(community, seed)
    agents = trading_agents(community, scenario.market, seed)
    deposits = escrow_deposits(community, scenario.market, scenario.simulation.days)
    return SimulatedMembers(
        [bytes.fromhex(a[2:]) for a in fleet.addresses],
        participant_accounts(community, seed, operator_address),
        agents,
        {agents[i].maker: amount for i, amount in deposits.items()},
        seed,
    )


def rebased_start_s(scenario: Scenario, intervals: int, speed: float, now_s: float) -> int:
    """First published interval: ends now at real time, else ``intervals`` before now."""
    length = scenario.simulation.interval_minutes * SECONDS_PER_MINUTE
    aligned = int(now_s) // length * length
    return aligned if speed == 1 else aligned - intervals * length


def scenario_bundles(
    scenario: Scenario, first_start_s: int, fleet: SimulatedMeterFleet | None = None
) -> Iterator[tuple[int, int, list[ReadingBundle]]]:
    """(interval index, count, signed bundles) of every simulated interval, re-based to
    start at ``first_start_s``, signed by ``fleet`` (default: the scenario's simulated
    device keys)."""
    community, clock, source, _w, _s, _e = build_simulation(scenario)
    fleet = fleet or SimulatedMeterFleet(community, scenario.community.seed)
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
    length = scenario.simulation.interval_minutes * SECONDS_PER_MINUTE
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
