"""Trading agents: members set rules, agents place the orders.

Each interval an agent turns its member's forecast net position (Wh to import, or to
export), battery state and rules into at most one signed limit order for the next
interval. Prices sit between the grid's export and import tariffs, where trading locally
beats the grid for both sides:

- a buyer bids ``sell + bid_fraction * (buy - sell)``, raised towards the import tariff
  as its battery empties (it would otherwise have to import);
- a seller asks ``sell + ask_fraction * (buy - sell)``, lowered towards the export tariff
  as its battery fills (it would otherwise have to export);
- a budget cap (micro-units over the run) shrinks a bid so its worst-case cost fits what
  is left of the budget; preferences travel in the order's terms.

:class:`RecurringRule` is the standing-order form ("every weekday 18:00-21:00 buy up to
2 kWh at <= 0.25/kWh"): one signed order spans the rule's period and is booked only in
the intervals the rule names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from gridshare.market.clearing import GridPrices
from gridshare.market.orders import NO_EXPIRY, Kind, MarketRules, Order, Side, terms_hash
from gridshare.market.session import Preferences
from gridshare.units import WH_PER_KWH


@dataclass(frozen=True, slots=True)
class Strategy:
    """A member's trading rules (the agent's parameters)."""

    bid_fraction: float = 0.6
    """Where between the grid's export (0) and import (1) prices the agent bids."""
    ask_fraction: float = 0.3
    min_trade_wh: int = 1
    """Positions smaller than this are left to the grid."""
    budget_micros: int | None = None
    """Most the member will spend in the market over the run (None: no cap)."""
    preferences: Preferences = field(default_factory=Preferences)


@dataclass
class TradingAgent:
    """Places one member's orders from forecasts, battery state and its strategy."""

    maker: bytes
    key: bytes | None
    """The member's signing key (None: unsigned orders, for research runs)."""
    strategy: Strategy
    nonce: int = 0
    spent_micros: int = 0

    def order_for(
        self,
        start_s: int,
        forecast_wh: int,
        grid: GridPrices,
        rules: MarketRules,
        domain: bytes,
        soc: float | None = None,
    ) -> Order | None:
        """The signed order for the interval at ``start_s`` (None: nothing to trade).

        ``forecast_wh`` > 0 is a forecast import need, < 0 a surplus to export; ``soc``
        (0..1) is the member's battery state of charge, if it has one.
        """
        s = self.strategy
        if abs(forecast_wh) < max(s.min_trade_wh, 1):
            return None
        spread = grid.buy - grid.sell
        if forecast_wh > 0:
            urgency = 0.0 if soc is None else (1.0 - soc) * (1.0 - s.bid_fraction) * 0.5
            price = grid.sell + round(spread * min(s.bid_fraction + urgency, 1.0))
            quantity = forecast_wh
            if s.budget_micros is not None:
                left = s.budget_micros - self.spent_micros
                if price:  # the largest quantity whose worst case, fees rounded up, fits
                    quantity = min(quantity, max(left, 0) * WH_PER_KWH // price)
                    while quantity > 0 and rules.max_cost(quantity, price) > left:
                        quantity -= 1
                if quantity < max(s.min_trade_wh, 1):
                    return None
            side = Side.BUY
        else:
            eagerness = 0.0 if soc is None else soc * s.ask_fraction * 0.5
            price = grid.sell + round(spread * max(s.ask_fraction - eagerness, 0.0))
            quantity = -forecast_wh
            side = Side.SELL
        price = min(max(price, rules.min_price), rules.max_price)
        quantity = min(quantity, rules.max_quantity_wh)
        self.nonce += 1
        order = Order(
            self.maker,
            side,
            start_s,
            1,
            quantity,
            price,
            self.nonce,
            NO_EXPIRY,
            Kind.SPOT,
            terms_hash(s.preferences.terms()),
        )
        return order if self.key is None else order.signed(self.key, domain)

    def paid(self, micros: int) -> None:
        """Settlement took ``micros`` from the member (counts against the budget)."""
        self.spent_micros += micros


@dataclass(frozen=True, slots=True)
class RecurringRule:
    """A standing order: on ``weekdays`` (0 = Monday) from ``start`` to ``end`` local
    time, buy or sell up to ``quantity_wh`` per interval at ``price`` or better."""

    side: Side
    quantity_wh: int
    price: int
    weekdays: frozenset[int]
    start: time
    end: time
    time_zone: str

    def terms(self) -> dict[str, object]:
        return {
            "rule": "recurring",
            "weekdays": sorted(self.weekdays),
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "time_zone": self.time_zone,
        }

    def order(
        self, maker: bytes, first_s: int, intervals: int, nonce: int, expiry: int = NO_EXPIRY
    ) -> Order:
        """The one order (to sign) that covers the rule from ``first_s`` for
        ``intervals`` intervals."""
        return Order(
            maker,
            self.side,
            first_s,
            intervals,
            self.quantity_wh,
            self.price,
            nonce,
            expiry,
            Kind.RECURRING,
            terms_hash(self.terms()),
        )

    def active(self, start_s: int) -> bool:
        local = datetime.fromtimestamp(start_s, UTC).astimezone(ZoneInfo(self.time_zone))
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    def starts(self, order: Order, interval_s: int) -> Iterator[int]:
        """The intervals of ``order``'s span the rule is active in."""
        for k in range(order.intervals):
            start = order.first_interval + k * interval_s
            if self.active(start):
                yield start
