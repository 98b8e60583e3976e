"""Clearing one interval: invariants of every mechanism over random orders (Hypothesis),
then forwards, preferences and group orders on hand-built examples."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import MECHANISMS, GridPrices, PayAsBid, PayAsClear
from gridshare.market.orders import Kind, Order, OrderError, Side
from gridshare.market.session import (
    IntervalClearing,
    Preferences,
    TradeRow,
    clear_interval,
    preference_terms,
)

GRID = GridPrices(280_000, 70_000)
SCHEMES = {"sdr", "mid-market", "bill-sharing"}
"""Mechanisms that price by position within the grid's prices, not by the limits."""
T = 1_800_000_000 - 1_800_000_000 % 900


def acct(i: int) -> bytes:
    return bytes([i]) * 20


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# -- random intervals --------------------------------------------------------------------

MAKERS = [acct(i) for i in range(1, 7)]
SOURCE = {m: ("solar", "wind", None)[i % 3] for i, m in enumerate(MAKERS)}
RELIABILITY = {m: (1.0, 0.5, 0.95, 0.2, 0.8, 0.99)[i] for i, m in enumerate(MAKERS)}
PREFS = [
    Preferences(excluded_partners=frozenset({MAKERS[0], MAKERS[3]})),
    Preferences(preferred_sources=frozenset({"solar"})),
    Preferences(min_reliability=0.9),
    Preferences(preferred_partners=frozenset({MAKERS[1], MAKERS[2], MAKERS[4]})),
]
PREF_TERMS = [preference_terms(p)[0] for p in PREFS]
PREFERENCES = dict(preference_terms(p) for p in PREFS)
GROUP_PRICE = (150_000, 260_000)


@st.composite
def interval_orders(draw: st.DrawFn) -> list[Order]:
    out = []
    for nonce in range(draw(st.integers(0, 14))):
        side = draw(st.sampled_from(Side))
        maker = draw(st.sampled_from(MAKERS))
        quantity = draw(st.integers(1, 3_000))
        price = draw(st.integers(0, 400_000))
        kind = draw(st.sampled_from(Kind))
        tag = draw(st.integers(0, 1))
        terms = bytes(32)
        if kind is Kind.FORWARD:
            terms = bytes([0xF0 + tag]) * 32
        elif kind is Kind.GROUP and side is Side.BUY:
            terms, price = bytes([0xE0 + tag]) * 32, GROUP_PRICE[tag]
        elif draw(st.booleans()):
            terms = draw(st.sampled_from(PREF_TERMS))
        out.append(Order(maker, side, T, 1, quantity, price, nonce, kind=kind, terms=terms))
    return out


def clear(orders: list[Order], name: str) -> IntervalClearing:
    return clear_interval(
        T,
        orders,
        MECHANISMS[name],
        GRID,
        preferences=PREFERENCES,
        source_of=SOURCE.get,
        reliability_of=RELIABILITY.__getitem__,
    )


