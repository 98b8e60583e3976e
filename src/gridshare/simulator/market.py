"""The simulated community's members in the market: their keys, agents and escrow.

Each non-operator member gets a trading agent with the member's deterministic account key
(the one registered on chain) and a strategy drawn from the scenario's ``[market]``
fractions, varied per member with the community's seed, and deposits the scenario's
escrow. Keys derived from a seed exist only here, in the simulator; the market step that
the agents trade on is built by the composition root (:mod:`gridshare.app`), the same for
simulated and live runs.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

import numpy as np

from gridshare.market.agents import Strategy, TradingAgent
from gridshare.market.orders import MarketRules, address_of
from gridshare.model import Category, Community, Role
from gridshare.simulator.meters import simulated_device_key
from gridshare.simulator.scenario import MarketSpec

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


def trading_agents(
    community: Community, spec: MarketSpec, seed: int, *, signed: bool = True
) -> dict[int, TradingAgent]:
    """The simulated members' trading agents, by participant position: each with the
    member's deterministic account key and a strategy drawn from the scenario's
    fractions, varied per member with the seed (``signed``: they sign their orders)."""
    rng = np.random.default_rng([seed, zlib.crc32(community.community_id.encode()), 5])
    agents = {}
    spread = spec.variation
    for i, key in member_keys(community, seed).items():
        strategy = Strategy(
            bid_fraction=min(
                max(spec.bid_fraction + float(rng.uniform(-spread, spread)), 0.0), 1.0
            ),
            ask_fraction=min(
                max(spec.ask_fraction + float(rng.uniform(-spread, spread)), 0.0), 1.0
            ),
            min_trade_wh=10,
        )
        agents[i] = TradingAgent(address_of(key), key if signed else None, strategy)
    return agents
