"""The simulated community's market: every member trades through its own agent.

Each non-operator member gets a trading agent with the member's deterministic account key
(the one registered on chain) and a strategy drawn from the scenario's ``[market]``
fractions, varied per member with the community's seed, and deposits the scenario's
escrow. The market step is the same one live operation runs.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

import numpy as np

from gridshare.market.agents import Strategy, TradingAgent
from gridshare.market.clearing import MECHANISMS
from gridshare.market.orders import MarketRules, OrderBook, address_of
from gridshare.model import Category, Community, Role
from gridshare.pipeline.market_step import FlowSource, MarketChain, MarketStep
from gridshare.simulator.meters import simulated_device_key
from gridshare.simulator.scenario import MarketSpec, ScenarioError

MICROS = Decimal(1_000_000)


def _micros(value: Decimal) -> int:
    return int((value * MICROS).to_integral_value())


def market_rules(spec: MarketSpec, interval_s: int) -> MarketRules:
    return MarketRules(
        interval_s=interval_s,
        min_price=_micros(spec.min_price_per_kwh),
        max_price=_micros(spec.max_price_per_kwh),
        fee_per_kwh=_micros(spec.fee_per_kwh),
        fee_bps=round(spec.fee_percent * 100),
    )


def member_keys(community: Community, seed: int) -> dict[int, bytes]:
    """The account key of every non-operator participant (by position)."""
    return {
        i: simulated_device_key(community.community_id, seed, f"participant:{p.participant_id}")
        for i, p in enumerate(community.participants)
        if p.role is not Role.OPERATOR
    }


def escrow_deposits(community: Community, spec: MarketSpec, days: int) -> dict[int, int]:
    """What each member deposits at the start (micro-units), scaled to the run's length
    (the scenario's amounts are per week)."""
    weeks = Decimal(max(days, 7)) / 7
    out = {}
    for i, p in enumerate(community.participants):
        if p.role is Role.OPERATOR:
            continue
        per_week = (
            spec.escrow_per_commercial_member
            if p.category is Category.COMMERCIAL
            else spec.escrow_per_member
        )
        out[i] = _micros(per_week * weeks)
    return out


def build_market(
    community: Community,
    spec: MarketSpec,
    seed: int,
    flows: FlowSource,
    domain: bytes,
    deposits: dict[int, int],
    *,
    mechanism: str | None = None,
    chain: MarketChain | None = None,
    flush_every: int = 1,
    signed: bool = True,
) -> MarketStep:
    """The market step of a simulated community (``signed``: agents sign their orders
    and the book checks them; a run with a chain always does)."""
    signed = signed or chain is not None
    name = mechanism or spec.mechanism
    if name not in MECHANISMS:
        raise ScenarioError(
            f"unknown market mechanism {name!r}; choose from {', '.join(MECHANISMS)}"
        )
    interval_s = int(community.interval_length.total_seconds())
    rules = market_rules(spec, interval_s)
    rng = np.random.default_rng([seed, zlib.crc32(community.community_id.encode()), 5])
    agents = {}
    escrow = {}
    for i, key in member_keys(community, seed).items():
        maker = address_of(key)
        spread = spec.variation
        strategy = Strategy(
            bid_fraction=min(
                max(spec.bid_fraction + float(rng.uniform(-spread, spread)), 0.0), 1.0
            ),
            ask_fraction=min(
                max(spec.ask_fraction + float(rng.uniform(-spread, spread)), 0.0), 1.0
            ),
            min_trade_wh=10,
        )
        agents[i] = TradingAgent(maker, key if signed else None, strategy)
        escrow[maker] = deposits.get(i, 0)
    book = OrderBook(rules, domain, frozenset(escrow), escrow, require_signatures=signed)
    return MarketStep(
        community,
        flows,
        MECHANISMS[name],
        rules,
        book,
        agents,
        chain=chain,
        flush_every=flush_every,
        settlement=spec.settlement,
    )
