"""Rules for dispatchable generators (hydro, biomass) before the optimiser of issue 6."""

from __future__ import annotations

import numpy as np

from gridshare.errors import DataError
from gridshare.units import IntArray, split_pro_rata


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
    target = max(0, min(int(deficit_wh), int(available.sum())))
    return split_pro_rata(target, available)
