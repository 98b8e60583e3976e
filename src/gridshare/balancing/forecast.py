"""Forecasts for the rolling dispatch plan: a seasonal profile with a fading correction.

For every series (a member's consumption or production) the forecast of the interval
``h`` steps ahead is

    profile[h] + (latest - profile_at_latest) * decay ** h

where ``profile`` is the mean of the same time of day over the last ``days`` days (the
seasonal naive method when ``days = 1``; Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., section 5.2) and the second term carries today's
departure from the profile (a cloudy morning, a cold evening) into the next hours,
fading with ``decay`` per interval. Before a day of history exists the forecast is the
latest value (persistence). Forecasts stay within zero and the largest value held (the
series are energies). It is cheap, has no parameters to fit, and is a fair baseline;
any better forecaster can replace it behind the same two methods.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridshare.errors import DataError
from gridshare.units import FloatArray


class SeasonalForecaster:
    """Keeps the last ``days`` days of ``n`` series and forecasts them."""

    def __init__(
        self, n: int, intervals_per_day: int, *, days: int = 3, decay: float = 0.9
    ) -> None:
        if n < 0 or intervals_per_day < 1 or days < 1:
            raise DataError("a forecaster needs n >= 0 series, >= 1 interval a day and day")
        if not 0.0 <= decay < 1.0:
            raise DataError("the correction's decay must lie in [0, 1)")
        self.n = n
        self.period = intervals_per_day
        self.days = days
        self.decay = decay
        self._ring = np.zeros((n, intervals_per_day * (days + 1)), dtype=np.float64)
        self._seen = 0

    @property
    def observed(self) -> int:
        """How many intervals have been observed."""
        return self._seen

    def observe(self, values: FloatArray) -> None:
        """Add the latest interval's values (one per series)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n,):
            raise DataError(f"expected {self.n} values for the forecaster, got {values.shape}")
        self._ring[:, self._seen % self._ring.shape[1]] = values
        self._seen += 1

    def _profile(self, absolute: NDArray[np.int64]) -> FloatArray:
        """For each index, the mean of the same time of day on the (up to ``days``) most
        recent observed days before it."""
        size = self._ring.shape[1]
        latest = self._seen - 1
        oldest = max(0, self._seen - size)
        # the most recent observed index with the same time of day, strictly before
        ahead = np.maximum(absolute - latest, 1)
        recent = absolute - self.period * np.ceil(ahead / self.period).astype(np.int64)
        total = np.zeros((self.n, absolute.size), dtype=np.float64)
        count = np.zeros(absolute.size, dtype=np.int64)
        for d in range(self.days):
            back = recent - d * self.period
            valid = back >= oldest
            total[:, valid] += self._ring[:, back[valid] % size]
            count += valid
        return total / np.maximum(count, 1)

    def forecast(self, horizon: int) -> FloatArray:
        """(n, horizon): the next ``horizon`` intervals after the latest observed one."""
        if horizon < 1:
            raise DataError("a forecast horizon is at least one interval")
        if self._seen == 0:
            return np.zeros((self.n, horizon), dtype=np.float64)
        size = self._ring.shape[1]
        latest_index = self._seen - 1
        latest = self._ring[:, latest_index % size]
        if self._seen <= self.period:  # less than a day of history: persistence
            return np.repeat(latest[:, None], horizon, axis=1)
        ahead = latest_index + np.arange(1, horizon + 1, dtype=np.int64)
        profile = self._profile(ahead)
        now = self._profile(np.array([latest_index], dtype=np.int64))[:, 0]
        fade = self.decay ** np.arange(1, horizon + 1)
        forecast = profile + (latest - now)[:, None] * fade[None, :]
        # the series are energies: never below zero nor above what the history has seen
        ceiling = self._ring.max(axis=1, initial=0.0)
        clipped: FloatArray = np.clip(forecast, 0.0, ceiling[:, None])
        return clipped