@settings(max_examples=400, deadline=None)
@given(interval_orders(), st.sampled_from(sorted(MECHANISMS)))
def test_every_mechanism_keeps_the_per_order_invariants(orders: list[Order], name: str) -> None:
    c = clear(orders, name)
    n = len(orders)
    assert c.orders == orders
    assert c.start_s == T
    assert len(c.filled_wh) == len(c.amount) == n
    # fills and money recomputed from the trade rows: each order's amount is its trades'
    # value rounded once (buyers up, sellers down)
    filled, value = [0] * n, [0] * n
    for r in c.trades:
        assert orders[r.buy].side is Side.BUY
        assert orders[r.sell].side is Side.SELL
        assert r.quantity_wh > 0
        filled[r.buy] += r.quantity_wh
        filled[r.sell] += r.quantity_wh
        value[r.buy] += r.quantity_wh * r.price
        value[r.sell] += r.quantity_wh * r.seller_price
    assert c.filled_wh == filled
    for i, o in enumerate(orders):
        assert 0 <= c.filled_wh[i] <= o.quantity_wh
        exact = Fraction(value[i], 1000)
        if o.side is Side.BUY:
            assert c.amount[i] - 1 < exact <= c.amount[i]
        else:
            assert c.amount[i] <= exact < c.amount[i] + 1
    buy_wh, sell_wh = c.sides()
    assert buy_wh == sell_wh == c.volume_wh
    assert buy_wh == sum(f for f, o in zip(c.filled_wh, orders, strict=True) if o.side is Side.BUY)
    # limits: nobody pays above or receives below what it signed (the community schemes
    # promise the grid's bounds instead, for what the mechanism matched)
    for i, o in enumerate(orders):
        if name in SCHEMES:
            break
        if o.side is Side.BUY:
            assert c.amount[i] <= ceil_div(c.filled_wh[i] * o.price, 1000)
        else:
            assert c.amount[i] >= c.filled_wh[i] * o.price // 1000
    for r in c.trades:
        if r.stage == name and name in SCHEMES:
            assert 0 <= r.price == r.seller_price <= GRID.buy
        else:
            assert r.price <= orders[r.buy].price
            assert r.seller_price >= orders[r.sell].price
    # money: buyers pay at least what sellers receive
    buys = sum(a for a, o in zip(c.amount, orders, strict=True) if o.side is Side.BUY)
    sells = sum(a for a, o in zip(c.amount, orders, strict=True) if o.side is Side.SELL)
    assert buys >= sells
    # deterministic
    again = clear(list(orders), name)
    assert (again.trades, again.filled_wh, again.amount) == (c.trades, c.filled_wh, c.amount)


@settings(max_examples=300, deadline=None)
@given(interval_orders(), st.sampled_from(sorted(MECHANISMS)))
def test_preferences_are_honoured_and_constrained_leftovers_skip_the_mechanism(
    orders: list[Order], name: str
) -> None:
    c = clear(orders, name)
    for r in c.trades:
        buyer, seller = orders[r.buy], orders[r.sell]
        pb, ps = PREFERENCES.get(buyer.terms), PREFERENCES.get(seller.terms)
        if pb is not None:
            assert pb.accepts(seller.maker, SOURCE[seller.maker], RELIABILITY[seller.maker])
        if ps is not None:
            assert ps.accepts(buyer.maker, None, 1.0)
        if pb is not None or ps is not None:
            # matched in the preferences stage only, at the midpoint of the two limits
            assert r.stage == "preferences"
            assert r.price == r.seller_price == (buyer.price + seller.price) // 2
        if r.stage == "forward":
            assert buyer.kind is seller.kind is Kind.FORWARD
            assert buyer.terms == seller.terms
            assert r.price == r.seller_price == buyer.price


# -- forwards ----------------------------------------------------------------------------

AGREEMENT = bytes([0xAB]) * 32


def test_a_forward_pair_trades_first_at_the_buyers_price() -> None:
    orders = [
        Order(acct(1), Side.SELL, T, 1, 1_000, 50_000, 1),  # a cheaper spot offer
        Order(acct(2), Side.BUY, T, 1, 600, 200_000, 1, kind=Kind.FORWARD, terms=AGREEMENT),
        Order(acct(3), Side.SELL, T, 1, 400, 150_000, 1, kind=Kind.FORWARD, terms=AGREEMENT),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID)
    assert c.trades[0] == TradeRow(1, 2, 400, 200_000, 200_000, "forward")
    # the forward buyer's other 200 Wh go to the mechanism, against the spot offer:
    # one pair 200_000 / 50_000, midpoint 125_000
    assert c.trades[1:] == [TradeRow(1, 0, 200, 125_000, 125_000, "pay-as-clear")]
    assert c.filled_wh == [200, 600, 400]
    # 400 Wh at 0.2 = 80_000, 200 Wh at 0.125 = 25_000
    assert c.amount == [25_000, 105_000, 80_000]


