"""Community pricing schemes: prices within the grid's, the grid bill covered exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.errors import DataError
from gridshare.market.community import SCHEMES, settle_community

BUY, SELL = 280_000, 70_000


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-5_000, 5_000), max_size=20),
    st.integers(0, 400_000),
    st.integers(0, 400_000),
    st.sampled_from(SCHEMES),
)
def test_schemes_stay_within_the_grid_and_cover_its_bill(
    positions: list[int], a: int, b: int, scheme: str
) -> None:
    grid_buy, grid_sell = max(a, b), min(a, b)
    s = settle_community(positions, grid_buy, grid_sell, scheme)
    if scheme != "bill-sharing":  # there internal energy is free, so prices can be lower
        assert grid_sell <= s.sell_price <= grid_buy
        assert grid_sell <= s.buy_price <= grid_buy
    assert s.buy_price <= grid_buy
    # nobody pays more than the grid would charge, nobody gets less than... their share
    for p, pays in zip(positions, s.pays, strict=True):
        if p > 0:
            assert pays <= -(-p * grid_buy // 1000)
    # money: buyers = sellers + the community's grid bill, plus rounding to the fund
    members = sum(1 for p in positions if p)
    assert 0 <= s.rounding <= members + 1


def test_sdr_example_from_the_definition() -> None:
    # 3 kWh supplied, 4 kWh demanded: SDR = 3/4
    s = settle_community([4_000, -3_000], BUY, SELL, "sdr")
    sell = Fraction(BUY * SELL) / ((BUY - SELL) * Fraction(3, 4) + SELL)
    assert s.sell_price == sell
    assert s.buy_price == sell * Fraction(3, 4) + BUY * Fraction(1, 4)
    surplus = settle_community([1_000, -3_000], BUY, SELL, "sdr")
    assert surplus.buy_price == surplus.sell_price == SELL


def test_mid_market_blends_the_excess_with_the_grid() -> None:
    s = settle_community([1_000, -3_000], BUY, SELL, "mid-market")
    mid = Fraction(BUY + SELL, 2)
    assert s.buy_price == mid
    assert s.sell_price == (1 * mid + 2 * SELL) / 3
    assert s.grid_bill == -2_000 * SELL // 1000


def test_bill_sharing_splits_the_import_cost_by_demand() -> None:
    s = settle_community([3_000, 1_000, -2_000], BUY, SELL, "bill-sharing")
    assert s.grid_bill == 2_000 * BUY // 1000
    assert s.pays == [3 * s.grid_bill // 4, s.grid_bill // 4, 0]
    assert s.receives == [0, 0, 0]


def test_unknown_scheme_and_bad_tariff_are_refused() -> None:
    with pytest.raises(DataError, match="unknown community pricing scheme"):
        settle_community([1], BUY, SELL, "lottery")
    with pytest.raises(DataError, match="export price <= import price"):
        settle_community([1], SELL, BUY, "sdr")
