"""Time-of-use tariffs and demand charges the dispatch plan minimises (pure).

The community's grid tariff (``model.GridTariff``) gives flat import and export prices;
a balancing configuration may add time-of-use windows in local time (an evening peak,
a cheap night) and a demand charge on the peak import. Prices are integer micro-units
per kWh, the demand charge micro-units per kW of the highest interval's mean import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridshare.errors import DataError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TouWindow:
    """A daily window ``[start, end)`` in local time with its own import price."""

    start: time
    end: time
    import_price_micros_per_kwh: int

    def __post_init__(self) -> None:
        if self.import_price_micros_per_kwh < 0:
            raise DataError("a time-of-use price must be >= 0")
        if self.start == self.end:
            raise DataError("a time-of-use window needs start != end")


@dataclass(frozen=True, slots=True)
class BalancingTariff:
    """What the community pays and earns at its connection, by interval."""

    import_price_micros_per_kwh: int
    export_price_micros_per_kwh: int
    time_zone: str
    windows: tuple[TouWindow, ...] = ()
    demand_charge_micros_per_kw: int = 0

    def __post_init__(self) -> None:
        if min(self.import_price_micros_per_kwh, self.export_price_micros_per_kwh) < 0:
            raise DataError("the import and export prices must be >= 0")
        if self.demand_charge_micros_per_kw < 0:
            raise DataError("the demand charge must be >= 0")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DataError(f"unknown time zone {self.time_zone!r} for the tariff") from None

    def prices(self, starts_s: IntArray) -> tuple[FloatArray, FloatArray]:
        """(buy, sell) micro-units per kWh for intervals starting at ``starts_s``."""
        starts = np.asarray(starts_s, dtype=np.int64)
        buy = np.full(starts.size, float(self.import_price_micros_per_kwh))
        sell = np.full(starts.size, float(self.export_price_micros_per_kwh))
        if self.windows:
            local = pd.DatetimeIndex(pd.to_datetime(starts, unit="s", utc=True)).tz_convert(
                ZoneInfo(self.time_zone)
            )
            minute = np.asarray(local.hour * 60 + local.minute)
            for w in self.windows:
                a = w.start.hour * 60 + w.start.minute
                b = w.end.hour * 60 + w.end.minute
                inside = (minute >= a) & (minute < b) if a < b else (minute >= a) | (minute < b)
                buy[inside] = float(w.import_price_micros_per_kwh)
        return buy, sell

    def demand_micros_per_kwh(self, interval_hours: float) -> float:
        """The demand charge per kWh of the peak interval's import (what the LP takes)."""
        return self.demand_charge_micros_per_kw / interval_hours
