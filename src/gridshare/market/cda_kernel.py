"""The continuous double auction's matching loop, compiled with numba.

Both books are binary heaps of ``int64`` keys: the price part in the high bits (the
offer's price, or the bid's price subtracted from a ceiling, so the best order is the
smallest key) and the order's arrival rank in the low 31 bits, which gives time priority
among equal prices. The loop is the one ``ContinuousDoubleAuction`` documents: each
arriving order matches the best resting orders of the other side while the prices cross,
at the resting order's price, and what is left rests.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

RANK_BITS = 31
PRICE_LIMIT = 1 << 31
"""Prices (micro-units per kWh) and counts below this fit the packed keys."""


@njit(cache=True)
def _push(heap: NDArray[np.int64], size: int, key: int) -> int:
    i = size
    heap[i] = key
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _pop(heap: NDArray[np.int64], size: int) -> int:
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[i] <= heap[child]:
            break
        heap[i], heap[child] = heap[child], heap[i]
        i = child
    return size


@njit(cache=True)
def cda_match(
    arrivals: NDArray[np.int64],
    n_bids: int,
    price: NDArray[np.int64],
    rank: NDArray[np.int64],
    quantity: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Match orders (bids first, then offers, in the columns) in ``arrivals`` order.

    ``rank`` is each order's arrival rank within its side. Returns the trades' bid
    positions, offer positions, Wh and prices.
    """
    n = price.size
    left = quantity.copy()
    by_rank_bid = np.empty(n_bids, dtype=np.int64)
    by_rank_offer = np.empty(n - n_bids, dtype=np.int64)
    for i in range(n):
        if i < n_bids:
            by_rank_bid[rank[i]] = i
        else:
            by_rank_offer[rank[i]] = i
    bid_heap = np.empty(n_bids + 1, dtype=np.int64)
    offer_heap = np.empty(n - n_bids + 1, dtype=np.int64)
    n_bh = 0
    n_oh = 0
    mask = (1 << RANK_BITS) - 1
    # each trade uses up the arriving or the resting order: at most n trades
    out_b = np.empty(n, dtype=np.int64)
    out_o = np.empty(n, dtype=np.int64)
    out_q = np.empty(n, dtype=np.int64)
    out_p = np.empty(n, dtype=np.int64)
    t = 0
    for at in arrivals:
        limit = price[at]
        if at < n_bids:
            while left[at] > 0 and n_oh > 0:
                j = by_rank_offer[offer_heap[0] & mask]
                if price[j] > limit:
                    break
                q = min(left[at], left[j])
                out_b[t], out_o[t], out_q[t], out_p[t] = at, j - n_bids, q, price[j]
                t += 1
                left[at] -= q
                left[j] -= q
                if left[j] == 0:
                    n_oh = _pop(offer_heap, n_oh)
            if left[at] > 0:
                n_bh = _push(bid_heap, n_bh, ((PRICE_LIMIT - limit) << RANK_BITS) | rank[at])
        else:
            while left[at] > 0 and n_bh > 0:
                i = by_rank_bid[bid_heap[0] & mask]
                if price[i] < limit:
                    break
                q = min(left[at], left[i])
                out_b[t], out_o[t], out_q[t], out_p[t] = i, at - n_bids, q, price[i]
                t += 1
                left[at] -= q
                left[i] -= q
                if left[i] == 0:
                    n_bh = _pop(bid_heap, n_bh)
            if left[at] > 0:
                n_oh = _push(offer_heap, n_oh, (limit << RANK_BITS) | rank[at])
    return out_b[:t], out_o[:t], out_q[:t], out_p[:t]
