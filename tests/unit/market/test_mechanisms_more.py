"""The excess auction's one price, the community schemes against settle_community, and
pro-rata splitting, each against an independent reference (Hypothesis) and by hand."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import (
    CommunityScheme,
    ExcessAuction,
    GridPrices,
    MarketError,
    OrderColumns,
    grid_fallback,
)
from gridshare.market.community import SCHEMES, settle_community
from gridshare.units import split_pro_rata

GRID = GridPrices(280_000, 70_000)

orders = st.lists(
    st.tuples(st.integers(1, 2_000), st.integers(0, 500_000)), min_size=0, max_size=20
)


def columns(pairs: list[tuple[int, int]], first_seq: int = 0) -> OrderColumns:
    return OrderColumns.of(pairs, first_seq)


def units(pairs: list[tuple[int, int]], *, descending: bool) -> list[int]:
    """Reference: each Wh's limit price, in merit order (price, then arrival)."""
    ranked = sorted(
        range(len(pairs)), key=lambda i: (-pairs[i][1] if descending else pairs[i][1], i)
    )
    return [pairs[i][1] for i in ranked for _ in range(pairs[i][0])]


# -- ExcessAuction -----------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(orders, orders)
def test_excess_auction_winners_pay_one_price_set_by_the_highest_losing_bid(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]]
) -> None:
    trades = ExcessAuction().clear(columns(bids), columns(offers, 100), GRID)
    demand, supply = units(bids, descending=True), units(offers, descending=False)
    volume = 0
    for bid, offer in zip(demand, supply, strict=False):
        if bid < offer:
            break
        volume += 1
    assert trades.volume_wh == volume  # the efficient crossing
    assert trades.seller_price is None  # sellers receive the buyers' price
    if not volume:
        assert len(trades) == 0
        return
    prices = set(trades.price.tolist())
    assert len(prices) == 1
    price = prices.pop()
    winning = [bids[b][1] for b in trades.bid.tolist()]
    matched_offers = [offers[o][1] for o in trades.offer.tolist()]
    reserve = max(matched_offers)  # the marginal offer's reserve
    assert price <= min(winning)
    assert price >= reserve  # every seller gets at least its reserve
    losing = demand[volume] if volume < len(demand) else None
    if losing is not None and losing >= reserve:
        assert price >= losing
        # and no higher than it needs to be: the losing bid, capped by the lowest winner
        assert price == min(losing, min(winning))
    else:
        assert price == reserve
    # each bid and offer fills at most its quantity
    bought = np.bincount(trades.bid, weights=trades.quantity_wh, minlength=len(bids))
    sold = np.bincount(trades.offer, weights=trades.quantity_wh, minlength=len(offers))
    assert (bought <= [q for q, _ in bids]).all()
    assert (sold <= [q for q, _ in offers]).all()


def test_excess_auction_by_hand() -> None:
    bids = columns([(10, 300_000), (10, 250_000), (10, 200_000)])
    # 20 Wh at 100_000: the 21st Wh of demand (the 200_000 bid) loses and sets the price
    t = ExcessAuction().clear(bids, columns([(20, 100_000)], 10), GRID)
    assert t.volume_wh == 20
    assert t.price.tolist() == [200_000, 200_000]
    # 15 Wh: the 16th Wh belongs to the 250_000 bid, only half filled; it sets the price
    t = ExcessAuction().clear(bids, columns([(15, 100_000)], 10), GRID)
    assert t.quantity_wh.tolist() == [10, 5]
    assert t.price.tolist() == [250_000, 250_000]
    # the reserve 220_000 is above the losing bid 200_000: the price is the reserve
    t = ExcessAuction().clear(bids, columns([(20, 220_000)], 10), GRID)
    assert t.price.tolist() == [220_000, 220_000]
    # no losing bid at all (supply exceeds demand): the marginal reserve
    t = ExcessAuction().clear(bids, columns([(40, 150_000)], 10), GRID)
    assert t.volume_wh == 30
    assert set(t.price.tolist()) == {150_000}
    # nothing crosses
    assert len(ExcessAuction().clear(bids, columns([(5, 400_000)], 10), GRID)) == 0


# -- CommunityScheme against settle_community --------------------------------------------

positions = st.lists(st.integers(-5_000, 5_000).filter(bool), min_size=1, max_size=12)


