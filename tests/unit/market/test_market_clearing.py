"""The call-market core: invariants of every mechanism (Hypothesis), an independent
unit-by-unit reference for the matched volume, and worked examples."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import (
    MECHANISMS,
    ContinuousDoubleAuction,
    GridPrices,
    MarketError,
    McAfee,
    OrderColumns,
    PayAsBid,
    PayAsClear,
    cross,
    grid_fallback,
    k_price,
)

GRID = GridPrices(buy=280_000, sell=70_000)
SCHEMES = {"sdr", "mid-market", "bill-sharing"}
"""Mechanisms that price by position within the grid's prices, not by the limits."""

orders = st.lists(
    st.tuples(st.integers(1, 2_000), st.integers(0, 500_000)), min_size=0, max_size=25
)


def columns(pairs: list[tuple[int, int]], first_seq: int = 0) -> OrderColumns:
    return OrderColumns.of(pairs, first_seq)


def efficient_volume(bids: list[tuple[int, int]], offers: list[tuple[int, int]]) -> int:
    """Reference: match Wh by Wh, highest bid against lowest offer, while they cross."""
    demand = sorted(
        ((p, i) for i, (q, p) in enumerate(bids) for _ in range(q)), key=lambda t: (-t[0], t[1])
    )
    supply = sorted(((p, i) for i, (q, p) in enumerate(offers) for _ in range(q)))
    volume = 0
    for (bid, _), (offer, _) in zip(demand, supply, strict=False):
        if bid < offer:
            break
        volume += 1
    return volume


@settings(max_examples=300, deadline=None)
@given(orders, orders, st.sampled_from(sorted(MECHANISMS)))
def test_every_mechanism_keeps_the_invariants(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]], name: str
) -> None:
    b, o = columns(bids), columns(offers, first_seq=1_000)
    trades = MECHANISMS[name].clear(b, o, GRID)
    # energy matched never exceeds either side's quantity
    bought = np.bincount(trades.bid, weights=trades.quantity_wh, minlength=len(b))
    sold = np.bincount(trades.offer, weights=trades.quantity_wh, minlength=len(o))
    assert (bought <= b.quantity_wh).all()
    assert (sold <= o.quantity_wh).all()
    # nobody trades beyond their limit (the schemes promise the grid's bounds instead)
    seller_price = trades.price if trades.seller_price is None else trades.seller_price
    if name in SCHEMES:
        assert ((trades.price >= 0) & (trades.price <= GRID.buy)).all()
        internal = min(sum(q for q, _ in bids), sum(q for q, _ in offers))
        assert trades.volume_wh == internal
    else:
        assert (trades.price <= b.price[trades.bid]).all()
        assert (seller_price >= o.price[trades.offer]).all()
    # the volume is the efficient one (unit-by-unit reference); McAfee may drop one Wh
    efficient = efficient_volume(bids, offers)
    if name in SCHEMES:
        pass
    elif name == "mcafee":
        assert trades.volume_wh in (efficient, max(efficient - 1, 0))
    elif name != "cda":  # a CDA matches as orders arrive, not in merit order
        assert trades.volume_wh == efficient
    # money is conserved to the micro: payments = receipts + what the fund keeps, which
    # is rounding (at most a micro per trade) unless McAfee reduced trade
    pays, gets = trades.buyer_pays(), trades.seller_receives()
    fund = pays - gets
    assert (fund >= 0).all()
    if trades.seller_price is None:
        assert (fund <= 1).all()
    assert int(pays.sum()) == int(gets.sum()) + int(fund.sum())
    # deterministic: the same inputs give the same result
    again = MECHANISMS[name].clear(columns(bids), columns(offers, first_seq=1_000), GRID)
    assert again.bid.tolist() == trades.bid.tolist()
    assert again.price.tolist() == trades.price.tolist()


@settings(max_examples=200, deadline=None)
@given(orders, orders)
def test_pay_as_clear_has_one_price_inside_every_matched_limit(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]]
) -> None:
    trades = PayAsClear().clear(columns(bids), columns(offers))
    assert len(set(trades.price.tolist())) <= 1


def test_worked_example() -> None:
    """Bids 100 Wh @ 0.30, 50 @ 0.25, 80 @ 0.10; offers 70 @ 0.08, 60 @ 0.20, 100 @ 0.26
    (currency per kWh): 130 Wh cross; the marginal pair is 0.25 / 0.20."""
    bids = columns([(100, 300_000), (50, 250_000), (80, 100_000)])
    offers = columns([(70, 80_000), (60, 200_000), (100, 260_000)], 10)
    c = cross(bids, offers)
    assert c.quantity_wh.tolist() == [70, 30, 30]
    assert (c.bid.tolist(), c.offer.tolist()) == ([0, 0, 1], [0, 1, 1])
    uniform = PayAsClear().clear(bids, offers)
    assert uniform.price.tolist() == [225_000] * 3
    assert int(uniform.buyer_pays().sum()) == 29_250  # 130 Wh at 0.225/kWh
    assert PayAsBid().clear(bids, offers).price.tolist() == [190_000, 250_000, 225_000]
    seller_side = PayAsClear(k=Fraction(0)).clear(bids, offers)
    assert seller_side.price.tolist() == [200_000] * 3