def test_forwards_with_other_terms_or_crossed_prices_do_not_pair() -> None:
    other = bytes([0xCD]) * 32
    orders = [
        Order(acct(2), Side.BUY, T, 1, 500, 200_000, 1, kind=Kind.FORWARD, terms=AGREEMENT),
        Order(acct(3), Side.SELL, T, 1, 500, 150_000, 1, kind=Kind.FORWARD, terms=other),
        Order(acct(4), Side.SELL, T, 1, 500, 210_000, 1, kind=Kind.FORWARD, terms=AGREEMENT),
    ]
    c = clear_interval(T, orders, PayAsBid(), GRID)
    assert all(r.stage != "forward" for r in c.trades)
    # the mechanism matches the buy with the 150_000 offer at the midpoint
    assert c.trades == [TradeRow(0, 1, 500, 175_000, 175_000, "pay-as-bid")]


def test_a_rounded_forward_amount() -> None:
    orders = [
        Order(acct(2), Side.BUY, T, 1, 7, 123_457, 1, kind=Kind.FORWARD, terms=AGREEMENT),
        Order(acct(3), Side.SELL, T, 1, 7, 100_000, 1, kind=Kind.FORWARD, terms=AGREEMENT),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID)
    # 7 Wh * 123_457 / 1000 = 864.199: the buyer pays 865, the seller receives 864
    assert c.amount == [865, 864]


# -- preferences -------------------------------------------------------------------------


def pref_buy(p: Preferences, quantity: int = 1_000, price: int = 240_000) -> Order:
    return Order(acct(9), Side.BUY, T, 1, quantity, price, 1, terms=preference_terms(p)[0])


def sell(i: int, quantity: int, price: int) -> Order:
    return Order(acct(i), Side.SELL, T, 1, quantity, price, 1)


@pytest.mark.parametrize("name", sorted(MECHANISMS))
def test_an_excluded_seller_never_trades_with_the_buyer(name: str) -> None:
    p = Preferences(excluded_partners=frozenset({acct(1)}))
    orders = [pref_buy(p), sell(1, 1_000, 60_000), sell(2, 400, 100_000)]
    c = clear_interval(T, orders, MECHANISMS[name], GRID, preferences=dict([preference_terms(p)]))
    assert all((r.buy, r.sell) != (0, 1) for r in c.trades)
    # the buyer takes all the acceptable seller has, at the midpoint (240 + 100) / 2 ...
    assert c.trades == [TradeRow(0, 2, 400, 170_000, 170_000, "preferences")]
    # ... and its other 600 Wh are left to the grid, not given to the excluded seller
    assert c.filled_wh == [400, 0, 400]
    assert c.amount == [68_000, 0, 68_000]


def test_an_unconstrained_buyer_still_buys_from_the_seller_another_excludes() -> None:
    p = Preferences(excluded_partners=frozenset({acct(1)}))
    other = Order(acct(8), Side.BUY, T, 1, 300, 100_000, 2)
    orders = [pref_buy(p), sell(1, 1_000, 60_000), other]
    c = clear_interval(T, orders, PayAsClear(), GRID, preferences=dict([preference_terms(p)]))
    assert c.trades == [TradeRow(2, 1, 300, 80_000, 80_000, "pay-as-clear")]
    assert c.filled_wh == [0, 300, 300]


def test_preferred_sources_use_source_of() -> None:
    p = Preferences(preferred_sources=frozenset({"solar"}))
    orders = [pref_buy(p), sell(1, 1_000, 60_000), sell(2, 1_000, 200_000)]
    sources = {acct(1): "wind", acct(2): "solar"}
    c = clear_interval(
        T,
        orders,
        PayAsClear(),
        GRID,
        preferences=dict([preference_terms(p)]),
        source_of=sources.get,
    )
    assert c.trades == [TradeRow(0, 2, 1_000, 220_000, 220_000, "preferences")]
    # without the callback no seller has a known source, so none is acceptable
    bare = clear_interval(T, orders, PayAsClear(), GRID, preferences=dict([preference_terms(p)]))
    assert bare.trades == []
    assert bare.filled_wh == [0, 0, 0]


