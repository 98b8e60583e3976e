"""Trading agents: prices between the grid's tariffs, battery urgency, budgets, signed
orders with increasing nonces; recurring rules in local time across a DST change."""

from __future__ import annotations

import calendar
from datetime import time

import pytest
from eth_account import Account
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridshare.market.agents import RecurringRule, Strategy, TradingAgent
from gridshare.market.clearing import GridPrices
from gridshare.market.orders import (
    NO_EXPIRY,
    Kind,
    MarketRules,
    OrderBook,
    Side,
    domain_separator,
    terms_hash,
)
from gridshare.market.session import Preferences

GRID = GridPrices(280_000, 70_000)
RULES = MarketRules(interval_s=900)
DOMAIN = domain_separator(31337, bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512"))
KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
MAKER = bytes.fromhex(Account.from_key(KEY).address[2:])
T = 1_800_000_000 - 1_800_000_000 % 900


def agent(**strategy: object) -> TradingAgent:
    return TradingAgent(MAKER, KEY, Strategy(**strategy))  # type: ignore[arg-type]


def test_a_buy_for_a_positive_forecast_between_the_grid_prices() -> None:
    o = agent().order_for(T, 1_500, GRID, RULES, DOMAIN)
    assert o is not None
    assert o.side is Side.BUY
    assert o.quantity_wh == 1_500
    assert (o.first_interval, o.intervals, o.kind, o.expiry) == (T, 1, Kind.SPOT, NO_EXPIRY)
    # default bid 0.6 of the way from export to import: 70_000 + 0.6 * 210_000
    assert o.price == 196_000
    assert GRID.sell < o.price < GRID.buy


def test_a_sell_for_a_negative_forecast() -> None:
    o = agent().order_for(T, -2_000, GRID, RULES, DOMAIN)
    assert o is not None
    assert o.side is Side.SELL
    assert o.quantity_wh == 2_000
    assert o.price == 70_000 + 63_000  # ask 0.3 of the spread
    assert GRID.sell < o.price < GRID.buy


@pytest.mark.parametrize("forecast", [0, 49, -49])
def test_no_order_for_tiny_forecasts(forecast: int) -> None:
    a = agent(min_trade_wh=50)
    assert a.order_for(T, forecast, GRID, RULES, DOMAIN) is None
    assert a.nonce == 0
    assert a.order_for(T, 50, GRID, RULES, DOMAIN) is not None
    assert agent().order_for(T, 0, GRID, RULES, DOMAIN) is None


def test_an_empty_battery_raises_the_bid() -> None:
    # urgency (1 - soc) * (1 - 0.6) / 2: soc 0 -> bid at 0.8, soc 0.5 -> 0.7, soc 1 -> 0.6
    prices = [agent().order_for(T, 1_000, GRID, RULES, DOMAIN, soc=s).price for s in (0, 0.5, 1)]  # type: ignore[union-attr]
    assert prices == [238_000, 217_000, 196_000]


def test_a_full_battery_lowers_the_ask() -> None:
    # eagerness soc * 0.3 / 2: soc 1 -> ask at 0.15
    prices = [agent().order_for(T, -1_000, GRID, RULES, DOMAIN, soc=s).price for s in (0, 1)]  # type: ignore[union-attr]
    assert prices == [133_000, 101_500]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-20_000, 20_000).filter(lambda f: f != 0),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.integers(0, 400_000),
    st.integers(0, 400_000),
)
def test_prices_stay_within_the_grid_and_urgency_is_monotone(
    forecast: int, bid: float, ask: float, soc: float, lower: float, a: int, b: int
) -> None:
    grid = GridPrices(max(a, b), min(a, b))
    soc_low = soc * lower
    made = [
        agent(bid_fraction=bid, ask_fraction=ask).order_for(T, forecast, grid, RULES, DOMAIN, s)
        for s in (None, soc, soc_low)
    ]
    for o in made:
        assert o is not None
        assert grid.sell <= o.price <= grid.buy
        assert o.side is (Side.BUY if forecast > 0 else Side.SELL)
        assert o.quantity_wh == abs(forecast)
    # an emptier battery never lowers the price: a buyer bids more, a seller asks more
    _, at_soc, at_lower = made
    assert at_lower.price >= at_soc.price  # type: ignore[union-attr]


