"""BDEW standard load profiles on wall-clock and UTC quarter hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gridshare.consumption.profiles import (
    PROFILE_NAMES,
    QUARTER_HOUR_S,
    require_profile,
    wall_clock_shares,
    yearly_shares,
)
from gridshare.errors import ConfigurationError

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("name", ["H0", "G0", "H25"])
def test_wall_clock_shares_sum_to_one(name: str) -> None:
    """A profile shares one year of energy over the 35040 wall-clock quarter hours of 2025."""
    shares = wall_clock_shares(name, 2025)
    assert shares.shape == (365 * 96,)
    assert (shares >= 0).all()
    assert shares.sum() == pytest.approx(1.0, abs=1e-12)
    assert shares.max() < 10 / shares.size  # a profile, not a spike


def test_profiles_differ() -> None:
    """Households and businesses do not share one shape."""
    assert not np.allclose(wall_clock_shares("H0", 2025), wall_clock_shares("G0", 2025))


def test_yearly_shares_cover_the_local_year_in_utc() -> None:
    """Berlin 2025 starts at 2024-12-31T23:00Z and has as many quarter hours as UTC has."""
    start_s, shares = yearly_shares("H0", 2025, "Europe/Berlin")
    start = datetime(2025, 1, 1, tzinfo=BERLIN).astimezone(UTC)
    end = datetime(2026, 1, 1, tzinfo=BERLIN).astimezone(UTC)
    assert start == datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
    assert start_s == int(start.timestamp())
    assert shares.size == (end - start).total_seconds() / QUARTER_HOUR_S == 35_040
    assert shares.sum() == pytest.approx(1.0, abs=1e-12)


def _utc_position(moment: datetime, start_s: int) -> int:
    return (int(moment.timestamp()) - start_s) // QUARTER_HOUR_S


def _wall_position(local: datetime) -> int:
    return (local - datetime(local.year, 1, 1)) // timedelta(minutes=15)  # noqa: DTZ001


def test_daylight_saving_hours_map_to_wall_clock() -> None:
    """Spring-forward skips local 02:00-02:59; fall-back uses local 02:00-02:59 twice.

    The UTC shares are the wall-clock shares at the local time, times one constant.
    """
    start_s, shares = yearly_shares("H0", 2025, "Europe/Berlin")
    wall = wall_clock_shares("H0", 2025)
    pairs = [  # (UTC quarter hour, local wall-clock time it falls on)
        (datetime(2025, 3, 30, 0, 45, tzinfo=UTC), datetime(2025, 3, 30, 1, 45)),  # noqa: DTZ001
        (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), datetime(2025, 3, 30, 3, 0)),  # noqa: DTZ001
        (datetime(2025, 10, 26, 0, 15, tzinfo=UTC), datetime(2025, 10, 26, 2, 15)),  # noqa: DTZ001
        (datetime(2025, 10, 26, 1, 15, tzinfo=UTC), datetime(2025, 10, 26, 2, 15)),  # noqa: DTZ001
        (datetime(2025, 7, 1, 10, 0, tzinfo=UTC), datetime(2025, 7, 1, 12, 0)),  # noqa: DTZ001
        (datetime(2025, 12, 31, 22, 45, tzinfo=UTC), datetime(2025, 12, 31, 23, 45)),  # noqa: DTZ001
    ]
    ratios = [
        shares[_utc_position(utc, start_s)] / wall[_wall_position(local)] for utc, local in pairs
    ]
    assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=1e-12)
    # the two passes through local 02:00-02:59 on 26 October get equal shares
    first = _utc_position(datetime(2025, 10, 26, 0, 0, tzinfo=UTC), start_s)
    np.testing.assert_array_equal(shares[first : first + 4], shares[first + 4 : first + 8])


def test_require_profile_is_case_insensitive() -> None:
    """Profile names are canonicalised to upper case."""
    assert require_profile("h25") == "H25"
    assert require_profile("G0") == "G0"


@pytest.mark.parametrize("name", ["H99", "", "household"])
def test_require_profile_rejects_unknown_names_listing_valid_ones(name: str) -> None:
    """An unknown name is refused with every valid name in the message."""
    with pytest.raises(ConfigurationError, match=f"unknown load profile {name!r}") as info:
        require_profile(name)
    assert "expected one of " + ", ".join(PROFILE_NAMES) in str(info.value)
    assert {"H0", "G0", "H25", "S25"} <= set(PROFILE_NAMES)
