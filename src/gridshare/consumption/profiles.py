"""BDEW standard load profiles (demandlib), placed on UTC time.

A standard load profile gives the share of a customer's annual energy in each quarter
hour of the local wall-clock year. :func:`yearly_shares` turns it into shares of the UTC
quarter hours that make up that local year (the spring-forward hour has no quarter hours,
the fall-back hour is counted twice), renormalised so the local calendar year sums to
exactly one: a member configured with 3,500 kWh per year consumes 3,500 kWh per year.

Profiles: the 1999 BDEW profiles H0 (household, with H0_DYN its dynamised form), G0..G6
(commercial), L0..L2 (agriculture); and the 2025 revision H25, G25, L25, P25 (households
with PV), S25 (households with PV and storage).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from demandlib import bdew
from numpy.typing import NDArray

from gridshare.errors import ConfigurationError

QUARTER_HOUR_S = 900

PROFILES_1999: dict[str, str] = {
    "H0": "h0",
    "H0_DYN": "h0_dyn",
    **{f"G{i}": f"g{i}" for i in range(7)},
    **{f"L{i}": f"l{i}" for i in range(3)},
}
PROFILES_2025 = {
    "H25": bdew.H25,
    "G25": bdew.G25,
    "L25": bdew.L25,
    "P25": bdew.P25,
    "S25": bdew.S25,
}
PROFILE_NAMES: tuple[str, ...] = (*PROFILES_1999, *PROFILES_2025)


def require_profile(name: str) -> str:
    """The canonical (upper-case) profile name, or a clear error."""
    canonical = name.upper()
    if canonical not in PROFILE_NAMES:
        raise ConfigurationError(
            f"unknown load profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}"
        )
    return canonical


@lru_cache(maxsize=8)
def _slp_1999(year: int) -> pd.DataFrame:
    # demandlib's ElecSlp sets the global warning filter to "error" while it runs;
    # catch_warnings restores the caller's filters afterwards.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profiles: pd.DataFrame = bdew.ElecSlp(year).get_profiles()
        return profiles


@lru_cache(maxsize=64)
def wall_clock_shares(name: str, year: int) -> NDArray[np.float64]:
    """Share of annual energy in each quarter hour of local wall-clock ``year`` (sums to 1)."""
    canonical = require_profile(name)
    if canonical in PROFILES_1999:
        values = _slp_1999(year)[PROFILES_1999[canonical]].to_numpy(dtype=np.float64)
    else:
        index = pd.date_range(datetime(year, 1, 1), datetime(year + 1, 1, 1), freq="15min")[:-1]  # noqa: DTZ001 - BDEW profiles are in local wall-clock time
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = PROFILES_2025[canonical](index).to_numpy(dtype=np.float64)
    if (values < 0).any() or not np.isfinite(values).all():
        raise ConfigurationError(f"profile {canonical} for {year} has invalid values")
    result: NDArray[np.float64] = values / values.sum()
    return result


@lru_cache(maxsize=64)
def yearly_shares(name: str, year: int, time_zone: str) -> tuple[int, NDArray[np.float64]]:
    """Shares of annual energy on the UTC quarter hours of local calendar ``year``.

    Returns the UTC start (UNIX seconds) of the first quarter hour and the shares,
    which sum to one.
    """
    zone = ZoneInfo(time_zone)
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    utc = pd.DatetimeIndex(
        pd.to_datetime(np.arange(start_s, end_s, QUARTER_HOUR_S), unit="s", utc=True)
    )
    wall = utc.tz_convert(zone).tz_localize(None)
    wall_start = pd.Timestamp(year=year, month=1, day=1)
    position = ((wall - wall_start) // pd.Timedelta(minutes=15)).to_numpy(dtype=np.int64)
    values = wall_clock_shares(name, year)[position]
    return start_s, values / values.sum()


def shares_between(
    name: str, time_zone: str, start_s: int, end_s: int
) -> tuple[int, NDArray[np.float64]]:
    """Quarter-hour shares of whole local years covering ``[start_s, end_s)`` with a day to spare.

    Returns the UTC start (UNIX seconds) of the first quarter hour and the shares; each
    local calendar year in them sums to one.
    """
    zone = ZoneInfo(time_zone)
    margin_s = 86_400
    first_year = datetime.fromtimestamp(start_s - margin_s, tz=UTC).astimezone(zone).year
    last_year = datetime.fromtimestamp(end_s + margin_s, tz=UTC).astimezone(zone).year
    origin_s, _ = yearly_shares(name, first_year, time_zone)
    parts = [yearly_shares(name, year, time_zone)[1] for year in range(first_year, last_year + 1)]
    return origin_s, np.concatenate(parts)