def test_time_priority_breaks_price_ties() -> None:
    bids = columns([(10, 200_000), (10, 200_000)])
    offers = columns([(10, 100_000)], 5)
    assert cross(bids, offers).bid.tolist() == [0]  # the earlier bid
    later_first = OrderColumns(bids.quantity_wh, bids.price, np.array([9, 3]))
    assert cross(later_first, offers).bid.tolist() == [1]


def test_no_crossing_no_trades() -> None:
    assert len(PayAsClear().clear(columns([(10, 100)]), columns([(10, 200)]))) == 0
    assert len(PayAsBid().clear(columns([]), columns([(10, 200)]))) == 0


@pytest.mark.parametrize(
    ("pairs", "message"), [([(0, 100)], "quantity"), ([(5, -1)], "limit prices")]
)
def test_bad_orders_are_refused(pairs: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(MarketError, match=message):
        columns(pairs)


def test_k_rule_rounds_half_to_even() -> None:
    assert k_price(3, 0, Fraction(1, 2)) == 2
    assert k_price(5, 0, Fraction(1, 2)) == 2


def test_mcafee_trades_everything_when_the_next_pair_prices_fit() -> None:
    # bids 10 Wh @ 300, 10 @ 200; offers 10 @ 100, 10 @ 250: 10 Wh cross (unit 11 does not)
    bids, offers = columns([(10, 300), (10, 200)]), columns([(10, 100), (10, 250)], 5)
    trades = McAfee().clear(bids, offers)
    # the first excluded unit is bid 200 / offer 250: its midpoint 225 lies within the
    # marginal pair [100, 300], so all 10 Wh trade at 225
    assert trades.volume_wh == 10
    assert trades.price.tolist() == [225]
    assert trades.seller_price is None


def test_mcafee_reduces_trade_when_the_next_pair_does_not_fit() -> None:
    bids, offers = columns([(10, 300), (10, 290)]), columns([(10, 100), (10, 400)], 5)
    trades = McAfee().clear(bids, offers)  # next pair 290 / 400 -> 345 > 300
    assert trades.volume_wh == 9  # the marginal Wh is dropped
    assert trades.price.tolist() == [300]  # buyers pay the marginal bid
    assert trades.seller_price is not None
    assert trades.seller_price.tolist() == [100]  # sellers get the marginal offer
    # 9 Wh: buyers pay ceil(2.7) = 3 micros, sellers get floor(0.9) = 0; the fund keeps 3
    assert (int(trades.buyer_pays().sum()), int(trades.seller_receives().sum())) == (3, 0)


def test_cda_matches_on_arrival_at_the_resting_price() -> None:
    # arrival order: offer 10 @ 400 (seq 0), bid 6 @ 500 (seq 1), bid 10 @ 300 (seq 2),
    # offer 10 @ 200 (seq 3)
    bids = OrderColumns(np.array([6, 10]), np.array([500, 300]), np.array([1, 2]))
    offers = OrderColumns(np.array([10, 10]), np.array([400, 200]), np.array([0, 3]))
    trades = ContinuousDoubleAuction().clear(bids, offers)
    # the bid @ 500 takes 6 of the resting offer @ 400 at 400; the offer @ 200 then
    # meets the resting bid @ 300 and trades 10 at 300
    assert trades.bid.tolist() == [0, 1]
    assert trades.offer.tolist() == [0, 1]
    assert trades.quantity_wh.tolist() == [6, 10]
    assert trades.price.tolist() == [400, 300]


def test_cda_gives_time_priority_among_equal_prices() -> None:
    offers = OrderColumns(np.array([5, 5]), np.array([100, 100]), np.array([0, 1]))
    bids = OrderColumns(np.array([5]), np.array([100]), np.array([2]))
    assert ContinuousDoubleAuction().clear(bids, offers).offer.tolist() == [0]


@settings(max_examples=100, deadline=None)
@given(orders, orders, st.sampled_from(sorted(MECHANISMS)))
def test_what_the_market_leaves_goes_to_the_grid(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]], name: str
) -> None:
    b, o = columns(bids), columns(offers, 500)
    trades = MECHANISMS[name].clear(b, o, GRID)
    rest = grid_fallback(b, o, trades, 280_000, 70_000)
    bought = np.bincount(trades.bid, weights=trades.quantity_wh, minlength=len(b))
    sold = np.bincount(trades.offer, weights=trades.quantity_wh, minlength=len(o))
    assert (rest.bid_wh + bought == b.quantity_wh).all()  # every Wh is somewhere, once
    assert (rest.offer_wh + sold == o.quantity_wh).all()
    assert (rest.bid_wh >= 0).all()
    assert (rest.offer_wh >= 0).all()
    assert (rest.bid_cost * 1000 >= rest.bid_wh * 280_000).all()
    assert (rest.offer_income * 1000 <= rest.offer_wh * 70_000).all()


def test_grid_fallback_refuses_inverted_tariffs() -> None:
    with pytest.raises(MarketError, match="export price <= import price"):
        grid_fallback(
            columns([(1, 1)]),
            columns([(1, 1)]),
            PayAsClear().clear(columns([(1, 1)]), columns([(1, 1)])),
            10,
            20,
        )
