"""One delivery interval's market: signed orders in, per-order fills and trades out.

Clearing runs in three stages, each on what the earlier ones left:

1. **Forwards.** A forward buy and a forward sell with the same ``terms`` (their
   agreement) trade at the agreed price, up to the smaller quantity.
2. **Preferences.** Orders whose terms carry :class:`Preferences` (preferred sources or
   partners, excluded partners, a minimum seller reliability) are matched in merit order
   against the counter-orders they accept, each pair at the midpoint of its limits; what
   they do not match there goes to the grid, never to a partner they ruled out.
3. **The mechanism** (any of :data:`gridshare.market.clearing.MECHANISMS`) on every other
   order. Group orders (kind ``GROUP``, one ``terms`` per group) enter it pooled, as one
   bid at the group's price, and the group's fills are split pro rata to its members.

The result is exact: each order's fill (Wh) and money (micro-units; a buyer's amount is
its trades' value rounded up once, a seller's rounded down once), so the P2PTrading
contract's per-order checks hold: no order filled beyond its quantity, no buyer above
its limit, no seller below it (mechanisms that promise limits), energy bought = sold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gridshare.market.clearing import (
    GridPrices,
    Mechanism,
    OrderColumns,
    Trades,
)
from gridshare.market.orders import Kind, Order, OrderError, Side, terms_hash
from gridshare.units import WH_PER_KWH, mul_div, split_pro_rata


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a member asks of its counterparties (off-chain terms, hashed into the order)."""

    preferred_sources: frozenset[str] = frozenset()
    """Buy only energy from these sources (``solar``, ``wind``, ...); empty: any."""
    preferred_partners: frozenset[bytes] = frozenset()
    """Trade only with these accounts; empty: anyone not excluded."""
    excluded_partners: frozenset[bytes] = frozenset()
    min_reliability: float = 0.0
    """Buy only from sellers whose delivered share of what they sold is at least this."""

    @property
    def empty(self) -> bool:
        return self == Preferences()

    def terms(self) -> dict[str, object]:
        """The canonical off-chain terms (hashed into the order's ``terms``)."""
        out: dict[str, object] = {}
        if self.preferred_sources:
            out["preferred_sources"] = sorted(self.preferred_sources)
        if self.preferred_partners:
            out["preferred_partners"] = sorted("0x" + a.hex() for a in self.preferred_partners)
        if self.excluded_partners:
            out["excluded_partners"] = sorted("0x" + a.hex() for a in self.excluded_partners)
        if self.min_reliability:
            out["min_reliability"] = self.min_reliability
        return out

    def accepts(self, partner: bytes, source: str | None, reliability: float) -> bool:
        if partner in self.excluded_partners:
            return False
        if self.preferred_partners and partner not in self.preferred_partners:
            return False
        if self.preferred_sources and source not in self.preferred_sources:
            return False
        return reliability >= self.min_reliability


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One matched stretch between two orders (indices into the interval's orders)."""

    buy: int
    sell: int
    quantity_wh: int
    price: int
    """What the buyer pays, micro-units per kWh."""
    seller_price: int
    stage: str
    """``forward``, ``preferences`` or the mechanism's name."""


@dataclass
class IntervalClearing:
    """The cleared interval: the orders, their fills and the trades behind them."""

    start_s: int
    orders: list[Order]
    mechanism: str
    trades: list[TradeRow] = field(default_factory=list)
    filled_wh: list[int] = field(default_factory=list)
    amount: list[int] = field(default_factory=list)
    """Micro-units per order: a buyer pays it (before fees), a seller receives it."""

    @property
    def volume_wh(self) -> int:
        return sum(t.quantity_wh for t in self.trades)

    def sides(self) -> tuple[int, int]:
        """(Wh bought, Wh sold): always equal."""
        buy = sum(f for f, o in zip(self.filled_wh, self.orders, strict=True) if o.side is Side.BUY)
        sell = sum(
            f for f, o in zip(self.filled_wh, self.orders, strict=True) if o.side is Side.SELL
        )
        return buy, sell


def clear_interval(
    start_s: int,
    orders: Sequence[Order],
    mechanism: Mechanism,
    grid: GridPrices,
    *,
    preferences: Mapping[bytes, Preferences] | None = None,
    source_of: Callable[[bytes], str | None] | None = None,
    reliability_of: Callable[[bytes], float] | None = None,
) -> IntervalClearing:
    """Clear one interval's booked ``orders`` (in arrival order).

    ``preferences`` maps an order's ``terms`` hash to the preferences it stands for (an
    order whose terms are not listed has none); ``source_of(seller)`` is the seller's
    energy source and ``reliability_of(seller)`` its delivery record (0..1).
    """
    orders = list(orders)
    left = [o.quantity_wh for o in orders]
    buys = [i for i, o in enumerate(orders) if o.side is Side.BUY]
    sells = [i for i, o in enumerate(orders) if o.side is Side.SELL]
    rows = _forward_rows(orders, buys, sells, left)
    preferred = _PreferenceRule(
        orders,
        preferences or {},
        source_of or (lambda _a: None),
        reliability_of or (lambda _a: 1.0),
    )
    constrained = [i for i in range(len(orders)) if preferred.of(i) is not None]
    rows += _preference_rows(orders, buys, sells, left, constrained, preferred)
    rows += _mechanism_rows(orders, buys, sells, left, set(constrained), mechanism, grid)
    return _cleared(start_s, orders, mechanism.name, rows)


def _forward_rows(
    orders: list[Order], buys: list[int], sells: list[int], left: list[int]
) -> list[TradeRow]:
    """Stage 1: a forward buy and a forward sell with one agreement (``terms``) trade at
    the buyer's price, up to what both have ``left`` (which shrinks accordingly)."""
    rows: list[TradeRow] = []
    by_terms: dict[bytes, list[int]] = {}
    for i in sells:
        if orders[i].kind is Kind.FORWARD:
            by_terms.setdefault(orders[i].terms, []).append(i)
    for b in buys:
        ob = orders[b]
        if ob.kind is not Kind.FORWARD:
            continue
        for s in by_terms.get(ob.terms, ()):
            if left[b] and left[s] and orders[s].price <= ob.price:
                q = min(left[b], left[s])
                rows.append(TradeRow(b, s, q, ob.price, ob.price, "forward"))
                left[b] -= q
                left[s] -= q
    return rows


@dataclass(frozen=True, slots=True)
class _PreferenceRule:
    """Which orders carry preferences, and which buyer-seller pairs they allow."""

    orders: list[Order]
    preferences: Mapping[bytes, Preferences]
    source_of: Callable[[bytes], str | None]
    reliability_of: Callable[[bytes], float]

    def of(self, i: int) -> Preferences | None:
        """Order ``i``'s preferences; ``None`` when its terms carry none."""
        p = self.preferences.get(self.orders[i].terms)
        return p if p is not None and not p.empty else None

    def allows(self, b: int, s: int) -> bool:
        """Whether buy ``b`` and sell ``s`` accept each other as partners."""
        pb, ps = self.of(b), self.of(s)
        seller, buyer = self.orders[s].maker, self.orders[b].maker
        if pb is not None and not pb.accepts(
            seller, self.source_of(seller), self.reliability_of(seller)
        ):
            return False
        return ps is None or ps.accepts(buyer, None, 1.0)


def _preference_rows(
    orders: list[Order],
    buys: list[int],
    sells: list[int],
    left: list[int],
    constrained: list[int],
    preferred: _PreferenceRule,
) -> list[TradeRow]:
    """Stage 2: the ``constrained`` orders (those with preferences), in merit order, each
    against the counter-orders it accepts in their merit order, each pair at the midpoint
    of its limits; ``left`` shrinks accordingly."""
    rows: list[TradeRow] = []
    if not constrained:
        return rows
    bids_by_merit = sorted(buys, key=lambda i: (-orders[i].price, i))
    offers_by_merit = sorted(sells, key=lambda i: (orders[i].price, i))

    def merit(i: int) -> tuple[int, int, int]:
        o = orders[i]
        return (o.side, -o.price if o.side is Side.BUY else o.price, i)

    for i in sorted(constrained, key=merit):
        counter = offers_by_merit if orders[i].side is Side.BUY else bids_by_merit
        for j in counter:
            if not left[i]:
                break
            b, s = (i, j) if orders[i].side is Side.BUY else (j, i)
            if not left[j] or orders[b].price < orders[s].price or not preferred.allows(b, s):
                continue
            q = min(left[b], left[s])
            price = (orders[b].price + orders[s].price) // 2
            rows.append(TradeRow(b, s, q, price, price, "preferences"))
            left[b] -= q
            left[s] -= q
    return rows


def _pooled_bids(
    orders: list[Order], buys: list[int], ruled: set[int], left: list[int]
) -> list[list[int]]:
    """The mechanism's bids as lists of buy orders: one per group (its members, who must
    all bid the group's price), one per other buy with something ``left``; orders with
    preferences (``ruled``) stay out."""
    groups: dict[bytes, list[int]] = {}
    bid_members: list[list[int]] = []
    for b in buys:
        if b in ruled or not left[b]:
            continue
        if orders[b].kind is Kind.GROUP:
            if orders[b].terms not in groups:
                groups[orders[b].terms] = []
                bid_members.append(groups[orders[b].terms])
            groups[orders[b].terms].append(b)
        else:
            bid_members.append([b])
    for members in bid_members:
        if len({orders[m].price for m in members}) > 1:
            raise OrderError("a group's members must all bid the group's price")
    return bid_members


def _mechanism_rows(
    orders: list[Order],
    buys: list[int],
    sells: list[int],
    left: list[int],
    ruled: set[int],
    mechanism: Mechanism,
    grid: GridPrices,
) -> list[TradeRow]:
    """Stage 3: the mechanism on every order without preferences that has something
    ``left``, group orders pooled; ``left`` shrinks accordingly."""
    bid_members = _pooled_bids(orders, buys, ruled, left)
    offer_at = [s for s in sells if s not in ruled and left[s]]
    bids = OrderColumns(
        np.array([sum(left[m] for m in ms) for ms in bid_members], dtype=np.int64),
        np.array([orders[ms[0]].price for ms in bid_members], dtype=np.int64),
        np.array([ms[0] for ms in bid_members], dtype=np.int64),
    )
    offers = OrderColumns(
        np.array([left[s] for s in offer_at], dtype=np.int64),
        np.array([orders[s].price for s in offer_at], dtype=np.int64),
        np.array(offer_at, dtype=np.int64),
    )
    if not (len(bids) and len(offers)):
        return []
    trades = mechanism.clear(bids, offers, grid)
    return _member_rows(trades, bid_members, offer_at, left, mechanism.name)


def _cleared(
    start_s: int, orders: list[Order], mechanism_name: str, rows: list[TradeRow]
) -> IntervalClearing:
    """The interval's result: per-order fills and money from the trades, each amount
    rounded once (a buyer's up, a seller's down)."""
    n = len(orders)
    clearing = IntervalClearing(start_s, orders, mechanism_name, rows)
    value = [0] * n  # micro-units * Wh / kWh, exact
    filled = [0] * n
    for r in rows:
        filled[r.buy] += r.quantity_wh
        filled[r.sell] += r.quantity_wh
        value[r.buy] += r.quantity_wh * r.price
        value[r.sell] += r.quantity_wh * r.seller_price
    clearing.filled_wh = filled
    clearing.amount = [
        mul_div(value[i], 1, WH_PER_KWH, round_up=orders[i].side is Side.BUY) for i in range(n)
    ]
    return clearing


def _member_rows(
    trades: Trades,
    bid_members: list[list[int]],
    offer_at: list[int],
    left: list[int],
    stage: str,
) -> list[TradeRow]:
    """The mechanism's trades on the interval's order indices; a group's total fill is
    split among its members pro rata to what each asked for (largest remainder)."""
    rows: list[TradeRow] = []
    seller_price = trades.price if trades.seller_price is None else trades.seller_price
    # a group's total fill is split once, pro rata to what each member asked for; its
    # stretches are then handed out member by member
    share: dict[int, int] = {}
    for g, members in enumerate(bid_members):
        if len(members) > 1:
            total = int(trades.quantity_wh[trades.bid == g].sum())
            weights = np.array([left[m] for m in members], dtype=np.int64)
            share.update(zip(members, split_pro_rata(total, weights).tolist(), strict=True))
    for b, o, q, p, sp in zip(
        trades.bid.tolist(),
        trades.offer.tolist(),
        trades.quantity_wh.tolist(),
        trades.price.tolist(),
        seller_price.tolist(),
        strict=True,
    ):
        members = bid_members[b]
        s = offer_at[o]
        if len(members) == 1:
            rows.append(TradeRow(members[0], s, q, p, sp, stage))
            left[members[0]] -= q
        else:
            rest = q
            for m in members:
                part = min(rest, share[m])
                if part:
                    rows.append(TradeRow(m, s, part, p, sp, stage))
                    share[m] -= part
                    left[m] -= part
                    rest -= part
        left[s] -= q
    return rows


def preference_terms(p: Preferences) -> tuple[bytes, Preferences]:
    """The ``terms`` hash an order with preferences ``p`` carries, and ``p``."""
    return terms_hash(p.terms()), p
