"""The grid tariff's time-of-use windows in local time (checked across the New York
clock changes and across midnight against zoneinfo directly), the demand charge's
conversion, and what the tariff refuses."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.errors import DataError
from gridshare.model import GridTariff, TouWindow

NEW_YORK = "America/New_York"
LIMIT_KW = 100.0
BASE, PEAK, NIGHT, SELL = 300_000, 650_000, 120_000, 80_000


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def in_window(local: datetime, window: TouWindow) -> bool:
    """Reference: ``[start, end)`` on the local wall clock, wrapping midnight if end < start."""
    clock = local.time().replace(second=0, microsecond=0)
    if window.start < window.end:
        return window.start <= clock < window.end
    return clock >= window.start or clock < window.end


def reference_buy(tariff: GridTariff, start_s: int) -> float:
    local = datetime.fromtimestamp(start_s, tz=ZoneInfo(tariff.time_zone))
    price = tariff.import_price_micros_per_kwh
    for w in tariff.windows:
        if in_window(local, w):
            price = w.import_price_micros_per_kwh
    return float(price)


EVENING = GridTariff(
    BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, windows=(TouWindow(time(17, 0), time(20, 0), PEAK),)
)


@pytest.mark.parametrize(
    ("start_s", "expected"),
    [
        # Saturday 9 March 2024, EST (UTC-5): 21:45 UTC is 16:45 local, 22:00 UTC is 17:00
        (utc(2024, 3, 9, 21, 45), BASE),
        (utc(2024, 3, 9, 22, 0), PEAK),
        (utc(2024, 3, 10, 0, 45), PEAK),  # 19:45 local
        (utc(2024, 3, 10, 1, 0), BASE),  # 20:00 local: the end is excluded
        # Monday 11 March 2024, EDT (UTC-4) since the 10th: 21:00 UTC is 17:00 local
        (utc(2024, 3, 11, 20, 45), BASE),
        (utc(2024, 3, 11, 21, 0), PEAK),
        (utc(2024, 3, 11, 23, 45), PEAK),
        (utc(2024, 3, 12, 0, 0), BASE),
        # Saturday 2 November 2024, still EDT: 21:00 UTC is 17:00 local
        (utc(2024, 11, 2, 21, 0), PEAK),
        (utc(2024, 11, 3, 0, 0), BASE),
        # Monday 4 November 2024, EST again: 21:00 UTC is 16:00, 22:00 UTC is 17:00
        (utc(2024, 11, 4, 21, 0), BASE),
        (utc(2024, 11, 4, 22, 0), PEAK),
        (utc(2024, 11, 5, 0, 45), PEAK),
        (utc(2024, 11, 5, 1, 0), BASE),
    ],
)
def test_windows_follow_local_time_across_daylight_saving(start_s: int, expected: int) -> None:
    buy, sell = EVENING.prices(np.array([start_s]))
    assert buy.tolist() == [float(expected)]
    assert sell.tolist() == [float(SELL)]


def test_the_repeated_hour_in_november_is_inside_both_times() -> None:
    """On 3 November 2024 01:00-02:00 happens twice in New York (EDT, then EST): a
    01:00-02:00 window prices both; the hour before and after are outside."""
    tariff = GridTariff(
        BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, windows=(TouWindow(time(1), time(2), PEAK),)
    )
    starts = np.array(
        [
            utc(2024, 11, 3, 4, 45),  # 00:45 EDT
            utc(2024, 11, 3, 5, 0),  # 01:00 EDT
            utc(2024, 11, 3, 5, 45),  # 01:45 EDT
            utc(2024, 11, 3, 6, 0),  # 01:00 EST
            utc(2024, 11, 3, 6, 45),  # 01:45 EST
            utc(2024, 11, 3, 7, 0),  # 02:00 EST
        ]
    )
    buy, _ = tariff.prices(starts)
    assert buy.tolist() == [BASE, PEAK, PEAK, PEAK, PEAK, BASE]


def test_the_skipped_hour_in_march_prices_nothing() -> None:
    """On 10 March 2024 New York's clocks jump from 02:00 EST to 03:00 EDT: no interval
    starts in a 02:00-03:00 window that day; the next day it applies again."""
    tariff = GridTariff(
        BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, windows=(TouWindow(time(2), time(3), PEAK),)
    )
    day = utc(2024, 3, 10, 5, 0)  # midnight EST
    starts = day + 900 * np.arange(96 + 96, dtype=np.int64)
    buy, _ = tariff.prices(starts)
    first, second = buy[:96], buy[96:]
    assert (first == BASE).all()
    assert (second == PEAK).sum() == 4  # 02:00, 02:15, 02:30, 02:45 on the 11th


def test_a_window_wrapping_midnight() -> None:
    tariff = GridTariff(
        BASE,
        SELL,
        LIMIT_KW,
        LIMIT_KW,
        NEW_YORK,
        windows=(TouWindow(time(22, 0), time(6, 0), NIGHT),),
    )
    # 15 January 2024, EST (UTC-5)
    local = {
        (21, 45): BASE,
        (22, 0): NIGHT,
        (23, 45): NIGHT,
        (0, 0): NIGHT,
        (5, 45): NIGHT,
        (6, 0): BASE,
        (12, 0): BASE,
    }
    starts = np.array([utc(2024, 1, 15, (h + 5) % 24, m) for h, m in local])
    buy, _ = tariff.prices(starts)
    assert buy.tolist() == [float(p) for p in local.values()]


def test_a_whole_day_of_two_windows_by_the_quarter_hour() -> None:
    """Cheap night 00:00-06:00, peak 16:30-21:00: 24 + 18 intervals of 96 in a day."""
    tariff = GridTariff(
        BASE,
        SELL,
        LIMIT_KW,
        LIMIT_KW,
        "Europe/Berlin",
        windows=(
            TouWindow(time(0), time(6), NIGHT),
            TouWindow(time(16, 30), time(21), PEAK),
        ),
    )
    midnight = int(datetime(2024, 6, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp())
    buy, sell = tariff.prices(midnight + 900 * np.arange(96, dtype=np.int64))
    assert (buy == NIGHT).sum() == 24
    assert (buy[:24] == NIGHT).all()
    assert (buy == PEAK).sum() == 18
    assert (buy[66:84] == PEAK).all()
    assert (buy == BASE).sum() == 96 - 24 - 18
    assert (sell == SELL).all()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
    st.lists(st.integers(utc(2023, 1, 1) // 900, utc(2026, 1, 1) // 900), min_size=1, max_size=40),
    st.sampled_from([NEW_YORK, "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
)
def test_prices_match_zoneinfo_directly(
    h1: int, m1: int, h2: int, m2: int, quarters: list[int], zone: str
) -> None:
    if (h1, m1) == (h2, m2):
        h2 = (h2 + 1) % 24
    window = TouWindow(time(h1, m1), time(h2, m2), PEAK)
    tariff = GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, zone, windows=(window,))
    starts = np.array(quarters, dtype=np.int64) * 900
    buy, sell = tariff.prices(starts)
    assert buy.tolist() == [reference_buy(tariff, int(s)) for s in starts]
    assert (sell == SELL).all()


def test_without_windows_prices_are_flat() -> None:
    tariff = GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK)
    buy, sell = tariff.prices(np.array([0, 900, utc(2024, 7, 4, 21)]))
    assert buy.tolist() == [BASE] * 3
    assert sell.tolist() == [SELL] * 3
    assert tariff.prices(np.array([], dtype=np.int64))[0].shape == (0,)


@pytest.mark.parametrize("interval_hours", [0.25, 0.5, 1.0, 1 / 12])
def test_demand_charge_per_kwh_of_the_peak_interval(interval_hours: float) -> None:
    """A peak interval with ``e`` Wh of import has a mean import of e / 1000 / hours kW:
    the charge per kWh of that interval times its kWh is the charge per kW times kW."""
    tariff = GridTariff(
        BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, demand_charge_micros_per_kw=12_000_000
    )
    peak_wh = 1_800.0
    per_kwh = tariff.demand_micros_per_kwh(interval_hours)
    mean_kw = peak_wh / 1000 / interval_hours
    assert per_kwh * peak_wh / 1000 == pytest.approx(12_000_000 * mean_kw, rel=1e-12)
    assert GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK).demand_micros_per_kwh(0.25) == 0.0


def test_quarter_hour_demand_charge_by_hand() -> None:
    tariff = GridTariff(
        BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, demand_charge_micros_per_kw=10_000_000
    )
    assert tariff.demand_micros_per_kwh(0.25) == 40_000_000


def test_a_window_needs_a_non_negative_price() -> None:
    with pytest.raises(DataError, match=">= 0"):
        TouWindow(time(17), time(20), -1)
    assert TouWindow(time(17), time(20), 0).import_price_micros_per_kwh == 0


def test_a_window_needs_distinct_start_and_end() -> None:
    with pytest.raises(DataError, match="start != end"):
        TouWindow(time(17), time(17), PEAK)


def test_an_import_price_below_the_export_price_is_refused() -> None:
    with pytest.raises(DataError, match="at least the export price"):
        GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, windows=(TouWindow(time(1), time(2), 1),))
    with pytest.raises(DataError, match="unknown time zone"):
        GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, "Mars/Olympus")


def test_prices_at_is_the_integer_price_of_one_interval() -> None:
    peak = utc(2024, 7, 4, 21, 30)  # 17:30 EDT, inside the evening window
    assert EVENING.prices_at(peak) == (PEAK, SELL)
    assert EVENING.prices_at(peak - 3 * 3600) == (BASE, SELL)


@settings(max_examples=300)
@given(st.integers(utc(2023, 1, 1), utc(2026, 1, 1)).map(lambda s: s // 900 * 900))
def test_prices_at_agrees_with_prices_across_the_year(start_s: int) -> None:
    night = TouWindow(time(22, 0), time(6, 0), NIGHT)
    tariff = GridTariff(
        BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, windows=(night, EVENING.windows[0])
    )
    buy, sell = tariff.prices(np.array([start_s], dtype=np.int64))
    assert tariff.prices_at(start_s) == (int(buy[0]), int(sell[0]))


def test_prices_at_agrees_with_prices_on_the_clock_change_days() -> None:
    night = TouWindow(time(1, 0), time(3, 0), NIGHT)
    tariff = GridTariff(BASE, SELL, LIMIT_KW, LIMIT_KW, NEW_YORK, windows=(night,))
    for day in (utc(2024, 3, 10, 5), utc(2024, 11, 3, 4)):
        starts = day + 900 * np.arange(2 * 96, dtype=np.int64)
        buy, _ = tariff.prices(starts)
        assert [tariff.prices_at(int(s))[0] for s in starts] == buy.astype(int).tolist()