def split(pos: list[int]) -> tuple[list[int], list[int], OrderColumns, OrderColumns]:
    """Buyers and sellers as orders, in member order (prices are ignored by the schemes)."""
    buyers = [i for i, p in enumerate(pos) if p > 0]
    sellers = [i for i, p in enumerate(pos) if p < 0]
    bids = OrderColumns(
        np.array([pos[i] for i in buyers], dtype=np.int64),
        np.zeros(len(buyers), dtype=np.int64),
        np.array(buyers, dtype=np.int64),
    )
    offers = OrderColumns(
        np.array([-pos[i] for i in sellers], dtype=np.int64),
        np.zeros(len(sellers), dtype=np.int64),
        np.array(sellers, dtype=np.int64),
    )
    return buyers, sellers, bids, offers


def buyers_pay(pos: list[int], scheme: str) -> tuple[dict[int, int], dict[int, int], int]:
    """Per buyer (member index): market payments plus the grid fallback; trade rows per
    buyer; the internal volume."""
    buyers, _, bids, offers = split(pos)
    trades = CommunityScheme(scheme).clear(bids, offers, GRID)
    rest = grid_fallback(bids, offers, trades, GRID.buy, GRID.sell)
    pays: dict[int, int] = defaultdict(int)
    rows: dict[int, int] = defaultdict(int)
    for b, paid in zip(trades.bid.tolist(), trades.buyer_pays().tolist(), strict=True):
        pays[buyers[b]] += paid
        rows[buyers[b]] += 1
    for k, member in enumerate(buyers):
        pays[member] += int(rest.bid_cost[k])
    return pays, rows, trades.volume_wh