def test_prices_are_clamped_to_the_market_band() -> None:
    rules = MarketRules(interval_s=900, min_price=150_000, max_price=180_000)
    assert agent().order_for(T, 1_000, GRID, rules, DOMAIN).price == 180_000  # type: ignore[union-attr]
    assert agent().order_for(T, -1_000, GRID, rules, DOMAIN).price == 150_000  # type: ignore[union-attr]


def test_quantity_is_capped_at_the_market_limit() -> None:
    rules = MarketRules(interval_s=900, max_quantity_wh=5_000)
    assert agent().order_for(T, 9_000, GRID, rules, DOMAIN).quantity_wh == 5_000  # type: ignore[union-attr]
    assert agent().order_for(T, -9_000, GRID, rules, DOMAIN).quantity_wh == 5_000  # type: ignore[union-attr]


def test_a_budget_shrinks_the_bid_and_stops_it_when_spent() -> None:
    # the bid is 196_000 micros/kWh = 196 micros/Wh (no fees): 98_195 micros buy 500 Wh
    # (501 Wh would cost 98_196)
    a = agent(budget_micros=98_195)
    o = a.order_for(T, 2_000, GRID, RULES, DOMAIN)
    assert o is not None
    assert o.quantity_wh == 500
    assert RULES.max_cost(o.quantity_wh, o.price) == 98_000
    a.paid(98_000)
    assert a.spent_micros == 98_000
    assert a.order_for(T + 900, 2_000, GRID, RULES, DOMAIN) is None  # 195 micros: < 1 Wh
    a.paid(195)
    assert a.order_for(T + 900, 2_000, GRID, RULES, DOMAIN) is None
    # sells are never capped by a budget
    assert a.order_for(T + 900, -2_000, GRID, RULES, DOMAIN).quantity_wh == 2_000  # type: ignore[union-attr]


def test_a_budget_below_min_trade_returns_none() -> None:
    a = agent(budget_micros=196 * 40, min_trade_wh=50)  # 40 Wh affordable, 50 the minimum
    assert a.order_for(T, 2_000, GRID, RULES, DOMAIN) is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 20_000),
    st.integers(0, 50_000),
    st.integers(0, 5_000),
    st.sampled_from([0, 1_000, 10_000]),
    st.sampled_from([0, 25, 100]),
    st.sampled_from([0.5, 0.55, 0.6, 0.6013, 0.7]),
)
@example(forecast=10_000, budget=937, spent=0, fee_per_kwh=0, fee_bps=100, bid=0.55)
def test_a_budgeted_bid_never_costs_more_than_what_is_left(
    forecast: int, budget: int, spent: int, fee_per_kwh: int, fee_bps: int, bid: float
) -> None:
    """The worst-case cost of the bid (MarketRules.max_cost, fee included: what escrow
    reserves for it) fits what is left of the budget. The example: a 185_500 bid with a
    1 % fee; 5 Wh cost ceil(927.5) = 928 + ceil(9.28) = 10 = 938 > 937."""
    rules = MarketRules(interval_s=900, fee_per_kwh=fee_per_kwh, fee_bps=fee_bps)
    a = agent(budget_micros=budget, bid_fraction=bid)
    a.paid(spent)
    o = a.order_for(T, forecast, GRID, rules, DOMAIN)
    if o is not None:
        assert 1 <= o.quantity_wh <= forecast
        assert rules.max_cost(o.quantity_wh, o.price) <= budget - spent


def test_orders_are_signed_by_the_agents_key_with_increasing_nonces() -> None:
    prefs = Preferences(preferred_sources=frozenset({"solar"}))
    a = agent(preferences=prefs)
    made = [a.order_for(T + k * 900, f, GRID, RULES, DOMAIN) for k, f in enumerate([5, -7, 9])]
    assert all(o is not None for o in made)
    assert [o.nonce for o in made] == [1, 2, 3]  # type: ignore[union-attr]
    for o in made:
        assert o is not None
        assert o.maker == MAKER
        assert o.signer(DOMAIN) == MAKER
        assert o.signer(domain_separator(1, bytes(20))) != MAKER
        assert o.terms == terms_hash({"preferred_sources": ["solar"]})
    # a book of this market accepts them
    b = OrderBook(RULES, DOMAIN, frozenset({MAKER}), {MAKER: 10**9}, now_s=T - 900)
    assert [b.submit(o) for o in made] == [None, None, None]  # type: ignore[arg-type]


