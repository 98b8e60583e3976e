"""Typical-meteorological-year weather (TMY3), mapped onto calendar years.

A TMY3 file holds 8,760 hourly rows of one "typical" year in local standard time; row k
covers hour k of the year. :func:`weather_for_year` lays those rows on the UTC hours of a
real calendar year (29 February repeats 28 February), so a simulation of any dates gets
weather with the right season and time of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
from pvlib.iotools import read_tmy3

from gridshare.errors import ConfigurationError
from gridshare.model import Location
from gridshare.units import SECONDS_PER_HOUR

HOURS_PER_TYPICAL_YEAR = 8760
PVLIB_PREFIX = "pvlib:"
COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure")
"""W/m2, W/m2, W/m2, degC, m/s at 10 m, Pa."""


@dataclass(frozen=True)
class TypicalYear:
    """Hourly typical-year weather of one station."""

    station: str
    location: Location
    utc_offset_hours: float
    """The file's local standard time, hours east of UTC."""
    hourly: pd.DataFrame
    """8,760 rows (hour of year 0..8759) with :data:`COLUMNS`."""


def resolve_weather_path(source: str) -> Path:
    """The file a weather ``source`` names: ``pvlib:NAME`` or a path."""
    if source.startswith(PVLIB_PREFIX):
        name = source.removeprefix(PVLIB_PREFIX)
        path = Path(pvlib.__file__).parent / "data" / name
        if not path.is_file():
            shipped = sorted(
                p.name
                for p in path.parent.iterdir()
                if p.suffix.lower() == ".csv" and "TY" in p.name
            )
            raise ConfigurationError(
                f"weather.source: pvlib ships no file {name!r}; TMY3 files it ships: "
                f"{', '.join(shipped)}"
            )
        return path
    path = Path(source)
    if not path.is_file():
        raise ConfigurationError(f"weather.source: no weather file at {path}")
    return path


@lru_cache(maxsize=8)
def read_typical_year(source: str) -> TypicalYear:
    """Read a TMY3 file (by ``pvlib:NAME`` or path)."""
    path = resolve_weather_path(source)
    try:
        data, meta = read_tmy3(str(path), map_variables=True)
    except (ValueError, KeyError, OSError, IndexError) as exc:
        raise ConfigurationError(f"weather.source: {path} is not a TMY3 file: {exc}") from None
    if len(data) != HOURS_PER_TYPICAL_YEAR:
        raise ConfigurationError(
            f"weather.source: {path} has {len(data)} hourly rows, a TMY3 year has 8760"
        )
    hourly = pd.DataFrame(
        {
            "ghi": data["ghi"].to_numpy(dtype=float),
            "dni": data["dni"].to_numpy(dtype=float),
            "dhi": data["dhi"].to_numpy(dtype=float),
            "temp_air": data["temp_air"].to_numpy(dtype=float),
            "wind_speed": data["wind_speed"].to_numpy(dtype=float),
            "pressure": data["pressure"].to_numpy(dtype=float) * 100.0,
        }
    )
    if hourly.isna().any().any():
        raise ConfigurationError(f"weather.source: {path} has missing values")
    location = Location(
        latitude_deg=float(meta["latitude"]),
        longitude_deg=float(meta["longitude"]),
        altitude_m=float(meta["altitude"]),
    )
    station = str(meta.get("Name", path.stem)).strip('"')
    return TypicalYear(station, location, float(meta["TZ"]), hourly)


def year_start_utc(typical: TypicalYear, year: int) -> datetime:
    """UTC instant at which ``year`` starts in the station's local standard time."""
    return datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=typical.utc_offset_hours)


def weather_for_year(typical: TypicalYear, year: int) -> pd.DataFrame:
    """Hourly weather for calendar ``year``, indexed by each hour's UTC start."""
    start = year_start_utc(typical, year)
    hours = int((year_start_utc(typical, year + 1) - start).total_seconds() // SECONDS_PER_HOUR)
    positions = np.arange(hours)
    if hours > HOURS_PER_TYPICAL_YEAR:  # leap year: 29 February repeats 28 February
        feb29 = 59 * 24
        positions = np.where(positions < feb29, positions, positions - 24)
        positions[feb29 : feb29 + 24] = np.arange(feb29 - 24, feb29)
    frame = typical.hourly.iloc[positions].reset_index(drop=True)
    frame.index = pd.date_range(start, periods=hours, freq="h")
    return frame
