"""A few midday intervals of the tiny scenario run through the pipeline on in-memory
adapters (store and chains): what the step tests and the store contract test share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from gridshare.app.steps import Chains, Surroundings, Trading, build_steps
from gridshare.ledger.memory import (
    InMemoryBalancingChain,
    InMemoryMarketChain,
    InMemoryMeteringChain,
)
from gridshare.model import Community
from gridshare.pipeline import Pipeline, Store
from gridshare.pipeline.steps import Step
from gridshare.simulator.clock import SimulatedClock
from gridshare.simulator.market import escrow_deposits, trading_agents
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.run import build_simulation, prepare
from gridshare.simulator.source import SimulatedMeterSource

TINY = Path(__file__).parents[2] / "scenarios" / "data" / "tiny.toml"
FIRST_HOUR = 10
"""Local time the run starts, on the scenario's first day (earlier intervals are skipped)."""
INTERVALS = 10


@dataclass
class MemoryRun:
    community: Community
    source: SimulatedMeterSource
    steps: list[Step]
    devices: list[bytes | None]
    metering: InMemoryMeteringChain
    market: InMemoryMarketChain
    balancing: InMemoryBalancingChain

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def run_tiny(
    store: Store,
    intervals: int = INTERVALS,
    first_hour: int = FIRST_HOUR,
    days: int = 1,
    before_run: Callable[[Community], None] | None = None,
    surroundings: Callable[[SimulatedMeterSource, int], Surroundings] | None = None,
) -> MemoryRun:
    """Run ``intervals`` intervals of the tiny scenario from ``first_hour`` (local) into
    ``store``: late morning, when the solar homes export and members trade.
    ``surroundings(source, first_start_s)`` replaces the simulated devices and grid."""
    scenario = prepare(TINY, days=days)
    community, _clock, source, _weather, start, _end = build_simulation(scenario, "tiny")
    first = start + timedelta(hours=first_hour)
    clock = SimulatedClock(first, first + community.interval_length * intervals,
                           community.interval_length)  # fmt: skip
    for skipped in SimulatedClock(start, first, community.interval_length).intervals():
        source.collect(skipped)  # the night: the simulated meters advance in order
    seed = scenario.community.seed
    fleet = SimulatedMeterFleet(community, seed)
    devices: list[bytes | None] = [bytes.fromhex(a[2:]) for a in fleet.addresses]
    agents = trading_agents(community, scenario.market, seed, signed=True)
    deposits = escrow_deposits(community, scenario.market, scenario.simulation.days)
    escrow = {agents[i].maker: amount for i, amount in deposits.items() if i in agents}
    metering, market, balancing = (
        InMemoryMeteringChain(),
        InMemoryMarketChain(),
        InMemoryBalancingChain(),
    )
    chains = Chains(devices, metering, market, balancing)
    steps = build_steps(
        scenario,
        community,
        Surroundings(source, source, source)
        if surroundings is None
        else surroundings(source, int(first.timestamp())),
        trading=Trading(agents, escrow),
        chains=chains,
    )
    if before_run is not None:
        before_run(community)
    Pipeline(community, clock, source, store, steps, run_id="tiny-memory").run()
    return MemoryRun(community, source, steps, devices, metering, market, balancing)