# -- recurring rules ---------------------------------------------------------------------

EVENINGS = RecurringRule(
    Side.BUY,
    2_000,
    250_000,
    frozenset({0, 1, 2, 3, 4}),
    time(18),
    time(21),
    "Europe/Berlin",
)


def utc(*ymdhm: int) -> int:
    return calendar.timegm((*ymdhm, 0))


@pytest.mark.parametrize(
    ("start", "active"),
    [
        # Friday 29 March 2024, CET (UTC+1): 18:00-21:00 local is 17:00-20:00 UTC
        (utc(2024, 3, 29, 16, 45), False),
        (utc(2024, 3, 29, 17, 0), True),
        (utc(2024, 3, 29, 19, 45), True),
        (utc(2024, 3, 29, 20, 0), False),
        # Saturday 30 March: a weekend
        (utc(2024, 3, 30, 17, 0), False),
        # DST starts on Sunday 31 March; Monday 1 April is CEST (UTC+2): 16:00-19:00 UTC
        (utc(2024, 4, 1, 15, 45), False),
        (utc(2024, 4, 1, 16, 0), True),
        (utc(2024, 4, 1, 17, 0), True),
        (utc(2024, 4, 1, 18, 45), True),
        (utc(2024, 4, 1, 19, 0), False),
        # and back: Friday 25 October 2024 CEST, Monday 28 October CET
        (utc(2024, 10, 25, 16, 0), True),
        (utc(2024, 10, 25, 19, 0), False),
        (utc(2024, 10, 28, 16, 0), False),
        (utc(2024, 10, 28, 19, 45), True),
    ],
)
def test_recurring_rule_is_active_in_local_time(start: int, active: bool) -> None:
    assert EVENINGS.active(start) is active


def test_recurring_starts_lists_only_the_active_intervals_across_dst() -> None:
    first = utc(2024, 3, 29, 0, 0)  # Friday, 00:00 UTC
    order = EVENINGS.order(MAKER, first, 4 * 96, nonce=3)  # Friday to Monday, quarter hours
    assert order.kind is Kind.RECURRING
    assert (order.quantity_wh, order.price, order.intervals) == (2_000, 250_000, 384)
    assert order.terms == terms_hash(
        {
            "rule": "recurring",
            "weekdays": [0, 1, 2, 3, 4],
            "from": "18:00:00",
            "to": "21:00:00",
            "time_zone": "Europe/Berlin",
        }
    )
    friday = list(range(utc(2024, 3, 29, 17, 0), utc(2024, 3, 29, 20, 0), 900))
    monday = list(range(utc(2024, 4, 1, 16, 0), utc(2024, 4, 1, 19, 0), 900))
    assert list(EVENINGS.starts(order, 900)) == friday + monday
    assert len(friday) == len(monday) == 12


def test_a_recurring_order_is_booked_only_where_the_rule_is_active() -> None:
    first = utc(2024, 3, 29, 0, 0)
    signed = EVENINGS.order(MAKER, first, 4 * 96, nonce=3).signed(KEY, DOMAIN)
    cost = RULES.max_cost(2_000, 250_000)  # 500_000 per interval
    b = OrderBook(RULES, DOMAIN, frozenset({MAKER}), {MAKER: 24 * cost}, now_s=first - 60)
    assert b.submit(signed, starts=EVENINGS.starts(signed, 900)) is None
    assert b.orders_for(utc(2024, 3, 29, 17, 0)) == [signed]
    assert b.orders_for(utc(2024, 3, 29, 16, 45)) == []
    assert b.orders_for(utc(2024, 4, 1, 16, 0)) == [signed]
    assert b.orders_for(utc(2024, 3, 30, 17, 0)) == []
    assert b.reserved(MAKER, utc(2024, 4, 1, 18, 45)) == cost
