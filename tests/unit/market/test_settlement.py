"""Settlement after delivery: money conserved to the micro over random clearings
(Hypothesis), each rule checked against an independent recomputation, and a worked
example computed by hand."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import MECHANISMS, GridPrices
from gridshare.market.orders import MarketRules, Order, Side
from gridshare.market.session import IntervalClearing, clear_interval
from gridshare.market.settlement import settle

GRID = GridPrices(280_000, 70_000)
T = 1_800_000_000 - 1_800_000_000 % 900


def acct(i: int) -> bytes:
    return bytes([i]) * 20


def ceil_frac(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def floor_frac(x: Fraction) -> int:
    return x.numerator // x.denominator


@st.composite
def cleared(draw: st.DrawFn) -> tuple[IntervalClearing, list[int], MarketRules]:
    n = draw(st.integers(0, 12))
    orders = [
        Order(
            acct(1 + i),
            draw(st.sampled_from(Side)),
            T,
            1,
            draw(st.integers(1, 3_000)),
            draw(st.integers(0, 400_000)),
            i,
        )
        for i in range(n)
    ]
    mechanism = MECHANISMS[draw(st.sampled_from(sorted(MECHANISMS)))]
    clearing = clear_interval(T, orders, mechanism, GRID)
    # what each seller's meter delivered: anything from nothing (or a bad reading below
    # zero) to more than it sold
    delivered = [
        draw(st.integers(-50, f + 50)) if o.side is Side.SELL else draw(st.integers(0, 10))
        for o, f in zip(orders, clearing.filled_wh, strict=True)
    ]
    rules = MarketRules(
        interval_s=900,
        fee_per_kwh=draw(st.sampled_from([0, 1, 999, 10_000])),
        fee_bps=draw(st.sampled_from([0, 1, 33, 1_000])),
    )
    return clearing, delivered, rules


@settings(max_examples=400, deadline=None)
@given(cleared())
def test_money_is_conserved_and_every_rule_holds(
    case: tuple[IntervalClearing, list[int], MarketRules],
) -> None:
    clearing, delivered, rules = case
    s = settle(clearing, delivered, rules)
    orders = clearing.orders
    n = len(orders)
    buys = [i for i in range(n) if orders[i].side is Side.BUY]
    sells = [i for i in range(n) if orders[i].side is Side.SELL]
    assert s.start_s == T
    assert len(s.paid) == len(s.credited) == len(s.fee) == len(s.refund) == n

    # sellers: paid for what they delivered, amount * delivered // filled
    withheld = 0
    for i in sells:
        filled, amount = clearing.filled_wh[i], clearing.amount[i]
        got = min(max(delivered[i], 0), filled)
        assert s.delivered_wh[i] == got
        expect = floor_frac(Fraction(amount * got, filled)) if filled else 0
        assert s.credited[i] == expect
        assert 0 <= s.credited[i] <= amount
        assert s.paid[i] == s.fee[i] == s.refund[i] == 0
        withheld += amount - expect
    # buyers: pay amount + fee (per kWh and in basis points, each rounded up)
    buy_total = sum(clearing.amount[i] for i in buys)
    for i in buys:
        filled, amount = clearing.filled_wh[i], clearing.amount[i]
        fee = ceil_frac(Fraction(filled * rules.fee_per_kwh, 1000)) + ceil_frac(
            Fraction(amount * rules.fee_bps, 10_000)
        )
        assert s.fee[i] == fee
        assert s.paid[i] == amount + fee
        # refunds of the withheld money, pro rata to what each buyer paid, rounded down
        share = Fraction(withheld * amount, buy_total) if buy_total else Fraction(0)
        assert s.refund[i] == floor_frac(share)
        assert s.credited[i] == s.refund[i]
    refunds = sum(s.refund)
    assert withheld - len(buys) < refunds <= withheld or refunds == withheld == 0

    # money: every micro debited is credited to someone; the fund's part is what nobody
    # else is owed, never negative
    assert sum(s.paid) == sum(s.credited) + s.to_fund
    assert s.debits == s.credits
    assert s.to_fund >= 0
    fees = sum(s.fee)
    spread = buy_total - sum(clearing.amount[i] for i in sells)
    assert s.to_fund == fees + spread + (withheld - refunds)

    # energy: what buyers received is what sellers delivered; each buyer short by at most
    # its share of the shortfall, rounded up
    sold = sum(clearing.filled_wh[i] for i in sells)
    out = sum(s.delivered_wh[i] for i in sells)
    if sold:
        assert sum(s.delivered_wh[i] for i in buys) == out
    for i in buys:
        filled = clearing.filled_wh[i]
        short = filled - s.delivered_wh[i]
        exact = Fraction((sold - out) * filled, sold) if sold else Fraction(0)
        assert 0 <= short <= filled
        assert abs(short - exact) < 1


def test_worked_example() -> None:
    """Buyers A (1000 Wh for 200_000 micros) and B (500 Wh for 100_000); sellers S1 (1000
    Wh for 200_000, delivers 701) and S2 (500 Wh for 99_999, delivers all); plus an order
    of each side that did not trade. Fees 10_000 micros/kWh and 1 %."""
    orders = [
        Order(acct(1), Side.BUY, T, 1, 1_000, 250_000, 1),
        Order(acct(2), Side.BUY, T, 1, 800, 250_000, 1),
        Order(acct(3), Side.SELL, T, 1, 1_000, 150_000, 1),
        Order(acct(4), Side.SELL, T, 1, 500, 150_000, 1),
        Order(acct(5), Side.BUY, T, 1, 100, 10_000, 1),
        Order(acct(6), Side.SELL, T, 1, 100, 390_000, 1),
    ]
    clearing = IntervalClearing(
        T,
        orders,
        "by hand",
        filled_wh=[1_000, 500, 1_000, 500, 0, 0],
        amount=[200_000, 100_000, 200_000, 99_999, 0, 0],
    )
    rules = MarketRules(interval_s=900, fee_per_kwh=10_000, fee_bps=100)
    s = settle(clearing, [0, 0, 701, 500, 0, 80], rules)
    # fees: A 10_000 + 2_000, B 5_000 + 1_000
    assert s.fee == [12_000, 6_000, 0, 0, 0, 0]
    assert s.paid == [212_000, 106_000, 0, 0, 0, 0]
    # S1 is paid 200_000 * 701 // 1000 = 140_200 and 59_800 are withheld; S2 in full.
    # Refunds: 59_800 * 2/3 = 39_866.67 -> 39_866 and 59_800 / 3 = 19_933.33 -> 19_933
    assert s.refund == [39_866, 19_933, 0, 0, 0, 0]
    assert s.credited == [39_866, 19_933, 140_200, 99_999, 0, 0]
    # the fund: fees 18_000 + spread 1 + the refunds' rounding 1
    assert s.to_fund == 18_002
    assert s.debits == s.credits == 318_000
    # 299 Wh not delivered, shared 2 : 1 by largest remainder (199.33, 99.67 -> 199, 100)
    assert s.delivered_wh == [801, 400, 701, 500, 0, 0]


def test_full_delivery_withholds_nothing() -> None:
    orders = [
        Order(acct(1), Side.BUY, T, 1, 300, 250_000, 1),
        Order(acct(2), Side.SELL, T, 1, 300, 100_000, 1),
    ]
    clearing = clear_interval(T, orders, MECHANISMS["pay-as-clear"], GRID)
    assert clearing.amount == [52_500, 52_500]  # 300 Wh at the midpoint 175_000
    s = settle(clearing, [0, 300], MarketRules(interval_s=900))
    assert s.paid == [52_500, 0]
    assert s.credited == [0, 52_500]
    assert s.refund == [0, 0]
    assert s.to_fund == 0
    assert s.delivered_wh == [300, 300]


def test_a_seller_that_delivers_nothing_is_refunded_to_the_buyers() -> None:
    orders = [
        Order(acct(1), Side.BUY, T, 1, 300, 250_000, 1),
        Order(acct(2), Side.SELL, T, 1, 300, 100_000, 1),
    ]
    clearing = clear_interval(T, orders, MECHANISMS["pay-as-clear"], GRID)
    s = settle(clearing, [0, -7], MarketRules(interval_s=900, fee_per_kwh=1_000))
    assert s.delivered_wh == [0, 0]
    assert s.paid == [52_500 + 300, 0]
    assert s.credited == [52_500, 0]  # the whole amount back; the fee stays with the fund
    assert s.to_fund == 300
