"""The compiled CDA loop against the plain-Python one it replaces: the same trades, in
the same order, for any arrival order, ties included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import ContinuousDoubleAuction, OrderColumns

side = st.lists(st.tuples(st.integers(1, 500), st.integers(0, 20), st.integers(0, 60)), max_size=30)


def columns(rows: list[tuple[int, int, int]]) -> OrderColumns:
    return OrderColumns(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] * 1_000 for r in rows], dtype=np.int64),  # few prices: many ties
        np.array([r[2] for r in rows], dtype=np.int64),  # arrival, ties between sides too
    )


@settings(max_examples=400, deadline=None)
@given(side, side)
def test_compiled_and_python_cda_trade_alike(
    bids: list[tuple[int, int, int]], offers: list[tuple[int, int, int]]
) -> None:
    b, o = columns(bids), columns(offers)
    cda = ContinuousDoubleAuction()
    fast, slow = cda.clear(b, o), cda.clear_python(b, o)
    for name in ("bid", "offer", "quantity_wh", "price"):
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist(), name


def test_prices_beyond_the_packed_keys_fall_back_to_python() -> None:
    huge = 2**40
    bids = OrderColumns(np.array([5]), np.array([huge]), np.array([1]))
    offers = OrderColumns(np.array([3]), np.array([huge - 1]), np.array([0]))
    trades = ContinuousDoubleAuction().clear(bids, offers)
    assert trades.quantity_wh.tolist() == [3]
    assert trades.price.tolist() == [huge - 1]  # the resting offer's price