@settings(max_examples=300, deadline=None)
@given(positions, st.sampled_from(SCHEMES))
def test_community_scheme_charges_each_buyer_what_settle_community_charges(
    pos: list[int], scheme: str
) -> None:
    """The CommunityScheme docstring: a member's bill differs from settle_community's by
    at most the gap between the grid's import price and the internal price on one Wh
    (the pro-rata share is whole Wh), plus price and per-row rounding."""
    pays, rows, _ = buyers_pay(pos, scheme)
    reference = settle_community(pos, GRID.buy, GRID.sell, scheme).pays
    one_wh_gap = -(-GRID.buy // 1000)  # at most the import price on one Wh, rounded up
    for member, p in enumerate(pos):
        if p <= 0:
            continue
        bound = one_wh_gap + rows[member] + -(-p // 2_000) + 1
        assert abs(pays[member] - reference[member]) <= bound, (member, pays, reference)


@settings(max_examples=300, deadline=None)
@given(positions, st.sampled_from(SCHEMES))
def test_community_scheme_charges_buyers_together_what_settle_community_charges(
    pos: list[int], scheme: str
) -> None:
    pays, rows, volume = buyers_pay(pos, scheme)
    reference = settle_community(pos, GRID.buy, GRID.sell, scheme).pays
    n_buyers = sum(1 for p in pos if p > 0)
    bound = sum(rows.values()) + n_buyers + -(-volume // 2_000) + 1
    assert abs(sum(pays.values()) - sum(reference)) <= bound


@settings(max_examples=300, deadline=None)
@given(positions, st.sampled_from(SCHEMES))
def test_community_scheme_matches_the_short_side_in_full_and_the_long_side_pro_rata(
    pos: list[int], scheme: str
) -> None:
    _, _, bids, offers = split(pos)
    trades = CommunityScheme(scheme).clear(bids, offers, GRID)
    demand, supply = int(bids.quantity_wh.sum()), int(offers.quantity_wh.sum())
    volume = min(demand, supply)
    assert trades.volume_wh == volume
    assert trades.seller_price is None
    bought = np.bincount(trades.bid, weights=trades.quantity_wh, minlength=len(bids))
    sold = np.bincount(trades.offer, weights=trades.quantity_wh, minlength=len(offers))
    for got, q in zip(bought.tolist(), bids.quantity_wh.tolist(), strict=True):
        assert abs(got - Fraction(volume * q, demand)) < 1
    for got, q in zip(sold.tolist(), offers.quantity_wh.tolist(), strict=True):
        assert abs(got - Fraction(volume * q, supply)) < 1
    # one internal price, within the grid's (zero for bill sharing)
    if volume:
        assert len(set(trades.price.tolist())) == 1
        price = int(trades.price[0])
        if scheme == "bill-sharing":
            assert price == 0
        else:
            assert GRID.sell <= price <= GRID.buy


def test_community_scheme_by_hand_when_supply_covers_demand() -> None:
    # 1.2 kWh demanded by two members, 2 kWh supplied: all demand is met internally at
    # the sdr sellers' price, which is the export tariff when SDR >= 1
    pos = [800, 400, -2_000]
    pays, rows, volume = buyers_pay(pos, "sdr")
    assert volume == 1_200
    assert dict(pays) == {0: 56_000, 1: 28_000}  # 800 and 400 Wh at 70_000 / kWh
    assert settle_community(pos, GRID.buy, GRID.sell, "sdr").pays == [56_000, 28_000, 0]


def test_community_scheme_by_hand_when_demand_exceeds_supply() -> None:
    """Three members want 1 kWh each, one offers 1 kWh. SDR 1/3: sellers get
    280_000 * 70_000 / (210_000 / 3 + 70_000) = 140_000 per kWh, and each buyer pays the
    average sdr price 140_000 / 3 + 280_000 * 2/3 = 233_333.3 (settle_community: 233_334).
    The market splits the 1000 internal Wh 334 / 333 / 333, so the first buyer pays
    334 * 140 + 666 * 280 = 233_240 and the others 333 * 140 + 667 * 280 = 233_380."""
    pos = [1_000, 1_000, 1_000, -1_000]
    assert settle_community(pos, GRID.buy, GRID.sell, "sdr").pays == [233_334] * 3 + [0]
    pays, _, _ = buyers_pay(pos, "sdr")
    assert dict(pays) == {0: 233_240, 1: 233_380, 2: 233_380}


def test_community_scheme_needs_the_grid_prices() -> None:
    with pytest.raises(MarketError, match="grid"):
        CommunityScheme("sdr").clear(columns([(1, 0)]), columns([(1, 0)], 5))


def test_community_scheme_with_one_side_missing_trades_nothing() -> None:
    assert len(CommunityScheme("mid-market").clear(columns([(10, 0)]), columns([]), GRID)) == 0


# -- pro_rata ----------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), max_size=20))
def test_pro_rata_sums_exactly_and_each_part_is_within_one_of_its_share(
    total: int, weights: list[int]
) -> None:
    parts = split_pro_rata(total, np.array(weights, dtype=np.int64)).tolist()
    assert len(parts) == len(weights)
    whole = sum(weights)
    if whole == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, w in zip(parts, weights, strict=True):
        share = Fraction(total * w, whole)
        assert part >= 0
        assert share - 1 < part < share + 1
        if w == 0:
            assert part == 0
    # largest remainder: nobody rounded up while someone with a larger remainder was not
    up = [
        Fraction(total * w, whole) - (total * w // whole)
        for p, w in zip(parts, weights, strict=True)
        if p > total * w // whole
    ]
    down = [
        Fraction(total * w, whole) - (total * w // whole)
        for p, w in zip(parts, weights, strict=True)
        if p == total * w // whole
    ]
    if up and down:
        assert min(up) >= max(down)


def test_pro_rata_by_hand() -> None:
    # 10 over 1:2:3 = 1.67, 3.33, 5: floors 1, 3, 5 and the one left to the largest
    # remainder (2/3)
    assert split_pro_rata(10, np.array([1, 2, 3])).tolist() == [2, 3, 5]
    # ties go to the earlier position
    assert split_pro_rata(1, np.array([1, 1])).tolist() == [1, 0]
    assert split_pro_rata(2, np.array([1, 1, 1])).tolist() == [1, 1, 0]
    assert split_pro_rata(0, np.array([3, 4])).tolist() == [0, 0]
    assert split_pro_rata(5, np.array([0, 0])).tolist() == [0, 0]
    assert split_pro_rata(7, np.array([], dtype=np.int64)).tolist() == []


def test_pro_rata_is_exact_beyond_int64_products() -> None:
    # 10**12 * 3 * 10**9 overflows int64; the split must still be exact
    assert split_pro_rata(10**12, np.array([10**9, 3 * 10**9])).tolist() == [
        250_000_000_000,
        750_000_000_000,
    ]
    assert split_pro_rata(10**12 + 1, np.array([10**9, 10**9])).tolist() == [
        500_000_000_001,
        500_000_000_000,
    ]