def test_min_reliability_uses_reliability_of() -> None:
    p = Preferences(min_reliability=0.9)
    orders = [pref_buy(p), sell(1, 700, 60_000), sell(2, 700, 100_000), sell(3, 700, 90_000)]
    record = {acct(1): 0.5, acct(2): 0.95, acct(3): 0.9}
    c = clear_interval(
        T,
        orders,
        PayAsClear(),
        GRID,
        preferences=dict([preference_terms(p)]),
        reliability_of=record.__getitem__,
    )
    # merit order among the acceptable: 90_000 (reliability exactly 0.9) then 100_000
    assert c.trades == [
        TradeRow(0, 3, 700, 165_000, 165_000, "preferences"),
        TradeRow(0, 2, 300, 170_000, 170_000, "preferences"),
    ]
    assert c.filled_wh == [1_000, 0, 300, 700]


def test_a_seller_can_rule_out_a_buyer() -> None:
    p = Preferences(excluded_partners=frozenset({acct(8)}))
    terms, _ = preference_terms(p)
    orders = [
        Order(acct(8), Side.BUY, T, 1, 500, 300_000, 1),
        Order(acct(7), Side.BUY, T, 1, 500, 200_000, 1),
        Order(acct(1), Side.SELL, T, 1, 500, 100_000, 1, terms=terms),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID, preferences={terms: p})
    assert c.trades == [TradeRow(1, 2, 500, 150_000, 150_000, "preferences")]


def test_constrained_sellers_are_served_in_merit_order() -> None:
    """Two sellers with preferences that both accept the only buyer: the cheaper offer
    (merit order for sellers: lowest ask first) should sell, as an unconstrained pair
    would in any of the mechanisms."""
    p = Preferences(excluded_partners=frozenset({acct(99)}))
    terms, _ = preference_terms(p)
    orders = [
        Order(acct(3), Side.BUY, T, 1, 100, 250_000, 1),
        Order(acct(1), Side.SELL, T, 1, 100, 100_000, 1, terms=terms),
        Order(acct(2), Side.SELL, T, 1, 100, 200_000, 1, terms=terms),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID, preferences={terms: p})
    assert c.trades == [TradeRow(0, 1, 100, 175_000, 175_000, "preferences")]
    assert c.filled_wh == [100, 100, 0]


def test_constrained_buyers_are_served_in_merit_order() -> None:
    p = Preferences(excluded_partners=frozenset({acct(99)}))
    terms, _ = preference_terms(p)
    orders = [
        Order(acct(3), Side.BUY, T, 1, 100, 150_000, 1, terms=terms),
        Order(acct(4), Side.BUY, T, 1, 100, 250_000, 1, terms=terms),
        Order(acct(1), Side.SELL, T, 1, 100, 100_000, 1),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID, preferences={terms: p})
    assert c.trades == [TradeRow(1, 2, 100, 175_000, 175_000, "preferences")]


def test_terms_not_listed_as_preferences_have_none() -> None:
    p = Preferences(excluded_partners=frozenset({acct(1)}))
    orders = [pref_buy(p), sell(1, 1_000, 60_000)]
    c = clear_interval(T, orders, PayAsClear(), GRID)  # the book knows no preferences
    assert c.trades == [TradeRow(0, 1, 1_000, 150_000, 150_000, "pay-as-clear")]


