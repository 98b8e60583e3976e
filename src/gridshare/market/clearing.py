"""Call-market clearing for one delivery interval: the sort-and-cross core, in integers.

Orders are columns (NumPy ``int64``): quantity in Wh, limit price in micro-units per kWh
and a sequence number for time priority. Bids are ranked by price descending, offers by
price ascending, ties by sequence (earlier first). The demand and supply curves are
crossed as step functions of volume: every stretch of volume between two curve steps is
one trade between the bid and the offer covering it, and the trades are the longest
prefix of stretches where the bid's limit is at or above the offer's. This is how each
mechanism here matches; they differ in the price each trade gets (see docs/market.md):

- :class:`PayAsClear`: one uniform price for every trade, chosen in the gap between the
  marginal bid and offer by a k-rule (``k = 1/2``: the midpoint).
- :class:`PayAsBid`: discriminatory; each matched pair trades at its own k-rule price.
- :class:`McAfee`: trade reduction, truthful and weakly budget-balanced.
- :class:`ContinuousDoubleAuction`: orders matched as they arrive, price-time priority.
- :class:`ExcessAuction`: sellers' surplus auctioned to the highest bidders at one price,
  the highest losing bid (a (k+1)-th price auction).
- :class:`CommunityScheme`: supply-demand-ratio, mid-market and bill-sharing pricing of
  the matched volume, shared pro rata (:mod:`gridshare.market.community`).

Money is exact: a trade of ``q`` Wh at ``p`` micros/kWh costs the buyer ``q * p / 1000``
rounded up and credits the seller the same rounded down; the sub-micro difference goes
to the community fund, so payments = receipts + rounding, to the micro.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from gridshare.errors import DataError
from gridshare.units import WH_PER_KWH, IntArray, split_pro_rata


class MarketError(DataError):
    """Orders that cannot be cleared as given."""


@dataclass(frozen=True, slots=True)
class OrderColumns:
    """One side's orders: equal-length int64 columns."""

    quantity_wh: IntArray
    price: IntArray
    """Limit price, micro-units per kWh (a bid's maximum, an offer's minimum)."""
    seq: IntArray
    """Arrival order (time priority among equal prices)."""

    def __post_init__(self) -> None:
        for name in ("quantity_wh", "price", "seq"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        sizes = {self.quantity_wh.size, self.price.size, self.seq.size}
        if len(sizes) != 1:
            raise MarketError(f"order columns differ in length: {sorted(sizes)}")
        if (self.quantity_wh <= 0).any():
            raise MarketError("every order's quantity must be > 0 Wh")
        if (self.price < 0).any():
            raise MarketError("limit prices must be >= 0")

    def __len__(self) -> int:
        return int(self.quantity_wh.size)

    @classmethod
    def of(cls, orders: list[tuple[int, int]], first_seq: int = 0) -> OrderColumns:
        """From (quantity_wh, price) pairs, in arrival order."""
        q = [o[0] for o in orders]
        p = [o[1] for o in orders]
        return cls(
            np.array(q, dtype=np.int64),
            np.array(p, dtype=np.int64),
            np.arange(first_seq, first_seq + len(orders), dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class Trades:
    """Matched volume: one row per (bid, offer) stretch, in merit order."""

    bid: IntArray
    """Position of the bid in the bids given to :func:`cross`."""
    offer: IntArray
    quantity_wh: IntArray
    price: IntArray
    """Price the buyer pays, micro-units per kWh."""
    seller_price: IntArray | None = None
    """Price the seller receives, when it differs (McAfee's reduced trades); the
    difference goes to the community fund."""

    def __len__(self) -> int:
        return int(self.bid.size)

    @property
    def volume_wh(self) -> int:
        return int(self.quantity_wh.sum())

    def buyer_pays(self) -> IntArray:
        """Micro-units each trade costs its buyer (rounded up)."""
        return -(-(self.quantity_wh * self.price) // WH_PER_KWH)

    def seller_receives(self) -> IntArray:
        """Micro-units each trade credits its seller (rounded down)."""
        price = self.price if self.seller_price is None else self.seller_price
        return (self.quantity_wh * price) // WH_PER_KWH


@dataclass(frozen=True, slots=True)
class Crossing:
    """The efficient matching, before prices: stretches and the marginal pair."""

    bid: IntArray
    offer: IntArray
    quantity_wh: IntArray
    bid_price: IntArray
    offer_price: IntArray

    def __len__(self) -> int:
        return int(self.bid.size)


def merit_order(side: OrderColumns, *, descending: bool) -> IntArray:
    """Positions sorted by price (descending for bids), ties by arrival."""
    key = -side.price if descending else side.price
    if side.seq.size < 2 or bool((side.seq[1:] > side.seq[:-1]).all()):
        order: IntArray = np.argsort(key, kind="stable")  # given in arrival order already
    else:
        order = np.lexsort((side.seq, key))
    return order


def _merged_steps(a: IntArray, b: IntArray) -> IntArray:
    """The sorted union of two sorted arrays (a stable sort of two runs is one merge)."""
    merged = np.concatenate((a, b))
    merged.sort(kind="stable")
    if merged.size < 2:
        return merged
    keep = np.empty(merged.size, dtype=bool)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def cross(bids: OrderColumns, offers: OrderColumns) -> Crossing:
    """Cross demand and supply; every matched stretch of volume, in merit order."""
    if not len(bids) or not len(offers):
        none = np.zeros(0, dtype=np.int64)
        return Crossing(none, none, none, none, none)
    b_order = merit_order(bids, descending=True)
    o_order = merit_order(offers, descending=False)
    b_cum = np.cumsum(bids.quantity_wh[b_order])
    o_cum = np.cumsum(offers.quantity_wh[o_order])
    limit = min(int(b_cum[-1]), int(o_cum[-1]))
    ends = _merged_steps(b_cum[b_cum <= limit], o_cum[o_cum <= limit])
    if ends.size == 0 or ends[-1] != limit:
        ends = np.append(ends, limit)
    starts = np.concatenate(([0], ends[:-1]))
    b_at = np.searchsorted(b_cum, ends, side="left")
    o_at = np.searchsorted(o_cum, ends, side="left")
    b_price = bids.price[b_order][b_at]
    o_price = offers.price[o_order][o_at]
    crossing = b_price >= o_price
    # bid prices fall and offer prices rise along the volume: the matches are a prefix
    n = int(crossing.size if crossing.all() else np.argmin(crossing))
    return Crossing(
        b_order[b_at[:n]],
        o_order[o_at[:n]],
        (ends - starts)[:n],
        b_price[:n],
        o_price[:n],
    )


def k_price(bid_price: int, offer_price: int, k: Fraction) -> int:
    """``offer + k * (bid - offer)``, rounded to the nearest micro (half to even)."""
    return round(offer_price + k * (bid_price - offer_price))


@dataclass(frozen=True, slots=True)
class GridPrices:
    """The main grid's tariffs at the community's connection, micro-units per kWh."""

    buy: int
    """What importing from the grid costs (the import tariff)."""
    sell: int
    """What exporting to the grid earns (the export tariff)."""

    def __post_init__(self) -> None:
        if not 0 <= self.sell <= self.buy:
            raise MarketError("grid prices must satisfy 0 <= export price <= import price")

    def islanded(self) -> GridPrices:
        """The island rule: with no main grid, every unmatched Wh, bought or sold among the
        members, settles at one island price, the midpoint of the tariff (rounded down)."""
        mid = (self.buy + self.sell) // 2
        return GridPrices(mid, mid)


class Mechanism(Protocol):
    """A rule that turns one interval's orders into trades."""

    @property
    def name(self) -> str: ...

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades: ...


@dataclass(frozen=True, slots=True)
class PayAsClear:
    """Uniform-price double auction: every trade at one price from the marginal pair.

    The price is ``k`` of the way from the marginal (last matched) offer's limit to the
    marginal bid's limit; every matched bid is at or above it and every matched offer
    at or below it, so nobody trades beyond their limit.
    """

    k: Fraction = Fraction(1, 2)
    name: str = "pay-as-clear"

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        c = cross(bids, offers)
        if not len(c):
            return Trades(c.bid, c.offer, c.quantity_wh, c.quantity_wh)
        price = k_price(int(c.bid_price[-1]), int(c.offer_price[-1]), self.k)
        return Trades(c.bid, c.offer, c.quantity_wh, np.full(len(c), price, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class PayAsBid:
    """Discriminatory double auction: each matched pair at its own k-rule price."""

    k: Fraction = Fraction(1, 2)
    name: str = "pay-as-bid"

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        c = cross(bids, offers)
        spread = c.bid_price - c.offer_price
        # round half to even, exactly, in integers: offer + k * spread
        num, den = self.k.numerator, self.k.denominator
        q, r = np.divmod(spread * num, den)
        up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
        price = c.offer_price + q + up.astype(np.int64)
        return Trades(c.bid, c.offer, c.quantity_wh, price)


@dataclass(frozen=True, slots=True)
class McAfee:
    """McAfee's trade reduction, with each Wh as a unit (truthful, weakly budget-balanced).

    With ``k`` efficient units, the candidate price is the midpoint of the first
    *excluded* unit's bid and offer. If it lies within the marginal (k-th) pair, all
    ``k`` units trade at it. Otherwise the k-th unit is dropped: the remaining buyers pay
    the k-th bid, sellers receive the k-th offer, and the difference goes to the fund.
    Neither price depends on what a trading member asked, which makes truth-telling a
    dominant strategy.
    """

    name: str = "mcafee"

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        c = cross(bids, offers)
        if not len(c):
            return Trades(c.bid, c.offer, c.quantity_wh, c.quantity_wh)
        volume = int(c.quantity_wh.sum())
        b_k, s_k = int(c.bid_price[-1]), int(c.offer_price[-1])
        b_next = _price_of_unit(bids, volume + 1, descending=True)
        s_next = _price_of_unit(offers, volume + 1, descending=False)
        if b_next is not None and s_next is not None:
            p0 = Fraction(b_next + s_next, 2)
            if s_k <= p0 <= b_k:
                price = np.full(len(c), round(p0), dtype=np.int64)
                return Trades(c.bid, c.offer, c.quantity_wh, price)
        quantity = c.quantity_wh.copy()
        quantity[-1] -= 1  # the marginal unit does not trade
        keep = quantity > 0
        return Trades(
            c.bid[keep],
            c.offer[keep],
            quantity[keep],
            np.full(int(keep.sum()), b_k, dtype=np.int64),
            np.full(int(keep.sum()), s_k, dtype=np.int64),
        )


def _price_of_unit(side: OrderColumns, unit: int, *, descending: bool) -> int | None:
    """Price of the ``unit``-th Wh of one side in merit order (descending for bids), or
    None if the side has fewer Wh."""
    order = merit_order(side, descending=descending)
    cum = np.cumsum(side.quantity_wh[order])
    if unit > cum[-1]:
        return None
    return int(side.price[order][np.searchsorted(cum, unit, side="left")])


@dataclass(frozen=True, slots=True)
class ContinuousDoubleAuction:
    """Continuous double auction with price-time priority.

    Orders of both sides are taken in arrival order (``seq``); each is matched at once
    against the best resting orders of the other side while the prices cross, at the
    *resting* order's price, and what is left rests in the book. Unmatched volume at
    gate closure falls back to the grid (not a trade here).
    """

    name: str = "cda"

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        """Compiled (numba) when prices and counts fit its packed keys, else in Python."""
        from gridshare.market.cda_kernel import PRICE_LIMIT, cda_match

        n = len(bids) + len(offers)
        top = max(int(bids.price.max(initial=0)), int(offers.price.max(initial=0)))
        if n == 0 or top >= PRICE_LIMIT or n >= PRICE_LIMIT:
            return self.clear_python(bids, offers)
        arrivals = np.argsort(np.concatenate((bids.seq, offers.seq)), kind="stable")
        rank = np.concatenate((_ranks(bids.seq), _ranks(offers.seq)))
        price = np.concatenate((bids.price, offers.price))
        quantity = np.concatenate((bids.quantity_wh, offers.quantity_wh))
        b, o, q, p = cda_match(arrivals, len(bids), price, rank, quantity)
        return Trades(b, o, q, p)

    def clear_python(self, bids: OrderColumns, offers: OrderColumns) -> Trades:
        """The same matching in plain Python (any integer sizes; the reference)."""
        nb = len(bids)
        arrivals = np.concatenate((bids.seq, offers.seq))
        order = np.argsort(arrivals, kind="stable").tolist()
        b_price, o_price = bids.price.tolist(), offers.price.tolist()
        b_seq, o_seq = bids.seq.tolist(), offers.seq.tolist()
        left = [*bids.quantity_wh.tolist(), *offers.quantity_wh.tolist()]
        bid_book: list[tuple[int, int, int]] = []  # (-price, seq, bid position)
        offer_book: list[tuple[int, int, int]] = []  # (price, seq, offer position)
        trades: list[tuple[int, int, int, int]] = []  # (bid, offer, Wh, price)
        for at in order:
            if at < nb:  # a bid arrives
                i, limit = at, b_price[at]
                while left[i] and offer_book and offer_book[0][0] <= limit:
                    price, _, j = offer_book[0]
                    q = min(left[i], left[nb + j])
                    trades.append((i, j, q, price))
                    left[i] -= q
                    left[nb + j] -= q
                    if not left[nb + j]:
                        heapq.heappop(offer_book)
                if left[i]:
                    heapq.heappush(bid_book, (-limit, b_seq[i], i))
            else:  # an offer arrives
                j = at - nb
                limit = o_price[j]
                while left[at] and bid_book and -bid_book[0][0] >= limit:
                    neg, _, i = bid_book[0]
                    q = min(left[at], left[i])
                    trades.append((i, j, q, -neg))
                    left[at] -= q
                    left[i] -= q
                    if not left[i]:
                        heapq.heappop(bid_book)
                if left[at]:
                    heapq.heappush(offer_book, (limit, o_seq[j], j))
        rows = np.array(trades, dtype=np.int64).reshape(-1, 4)
        return Trades(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy())


def _ranks(seq: IntArray) -> IntArray:
    """Each order's arrival rank within its side (ties by position)."""
    rank = np.empty(seq.size, dtype=np.int64)
    rank[np.argsort(seq, kind="stable")] = np.arange(seq.size, dtype=np.int64)
    return rank


@dataclass(frozen=True, slots=True)
class ExcessAuction:
    """An auction of the sellers' surplus: each Wh on offer goes to the highest bids.

    Offers are the sellers' excess at their reserve prices; the volume is the efficient
    crossing, and every winner pays one price: the highest *losing* bid (the first bid
    volume left out), raised to the marginal offer's reserve and never above the lowest
    winning bid. With unit demand this is the (k+1)-th price auction, where bidding one's
    true value is optimal; sellers receive the same price.
    """

    name: str = "excess-auction"

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        c = cross(bids, offers)
        if not len(c):
            return Trades(c.bid, c.offer, c.quantity_wh, c.quantity_wh)
        volume = int(c.quantity_wh.sum())
        losing = _price_of_unit(bids, volume + 1, descending=True)
        reserve = int(c.offer_price[-1])
        price = reserve if losing is None else max(losing, reserve)
        price = min(price, int(c.bid_price[-1]))
        return Trades(c.bid, c.offer, c.quantity_wh, np.full(len(c), price, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class CommunityScheme:
    """Community pricing: members' positions, not their limits, set the price.

    The internal volume is ``min(demand, supply)``; the long side is matched pro rata
    (each bid, or each offer, gets the same share of its quantity) and every internal Wh
    trades at the scheme's internal price from :mod:`gridshare.market.community`, which
    lies within the grid's prices: ``sdr`` the supply-demand-ratio sellers' price,
    ``mid-market`` the midpoint of the grid's prices, ``bill-sharing`` zero (the grid bill
    is then shared pro rata by the grid fallback of each order's unmatched part). With
    the grid fallback, each member pays exactly what :func:`settle_community` charges,
    up to half a micro-unit per kWh of price rounding. Limit prices are not honoured:
    these schemes promise the grid bounds instead.
    """

    scheme: str = "sdr"

    @property
    def name(self) -> str:
        return self.scheme

    def clear(
        self, bids: OrderColumns, offers: OrderColumns, grid: GridPrices | None = None
    ) -> Trades:
        if grid is None:
            raise MarketError(f"the {self.scheme} scheme needs the grid's prices")
        demand, supply = int(bids.quantity_wh.sum()), int(offers.quantity_wh.sum())
        volume = min(demand, supply)
        none = np.zeros(0, dtype=np.int64)
        if volume == 0:
            return Trades(none, none, none, none)
        from gridshare.market.community import internal_price

        price = round(internal_price(self.scheme, supply, demand, grid.buy, grid.sell))
        b_order = np.argsort(bids.seq, kind="stable")
        o_order = np.argsort(offers.seq, kind="stable")
        b_q = split_pro_rata(volume, bids.quantity_wh[b_order])
        o_q = split_pro_rata(volume, offers.quantity_wh[o_order])
        b_cum, o_cum = np.cumsum(b_q), np.cumsum(o_q)
        ends = _merged_steps(b_cum, o_cum)
        ends = ends[ends > 0]
        starts = np.concatenate(([0], ends[:-1]))
        b_at = np.searchsorted(b_cum, ends, side="left")
        o_at = np.searchsorted(o_cum, ends, side="left")
        return Trades(
            b_order[b_at],
            o_order[o_at],
            ends - starts,
            np.full(ends.size, price, dtype=np.int64),
        )


MECHANISMS: dict[str, Mechanism] = {
    m.name: m
    for m in (
        PayAsClear(),
        PayAsBid(),
        McAfee(),
        ContinuousDoubleAuction(),
        ExcessAuction(),
        CommunityScheme("sdr"),
        CommunityScheme("mid-market"),
        CommunityScheme("bill-sharing"),
    )
}
"""Every mechanism by name: ``gridshare simulate --market NAME`` picks one."""


@dataclass(frozen=True, slots=True)
class GridFallback:
    """What each order did not trade in the market, settled with the main grid."""

    bid_wh: IntArray
    """Unmatched Wh per bid, bought from the grid at its import price."""
    offer_wh: IntArray
    """Unmatched Wh per offer, sold to the grid at its export price."""
    bid_cost: IntArray
    """Micro-units each bid pays the grid (rounded up)."""
    offer_income: IntArray
    """Micro-units each offer receives from the grid (rounded down)."""


def grid_fallback(
    bids: OrderColumns, offers: OrderColumns, trades: Trades, grid_buy: int, grid_sell: int
) -> GridFallback:
    """Unmatched demand falls back to the grid's import tariff, unmatched supply to its
    export tariff (micro-units per kWh), whatever the orders' limits: the grid always
    delivers and always takes the energy."""
    if not 0 <= grid_sell <= grid_buy:
        raise MarketError("grid prices must satisfy 0 <= export price <= import price")
    bought = np.bincount(trades.bid, weights=trades.quantity_wh, minlength=len(bids))
    sold = np.bincount(trades.offer, weights=trades.quantity_wh, minlength=len(offers))
    bid_wh = bids.quantity_wh - bought.astype(np.int64)
    offer_wh = offers.quantity_wh - sold.astype(np.int64)
    return GridFallback(
        bid_wh,
        offer_wh,
        -(-(bid_wh * grid_buy) // WH_PER_KWH),
        (offer_wh * grid_sell) // WH_PER_KWH,
    )
