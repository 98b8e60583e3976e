"""follow_load shares a deficit among dispatchable units, exactly and pro rata."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.errors import DataError
from gridshare.production.dispatchable import follow_load

available_lists = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12)


@settings(max_examples=200)
@given(deficit_wh=st.integers(min_value=-(10**10), max_value=2 * 10**10), available=available_lists)
def test_total_is_exact_and_each_share_within_availability(
    deficit_wh: int, available: list[int]
) -> None:
    """The units give min(deficit, sum(available)) in total, each within [0, available]."""
    available_wh = np.array(available, dtype=np.int64)
    shares = follow_load(deficit_wh, available_wh)
    assert shares.dtype == np.int64
    assert shares.shape == available_wh.shape
    assert int(shares.sum()) == max(0, min(deficit_wh, sum(available)))
    assert (shares >= 0).all()
    assert (shares <= available_wh).all()


@settings(max_examples=200)
@given(deficit_wh=st.integers(min_value=0, max_value=2 * 10**10), available=available_lists)
def test_shares_are_pro_rata_within_one_wh(deficit_wh: int, available: list[int]) -> None:
    """Each share is its pro-rata part rounded down or up (largest-remainder method)."""
    shares = follow_load(deficit_wh, np.array(available, dtype=np.int64))
    total = sum(available)
    target = min(deficit_wh, total)
    for share, units in zip(shares.tolist(), available, strict=True):
        exact_floor = units * target // total if total else 0
        assert share - exact_floor in (0, 1)


@pytest.mark.parametrize("deficit_wh", [0, -1, -5_000])
def test_no_deficit_gives_zeros(deficit_wh: int) -> None:
    """Without a deficit nobody runs."""
    shares = follow_load(deficit_wh, np.array([100, 200, 0], dtype=np.int64))
    assert shares.tolist() == [0, 0, 0]


def test_nothing_available_gives_zeros() -> None:
    """Without capacity nobody runs, however large the deficit."""
    assert follow_load(1_000, np.array([0, 0], dtype=np.int64)).tolist() == [0, 0]


def test_leftover_wh_go_to_largest_remainders() -> None:
    """10 Wh over three equal units: 3 each, the extra Wh to the first (stable order)."""
    assert follow_load(10, np.array([5, 5, 5], dtype=np.int64)).tolist() == [4, 3, 3]
    assert follow_load(7, np.array([1, 2, 4], dtype=np.int64)).tolist() == [1, 2, 4]
    assert follow_load(100, np.array([30, 70], dtype=np.int64)).tolist() == [30, 70]
    assert follow_load(50, np.array([30, 70], dtype=np.int64)).tolist() == [15, 35]


def test_negative_availability_is_refused() -> None:
    """A generator cannot have negative energy available."""
    with pytest.raises(DataError, match=">= 0 Wh"):
        follow_load(10, np.array([5, -1], dtype=np.int64))