def test_preference_terms_are_canonical() -> None:
    a = Preferences(excluded_partners=frozenset({acct(1), acct(2)}), min_reliability=0.5)
    b = Preferences(min_reliability=0.5, excluded_partners=frozenset({acct(2), acct(1)}))
    assert preference_terms(a)[0] == preference_terms(b)[0]
    assert preference_terms(a)[0] != preference_terms(Preferences(min_reliability=0.5))[0]
    assert Preferences().empty
    assert not a.empty
    assert Preferences().terms() == {}


# -- group orders ------------------------------------------------------------------------

GROUP = bytes([0x77]) * 32


def group_buy(i: int, quantity: int, price: int = 250_000) -> Order:
    return Order(acct(10 + i), Side.BUY, T, 1, quantity, price, 1, kind=Kind.GROUP, terms=GROUP)


def test_a_group_is_pooled_and_split_pro_rata() -> None:
    orders = [group_buy(0, 100), group_buy(1, 200), group_buy(2, 300), sell(1, 300, 100_000)]
    c = clear_interval(T, orders, PayAsClear(), GRID)
    # one pooled bid of 600 Wh at 250_000 meets 300 Wh at 100_000: all 300 Wh trade at
    # the midpoint 175_000, split 1 : 2 : 3
    assert c.filled_wh == [50, 100, 150, 300]
    assert [r.quantity_wh for r in c.trades] == [50, 100, 150]
    assert {r.price for r in c.trades} == {175_000}
    assert c.amount == [8_750, 17_500, 26_250, 52_500]


def test_a_group_split_with_remainders() -> None:
    orders = [group_buy(0, 100), group_buy(1, 100), group_buy(2, 100), sell(1, 100, 100_000)]
    c = clear_interval(T, orders, PayAsClear(), GRID)
    # 100 Wh over three equal shares: 33 each and the remaining Wh to the earliest
    assert c.filled_wh == [34, 33, 33, 100]
    # 34 Wh at 175_000 = 5_950; 33 Wh = 5_775; the seller 100 Wh = 17_500
    assert c.amount == [5_950, 5_775, 5_775, 17_500]


def test_the_group_competes_as_one_bid() -> None:
    # members 2 and 3 arrive after the 250 Wh spot bid at the same price, but the pooled
    # bid of 300 Wh enters the mechanism as one bid, with its first member's priority
    orders = [
        group_buy(0, 100, 200_000),
        Order(acct(5), Side.BUY, T, 1, 250, 200_000, 1),
        group_buy(1, 100, 200_000),
        group_buy(2, 100, 200_000),
        sell(1, 300, 100_000),
    ]
    c = clear_interval(T, orders, PayAsClear(), GRID)
    assert c.filled_wh == [100, 0, 100, 100, 300]


def test_a_group_with_differing_prices_is_refused() -> None:
    orders = [group_buy(0, 100), group_buy(1, 100, 240_000), sell(1, 100, 100_000)]
    with pytest.raises(OrderError):
        clear_interval(T, orders, PayAsClear(), GRID)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 2_000), min_size=2, max_size=6),
    st.lists(st.tuples(st.integers(1, 800), st.integers(0, 300_000)), min_size=1, max_size=6),
    st.sampled_from(sorted(MECHANISMS)),
)
def test_group_members_fill_in_proportion(
    members: list[int], offers: list[tuple[int, int]], name: str
) -> None:
    orders = [group_buy(i, q) for i, q in enumerate(members)]
    orders += [sell(20 + j, q, p) for j, (q, p) in enumerate(offers)]
    c = clear_interval(T, orders, MECHANISMS[name], GRID)
    got = c.filled_wh[: len(members)]
    total = sum(got)
    whole = sum(members)
    # each stretch the mechanism gives the group is split pro rata to what each member
    # still wants, so a member is off its exact share by less than one Wh per stretch
    stretches = len({(r.sell, r.price) for r in c.trades}) or 1
    for q, g in zip(members, got, strict=True):
        assert 0 <= g <= q
        assert abs(g - Fraction(total * q, whole)) < stretches
    buy_wh, sell_wh = c.sides()
    assert buy_wh == sell_wh == total
