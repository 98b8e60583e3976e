"""The seasonal forecaster: persistence before a day of history, the seasonal profile
after it, a correction that fades with ``decay ** h``, and forecasts within [0, max]."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridshare.balancing.forecast import SeasonalForecaster
from gridshare.errors import DataError

energies = st.floats(0.0, 10_000.0, allow_nan=False, allow_infinity=False)


def fed(history: np.ndarray, period: int, *, days: int = 3, decay: float = 0.9):
    """A forecaster of ``history.shape[0]`` series that has seen ``history`` column by column."""
    f = SeasonalForecaster(history.shape[0], period, days=days, decay=decay)
    for column in history.T:
        f.observe(column)
    return f


def reference_forecast(
    history: np.ndarray, period: int, days: int, decay: float, horizon: int
) -> np.ndarray:
    """The module docstring written out index by index, independently of the ring buffer:
    profile(a) is the mean of the (up to ``days``) most recent observed values with the
    time of day of ``a``, at least one day before ``a`` (fewer where the history does
    not reach back that far: a value never observed is not averaged)."""
    n, seen = history.shape
    latest = seen - 1

    def profile(a: int) -> np.ndarray:
        j = a - period
        while j > latest:
            j -= period
        held = [history[:, j - m * period] for m in range(days) if j - m * period >= 0]
        return np.mean(held, axis=0)

    held = history[:, max(0, seen - period * (days + 1)) :]
    ceiling = np.maximum(held.max(axis=1), 0.0)
    out = np.empty((n, horizon))
    deviation = history[:, latest] - profile(latest)
    for h in range(1, horizon + 1):
        out[:, h - 1] = np.clip(profile(latest + h) + deviation * decay**h, 0.0, ceiling)
    return out


def test_no_history_forecasts_zero() -> None:
    f = SeasonalForecaster(2, 4)
    assert f.observed == 0
    assert np.array_equal(f.forecast(3), np.zeros((2, 3)))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 8),
    st.data(),
)
def test_persistence_before_a_day_of_history(n: int, period: int, data: st.DataObject) -> None:
    """Up to and including ``period`` observations the forecast repeats the latest values."""
    seen = data.draw(st.integers(1, period))
    history = np.array(
        data.draw(
            st.lists(st.lists(energies, min_size=seen, max_size=seen), min_size=n, max_size=n)
        )
    )
    horizon = data.draw(st.integers(1, 3 * period))
    f = fed(history, period)
    assert f.observed == seen
    forecast = f.forecast(horizon)
    assert forecast.shape == (n, horizon)
    assert np.array_equal(forecast, np.repeat(history[:, -1:], horizon, axis=1))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 4),
    st.floats(0.0, 0.99),
    st.integers(1, 40),
    st.integers(1, 30),
    st.lists(energies, min_size=6, max_size=6),
)
# exactly two whole days seen, fewer than ``days`` + 1
@example(2, 2, 0.5, 2, 2, [0.0, 10.0, 0.0, 0.0, 0.0, 0.0])
def test_a_periodic_series_is_forecast_exactly_after_a_full_day(
    period: int, days: int, decay: float, extra: int, horizon: int, day: list[float]
) -> None:
    """Once the same time of day has been seen a day before the latest value, the latest
    equals its profile, the correction vanishes whatever the decay, and the forecast is
    the series itself, also more than a day ahead."""
    pattern = np.array(day[:period])
    seen = period + extra
    series = np.resize(pattern, seen + horizon)
    f = fed(series[None, :seen], period, days=days, decay=decay)
    assert np.allclose(f.forecast(horizon)[0], series[seen:], rtol=1e-12, atol=1e-9)


def test_the_correction_fades_with_decay_to_the_power_h() -> None:
    """Hand example: a day [10, 20, 30, 40], then 4 at the first time of day, where the
    profile says 10: the departure -6 carries into the next intervals as -6 * 0.5**h."""
    f = fed(np.array([[10.0, 20.0, 30.0, 40.0, 4.0]]), 4, days=1, decay=0.5)
    expected = [20 - 3, 30 - 1.5, 40 - 0.75, 4 - 0.375]  # h = 4 is the latest's own slot
    assert f.forecast(4)[0] == pytest.approx(expected, abs=1e-12)


def test_the_latest_values_profile_averages_only_observed_days() -> None:
    """Exactly two days seen ([0, 10], [0, 10]) with days=2: the latest value (10) has
    only one earlier day at its time of day, so its profile is 10 and there is nothing to
    correct; the forecast is the series, [0, 10]. Averaging in a slot never observed
    (as if a third, all-zero day existed) would give a profile of 5, a departure of +5
    and a forecast of [2.5, 11.25] clipped to [2.5, 10]."""
    f = fed(np.array([[0.0, 10.0, 0.0, 10.0]]), 2, days=2, decay=0.5)
    assert f.forecast(2)[0] == pytest.approx([0.0, 10.0], abs=1e-12)


def test_decay_zero_is_the_seasonal_naive_method() -> None:
    f = fed(np.array([[10.0, 20.0, 30.0, 40.0, 4.0]]), 4, days=1, decay=0.0)
    assert f.forecast(3)[0] == pytest.approx([20.0, 30.0, 40.0], abs=1e-12)


def test_forecasts_are_clipped_to_zero_and_the_largest_value_held() -> None:
    high = fed(np.array([[10.0, 20.0, 30.0, 40.0, 16.0]]), 4, days=1, decay=0.5)
    # unclipped: 23, 31.5, 40.75 -> the last is held to the largest value seen, 40
    assert high.forecast(3)[0] == pytest.approx([23.0, 31.5, 40.0], abs=1e-12)
    low = fed(np.array([[100.0, 1.0, 1.0, 1.0, 0.0]]), 4, days=1, decay=0.9)
    # unclipped: 1 - 90 < 0
    assert low.forecast(1)[0, 0] == 0.0


def test_multi_day_profiles_are_means_over_the_last_days() -> None:
    """Hand example, two days of two intervals: days [2, 10] and [4, 20], then 3 at the
    first time of day, whose profile is (2 + 4) / 2 = 3: no correction."""
    f = fed(np.array([[2.0, 10.0, 4.0, 20.0, 3.0]]), 2, days=2, decay=0.5)
    # h=1: mean(10, 20); h=2: the first time of day, mean of the latest two days (4, 3)
    assert f.forecast(2)[0] == pytest.approx([15.0, 3.5], abs=1e-12)


def test_days_older_than_the_window_are_forgotten() -> None:
    """days=2: after three days (the first at 1000), only the last two count."""
    f = fed(np.array([[1000.0, 1000.0, 2.0, 10.0, 4.0, 20.0]]), 2, days=2, decay=0.0)
    assert f.forecast(2)[0] == pytest.approx([3.0, 15.0], abs=1e-12)


@st.composite
def histories(draw: st.DrawFn) -> tuple[np.ndarray, int, int, float, int]:
    """(history, period, days, decay, horizon) with more than a day seen, horizon <= a day."""
    n = draw(st.integers(1, 3))
    period = draw(st.integers(1, 6))
    days = draw(st.integers(1, 4))
    decay = draw(st.floats(0.0, 0.99))
    seen = draw(st.integers(period + 1, period * (days + 3)))
    rows = draw(st.lists(st.lists(energies, min_size=seen, max_size=seen), min_size=n, max_size=n))
    return np.array(rows), period, days, decay, draw(st.integers(1, period))


@settings(max_examples=60, deadline=None)
@given(histories())
# two whole days seen with days=2
@example((np.array([[0.0, 10.0, 0.0, 10.0]]), 2, 2, 0.5, 1))
def test_matches_an_independent_reference_within_a_day(
    case: tuple[np.ndarray, int, int, float, int],
) -> None:
    """For horizons up to a day, the ring buffer equals the formula of the docstring
    evaluated on the whole history (which also exercises the ring's wrap-around)."""
    history, period, days, decay, horizon = case
    f = fed(history, period, days=days, decay=decay)
    expected = reference_forecast(history, period, days, decay, horizon)
    assert np.allclose(f.forecast(horizon), expected, rtol=1e-9, atol=1e-6)


def test_the_same_time_of_day_has_the_same_profile_a_day_later() -> None:
    """With decay 0 the forecast is the profile alone, the mean of the same time of day
    over the last ``days`` days: it cannot differ between h and h + period.

    Here days [2, 10] and [4, 20], then 3: the forecast for the second time of day is
    mean(10, 20) = 15 both tomorrow-ish (h=1) and a day later (h=3)."""
    f = fed(np.array([[2.0, 10.0, 4.0, 20.0, 3.0]]), 2, days=2, decay=0.0)
    forecast = f.forecast(4)[0]
    assert forecast[:2] == pytest.approx([15.0, 3.5], abs=1e-12)
    assert forecast[2:] == pytest.approx(forecast[:2], abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(1, 4),
    st.floats(0.0, 0.99),
    st.data(),
)
def test_forecasts_stay_within_zero_and_the_largest_value_seen(
    n: int, period: int, days: int, decay: float, data: st.DataObject
) -> None:
    seen = data.draw(st.integers(1, period * (days + 3)))
    history = np.array(
        data.draw(
            st.lists(st.lists(energies, min_size=seen, max_size=seen), min_size=n, max_size=n)
        )
    )
    horizon = data.draw(st.integers(1, 3 * period))
    forecast = fed(history, period, days=days, decay=decay).forecast(horizon)
    assert forecast.shape == (n, horizon)
    assert (forecast >= 0).all()
    assert (forecast <= history.max(axis=1)[:, None]).all()


def test_zero_series_is_allowed() -> None:
    f = SeasonalForecaster(0, 4)
    f.observe(np.zeros(0))
    assert f.forecast(2).shape == (0, 2)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1, 4), {}, "n >= 0"),
        ((1, 0), {}, "n >= 0"),
        ((1, 4), {"days": 0}, "n >= 0"),
        ((1, 4), {"decay": 1.0}, "decay"),
        ((1, 4), {"decay": -0.1}, "decay"),
    ],
)
def test_invalid_parameters_raise(args: tuple[int, int], kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        SeasonalForecaster(*args, **kwargs)


def test_observations_need_one_value_per_series() -> None:
    f = SeasonalForecaster(2, 4)
    with pytest.raises(DataError, match="expected 2 values"):
        f.observe(np.zeros(3))
    with pytest.raises(DataError, match="expected 2 values"):
        f.observe(np.zeros((2, 1)))
    assert f.observed == 0  # a rejected observation is not counted


@pytest.mark.parametrize("horizon", [0, -1])
def test_a_horizon_below_one_raises(horizon: int) -> None:
    f = fed(np.ones((1, 5)), 2)
    with pytest.raises(DataError, match="horizon"):
        f.forecast(horizon)
