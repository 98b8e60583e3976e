"""The plan's horizon in steps: the first intervals at full resolution, the rest in blocks
(pure). ``docs/balancing.md`` explains why the dispatch LP is blocked this way."""

from __future__ import annotations

import numpy as np

from gridshare.units import FloatArray, IntArray

__all__ = ["block_sum", "horizon_spans"]


def horizon_spans(horizon: int, fine: int, block: int) -> IntArray:
    """Step lengths (in intervals) covering ``horizon`` intervals: ``fine`` single
    intervals, then blocks of ``block``, the last block shorter when it does not divide."""
    if horizon < 1 or fine < 0 or block < 1:
        raise ValueError("a horizon needs horizon >= 1, fine >= 0 and block >= 1 intervals")
    fine = min(fine, horizon)
    rest = horizon - fine
    spans = [1] * fine + [block] * (rest // block)
    if rest % block:
        spans.append(rest % block)
    return np.array(spans, dtype=np.int64)


def block_sum(series: FloatArray, spans: IntArray) -> FloatArray:
    """Sum a per-interval series (last axis) over each step of ``spans``."""
    edges = np.concatenate(([0], np.cumsum(spans)[:-1]))
    summed: FloatArray = np.add.reduceat(series, edges, axis=-1)
    return summed
