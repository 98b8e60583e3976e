"""The community's one grid tariff: what its connection pays and earns, by interval.

Accounting, the market's grid fallback and members' savings, and the dispatch plan all
price energy with this one model: flat import and export prices, optional time-of-use
windows in local time (an evening peak, a cheap night) with their own import price, and
a demand charge on the peak import. Prices are integer micro-units per kWh, the demand
charge micro-units per kW of the highest interval's mean import; the limits are the
connection's, in kW at the point of common coupling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridshare.model.errors import ModelError
from gridshare.units import MINUTES_PER_HOUR, FloatArray, IntArray

__all__ = ["GridTariff", "TouWindow"]


@dataclass(frozen=True, slots=True)
class TouWindow:
    """A daily window ``[start, end)`` in local time with its own import price."""

    start: time
    end: time
    import_price_micros_per_kwh: int

    def __post_init__(self) -> None:
        if self.import_price_micros_per_kwh < 0:
            raise ModelError("a time-of-use price must be >= 0")
        if self.start == self.end:
            raise ModelError("a time-of-use window needs start != end")

    def covers(self, minute_of_day: IntArray) -> NDArray[np.bool_]:
        """Which local minutes of the day fall in the window (it may wrap midnight)."""
        a = self.start.hour * MINUTES_PER_HOUR + self.start.minute
        b = self.end.hour * MINUTES_PER_HOUR + self.end.minute
        inside: NDArray[np.bool_] = (
            (minute_of_day >= a) & (minute_of_day < b)
            if a < b
            else (minute_of_day >= a) | (minute_of_day < b)
        )
        return inside


@dataclass(frozen=True, slots=True)
class GridTariff:
    """The main-grid connection: prices by interval, the demand charge and the limits."""

    import_price_micros_per_kwh: int
    export_price_micros_per_kwh: int
    import_limit_kw: float
    export_limit_kw: float
    time_zone: str = "UTC"
    """Where the time-of-use windows' clock times are read."""
    windows: tuple[TouWindow, ...] = ()
    demand_charge_micros_per_kw: int = 0

    def __post_init__(self) -> None:
        if self.import_price_micros_per_kwh < 0 or self.export_price_micros_per_kwh < 0:
            raise ModelError("grid prices must be >= 0")
        if self.import_limit_kw <= 0 or self.export_limit_kw <= 0:
            raise ModelError("grid import and export limits must be > 0 kW")
        if self.demand_charge_micros_per_kw < 0:
            raise ModelError("the demand charge must be >= 0")
        lowest = min(
            [self.import_price_micros_per_kwh]
            + [w.import_price_micros_per_kwh for w in self.windows]
        )
        if lowest < self.export_price_micros_per_kwh:
            raise ModelError(
                "every import price (time-of-use windows included) must be at least the "
                "export price, or members could buy from the grid to sell back at a profit"
            )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ModelError(f"unknown time zone {self.time_zone!r} for the tariff") from None

    def periods(self, starts_s: IntArray) -> IntArray:
        """The time-of-use window in force for intervals starting at ``starts_s``: its
        index in :attr:`windows`, or -1 for the base import price (a later window wins
        where windows overlap)."""
        starts = np.asarray(starts_s, dtype=np.int64)
        period: IntArray = np.full(starts.size, -1, dtype=np.int64)
        if self.windows:
            local = pd.DatetimeIndex(pd.to_datetime(starts, unit="s", utc=True)).tz_convert(
                ZoneInfo(self.time_zone)
            )
            minute = np.asarray(local.hour * MINUTES_PER_HOUR + local.minute, dtype=np.int64)
            for index, window in enumerate(self.windows):
                period[window.covers(minute)] = index
        return period

    def prices(self, starts_s: IntArray) -> tuple[FloatArray, FloatArray]:
        """(buy, sell) micro-units per kWh for intervals starting at ``starts_s``."""
        starts = np.asarray(starts_s, dtype=np.int64)
        buy = np.full(starts.size, float(self.import_price_micros_per_kwh))
        sell = np.full(starts.size, float(self.export_price_micros_per_kwh))
        period = self.periods(starts)
        for index, window in enumerate(self.windows):
            buy[period == index] = float(window.import_price_micros_per_kwh)
        return buy, sell

    def prices_at(self, start_s: int) -> tuple[int, int]:
        """(buy, sell) integer micro-units per kWh in the interval starting at ``start_s``:
        the same prices as :meth:`prices`, for one interval without building an index (the
        market and accounting ask once or twice per interval)."""
        buy = self.import_price_micros_per_kwh
        if self.windows:
            local = datetime.fromtimestamp(start_s, ZoneInfo(self.time_zone))
            minute = np.array([local.hour * MINUTES_PER_HOUR + local.minute], dtype=np.int64)
            for window in self.windows:
                if window.covers(minute)[0]:
                    buy = window.import_price_micros_per_kwh
        return buy, self.export_price_micros_per_kwh

    def demand_micros_per_kwh(self, interval_hours: float) -> float:
        """The demand charge per kWh of the peak interval's import (what the LP takes)."""
        return self.demand_charge_micros_per_kw / interval_hours
