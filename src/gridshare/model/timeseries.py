"""Put time series of piecewise-constant power onto fixed intervals (pure NumPy).

Weather files are hourly and standard load profiles quarter-hourly; the pipeline runs on
the scenario's interval length. Both are handled the same way: a series of energies per
native step (power constant within a step) is integrated, and the energy of any interval
is the difference of that integral at its end and its start. Energy is conserved exactly
up to float rounding, whatever the two step lengths are.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridshare.model.errors import ModelError
from gridshare.units import FloatArray


def cumulative_energy(energy_per_step: FloatArray) -> FloatArray:
    """Integral of a step series at the step boundaries: ``len(energy_per_step) + 1`` values."""
    values = np.asarray(energy_per_step, dtype=np.float64)
    cumulative = np.empty(values.shape[0] + 1, dtype=np.float64)
    cumulative[0] = 0.0
    np.cumsum(values, axis=0, out=cumulative[1:])
    return cumulative


def cumulative_at(
    cumulative: FloatArray, native_start_s: int, native_step_s: int, at_s: NDArray[np.int64]
) -> FloatArray:
    """The integral of the series from its start up to each instant ``at_s`` (any shape).

    Rounding these values and taking differences gives whole-Wh interval energies whose
    rounding errors never accumulate, as with a meter's cumulative register.
    """
    position = (np.asarray(at_s, dtype=np.float64) - native_start_s) / native_step_s
    n_steps = cumulative.shape[0] - 1
    if position.size and (position.min() < 0 or position.max() > n_steps):
        raise ModelError(
            "requested instants fall outside the series "
            f"(steps {position.min():.2f}..{position.max():.2f} of 0..{n_steps})"
        )
    grid = np.arange(cumulative.shape[0], dtype=np.float64)
    result: FloatArray = np.interp(position, grid, cumulative)
    return result


def energy_on_intervals(
    cumulative: FloatArray,
    native_start_s: int,
    native_step_s: int,
    starts_s: NDArray[np.int64],
    length_s: int,
) -> FloatArray:
    """Energy in each interval ``[start, start + length_s)`` from a cumulative step series.

    ``starts_s`` may have any shape (for instance ``[intervals, members]`` with per-member
    time shifts); the result has the same shape. Intervals must lie within the series.
    """
    starts = np.asarray(starts_s, dtype=np.int64)
    end = cumulative_at(cumulative, native_start_s, native_step_s, starts + length_s)
    start = cumulative_at(cumulative, native_start_s, native_step_s, starts)
    result: FloatArray = end - start
    return result
