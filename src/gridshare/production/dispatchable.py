"""Rules for dispatchable generators (hydro, biomass) before the optimiser of issue 6."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridshare.errors import DataError

IntArray = NDArray[np.int64]


def follow_load(deficit_wh: int, available_wh: IntArray) -> IntArray:
    """Share ``deficit_wh`` among units pro rata to what each has available (int Wh).

    Each unit gives at most its available energy; the total given is
    ``min(deficit_wh, sum(available_wh))``. Shares are rounded down and the Wh left by
    rounding go, one each, to the units with the largest remainders (largest-remainder
    method), so the total is exact.
    """
    available = np.asarray(available_wh, dtype=np.int64)
    if (available < 0).any():
        raise DataError("available energy of a generator must be >= 0 Wh")
    total_available = int(available.sum())
    target = max(0, min(int(deficit_wh), total_available))
    if target == 0 or total_available == 0:
        return np.zeros_like(available)
    exact = available.astype(object) * target
    shares = np.array([int(x // total_available) for x in exact], dtype=np.int64)
    remainders = np.array([int(x % total_available) for x in exact], dtype=np.int64)
    left = target - int(shares.sum())
    if left:
        order = np.argsort(-remainders, kind="stable")[:left]
        shares[order] += 1
    return shares
