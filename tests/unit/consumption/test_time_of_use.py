"""A member's energy by time-of-use period (gridshare.consumption.time_of_use)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import numpy as np
import pytest

from gridshare.consumption.time_of_use import time_of_use_breakdown
from gridshare.model.tariff import GridTariff, TouWindow

TARIFF = GridTariff(
    import_price_micros_per_kwh=280_000,
    export_price_micros_per_kwh=70_000,
    import_limit_kw=800,
    export_limit_kw=600,
    time_zone="America/New_York",
    windows=(TouWindow(time(16), time(21), 420_000), TouWindow(time(23), time(1), 300_000)),
)
DAY = int(datetime(2025, 6, 2, 4, tzinfo=UTC).timestamp())  # local midnight (EDT, UTC-4)


def test_a_local_day_splits_into_the_base_rate_the_evening_peak_and_a_window_over_midnight() -> (
    None
):
    starts = DAY + 900 * np.arange(96)
    imports = np.full(96, 250, dtype=np.int64)  # 250 Wh every quarter hour
    exports = np.zeros(96, dtype=np.int64)
    exports[40:60] = 100  # 10:00-15:00 local
    periods = time_of_use_breakdown(TARIFF, starts, imports, exports)
    by_name = {p.name: p for p in periods}
    assert [p.name for p in periods] == ["base", "16:00-21:00", "23:00-01:00"]
    # 16:00-21:00 is 20 quarter hours; 23:00-01:00 wraps midnight: 00:00-01:00 and 23:00-24:00
    assert [by_name[n].intervals for n in ("base", "16:00-21:00", "23:00-01:00")] == [68, 20, 8]
    peak = by_name["16:00-21:00"]
    assert (peak.import_wh, peak.export_wh) == (5_000, 0)
    assert peak.import_cost_micros == 5 * 420_000  # 5 kWh at 0.42
    base = by_name["base"]
    assert base.import_wh == 68 * 250
    assert base.import_cost_micros == 17 * 280_000
    assert (base.export_wh, base.export_credit_micros) == (2_000, 2 * 70_000)
    assert sum(p.import_wh for p in periods) == int(imports.sum())  # nothing lost or doubled


def test_an_import_is_priced_rounded_up_and_an_export_rounded_down() -> None:
    odd = GridTariff(280_001, 70_001, 800, 600)  # 280.001 and 70.001 micro-units per Wh
    base = time_of_use_breakdown(odd, np.array([DAY]), np.array([1]), np.array([1]))[0]
    assert (base.name, base.intervals) == ("base", 1)
    assert (base.import_cost_micros, base.export_credit_micros) == (281, 70)


def test_mismatched_columns_are_an_error() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        time_of_use_breakdown(TARIFF, np.array([DAY, DAY + 900]), np.array([1]), np.array([1]))
