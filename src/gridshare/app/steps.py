"""The one step list of every run: accounting, commitment, certification, market,
balancing, wired the same way whether the world around them is simulated or live."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from gridshare.balancing.demand_response import EventChannel, EventKind
from gridshare.balancing.monitor import Alert
from gridshare.market.agents import TradingAgent
from gridshare.market.clearing import MECHANISMS
from gridshare.market.orders import OrderBook, domain_separator
from gridshare.model import Community
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.pipeline.balancing_step import BalancingChain, BalancingStep
from gridshare.pipeline.demand_response import DemandResponseDesk, DemandResponseOptions
from gridshare.pipeline.market_step import MarketChain, MarketStep
from gridshare.pipeline.metering_steps import CertificationStep, CommitmentStep, MeteringChain
from gridshare.pipeline.ports import DeviceControl, GridStatus
from gridshare.pipeline.steps import Step
from gridshare.simulator.balancing import (
    CommunityBalancingChain,
    ScaledNetwork,
    balancing_options,
    build_network,
    enrolments,
)
from gridshare.simulator.market import market_rules
from gridshare.simulator.scenario import Scenario, ScenarioError
from gridshare.units import SECONDS_PER_HOUR, currency_to_micros

__all__ = ["Chains", "Surroundings", "Trading", "build_steps"]


@dataclass(frozen=True)
class Surroundings:
    """What the balancing step acts on and listens to: simulated devices and grid, or
    MQTT/OpenADR in the field."""

    control: DeviceControl
    grid: GridStatus
    channel: EventChannel | None = None
    network: ScaledNetwork | None = None
    on_alert: Callable[[Alert], None] | None = None


@dataclass(frozen=True)
class Trading:
    """Who trades: the members' agents (by participant position) and their escrow."""

    agents: Mapping[int, TradingAgent]
    escrow_micros: Mapping[bytes, int]
    mechanism: str | None = None
    """A name from :data:`gridshare.market.clearing.MECHANISMS`; the scenario's if None."""
    signed: bool = True
    accounts: Mapping[bytes, int] = field(default_factory=dict)
    """Members' accounts (participant position by address) that trade through the API,
    with orders they sign themselves (the node's members)."""


@dataclass(frozen=True)
class Chains:
    """The community's contracts, when the run has a ledger."""

    devices: Sequence[bytes | None]
    metering: MeteringChain
    market: MarketChain | None
    balancing: BalancingChain | None


def build_steps(
    scenario: Scenario,
    community: Community,
    surroundings: Surroundings,
    *,
    trading: Trading | None,
    chains: Chains | None,
    balancing: bool = True,
    flush_every: int = 1,
) -> list[Step]:
    """The steps of a run, in the order their inputs require (checked by the loop)."""
    steps: list[Step] = [EnergyAccountingStep(community)]
    if chains is not None:
        steps += [
            CommitmentStep(community, chains.devices, chains.metering, flush_every=flush_every),
            CertificationStep(community, chains.devices, chains.metering, flush_every=flush_every),
        ]
    if trading is not None:
        steps.append(_market_step(scenario, community, surroundings, trading, chains, flush_every))
    if balancing:
        steps.append(
            _balancing_step(
                scenario,
                community,
                surroundings,
                chain=chains.balancing if chains else None,
                market=trading is not None,
                flush_every=flush_every,
            )
        )
    return steps


def _market_step(
    scenario: Scenario,
    community: Community,
    surroundings: Surroundings,
    trading: Trading,
    chains: Chains | None,
    flush_every: int,
) -> MarketStep:
    spec = scenario.market
    name = trading.mechanism or spec.mechanism
    if name not in MECHANISMS:
        raise ScenarioError(
            f"unknown market mechanism {name!r}; choose from {', '.join(MECHANISMS)}"
        )
    chain = chains.market if chains else None
    signed = trading.signed or chain is not None  # a run with a chain always signs
    # without a ledger, orders are signed for an off-chain domain (chain id 0, no contract)
    domain = chain.domain if chain is not None else domain_separator(0, bytes(20))
    rules = market_rules(spec, int(community.interval_length.total_seconds()))
    book = OrderBook(
        rules,
        domain,
        frozenset(trading.escrow_micros),
        dict(trading.escrow_micros),
        require_signatures=signed,
    )
    return MarketStep(
        community,
        MECHANISMS[name],
        rules,
        book,
        trading.agents,
        accounts=trading.accounts,
        chain=chain,
        flush_every=flush_every,
        settlement=spec.settlement,
        grid_status=surroundings.grid,
    )


def _balancing_step(
    scenario: Scenario,
    community: Community,
    surroundings: Surroundings,
    *,
    chain: BalancingChain | None,
    market: bool,
    flush_every: int,
) -> BalancingStep:
    options = balancing_options(scenario, community)
    spec = scenario.balancing.demand_response
    desk = None
    enrolled = enrolments(scenario, community)
    if spec.enabled and enrolled and surroundings.channel is not None:
        interval_s = int(community.interval_length.total_seconds())
        offset = ZoneInfo(scenario.community.time_zone).utcoffset(
            datetime.combine(scenario.simulation.start, time(12))
        )
        desk = DemandResponseDesk(
            len(community.participants),
            interval_s,
            enrolled,
            surroundings.channel,
            DemandResponseOptions(
                rate_micros_per_kwh=currency_to_micros(spec.rate_per_kwh),
                max_intervals=max(1, round(spec.event_hours * SECONDS_PER_HOUR / interval_s)),
                kind=EventKind(spec.kind),
                utc_offset_s=int(offset.total_seconds()) if offset else 0,
            ),
            chain=chain if isinstance(chain, CommunityBalancingChain) else None,
            participant_ids=[p.participant_id for p in community.participants],
        )
    network = surroundings.network
    return BalancingStep(
        community,
        options,
        control=surroundings.control,
        grid=surroundings.grid,
        market=market,
        network=network if network is not None else build_network(scenario, community),
        chain=chain,
        on_alert=surroundings.on_alert,
        flush_every=flush_every,
        demand_response=desk,
    )
