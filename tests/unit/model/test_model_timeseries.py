"""Piecewise-constant step series put onto fixed intervals conserve energy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.model import ModelError
from gridshare.model.timeseries import cumulative_energy, energy_on_intervals

HOURLY = np.array([1.0, 2.0, 3.0, 4.0])  # Wh per hour: 4 h of piecewise-constant power
ORIGIN_S = 1_735_689_600  # 2025-01-01T00:00Z


def test_cumulative_energy_starts_at_zero_and_ends_at_total() -> None:
    """The integral has one more value than the steps: 0 first, the total last."""
    cumulative = cumulative_energy(HOURLY)
    assert cumulative.tolist() == [0.0, 1.0, 3.0, 6.0, 10.0]


def test_intervals_on_step_boundaries_return_the_steps() -> None:
    """Hourly intervals aligned with hourly steps give back each step's energy."""
    starts = ORIGIN_S + 3600 * np.arange(4, dtype=np.int64)
    result = energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, 3600)
    assert result.tolist() == HOURLY.tolist()


def test_quarter_hours_split_each_step_evenly() -> None:
    """Power is constant within a step, so each quarter hour holds a quarter of it."""
    starts = ORIGIN_S + 900 * np.arange(16, dtype=np.int64)
    result = energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, 900)
    np.testing.assert_allclose(result, np.repeat(HOURLY / 4, 4), rtol=1e-12)


def test_interval_straddling_two_steps_takes_a_share_of_each() -> None:
    """[0:30, 1:30) holds half of hour 0 and half of hour 1."""
    starts = np.array([ORIGIN_S + 1800], dtype=np.int64)
    result = energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, 3600)
    assert result.tolist() == pytest.approx([0.5 * 1.0 + 0.5 * 2.0])


def test_result_keeps_the_shape_of_starts() -> None:
    """A [intervals, members] grid of starts gives a [intervals, members] result."""
    starts = ORIGIN_S + np.array([[0, 900], [3600, 4500], [7200, 0]], dtype=np.int64)
    result = energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, 900)
    assert result.shape == (3, 2)
    np.testing.assert_allclose(result, [[0.25, 0.25], [0.5, 0.5], [0.75, 0.25]])


@pytest.mark.parametrize(
    ("offset_s", "length_s"),
    [(-1, 900), (-3600, 3600), (4 * 3600 - 899, 900), (4 * 3600, 900), (0, 4 * 3600 + 1)],
)
def test_intervals_outside_the_series_raise(offset_s: int, length_s: int) -> None:
    """An interval that starts before or ends after the series is refused."""
    starts = np.array([ORIGIN_S + offset_s], dtype=np.int64)
    with pytest.raises(ModelError, match="outside the series"):
        energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, length_s)


def test_whole_span_as_one_interval_is_allowed() -> None:
    """The interval covering exactly the series is inside it."""
    starts = np.array([ORIGIN_S], dtype=np.int64)
    result = energy_on_intervals(cumulative_energy(HOURLY), ORIGIN_S, 3600, starts, 4 * 3600)
    assert result.tolist() == [10.0]


@settings(max_examples=150, deadline=None)
@given(
    native_step_s=st.integers(min_value=1, max_value=3600),
    length_s=st.integers(min_value=1, max_value=3600),
    repeats=st.integers(min_value=1, max_value=3),
    native_start_s=st.integers(min_value=-(10**9), max_value=4 * 10**9),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_partition_of_the_span_conserves_energy(
    native_step_s: int, length_s: int, repeats: int, native_start_s: int, seed: int
) -> None:
    """Intervals of any length that tile the series' span sum to the series total."""
    span_s = math.lcm(native_step_s, length_s) * repeats
    n_steps, n_intervals = span_s // native_step_s, span_s // length_s
    energy = np.random.default_rng(seed).uniform(0.0, 10_000.0, n_steps)
    starts = native_start_s + length_s * np.arange(n_intervals, dtype=np.int64)
    result = energy_on_intervals(
        cumulative_energy(energy), native_start_s, native_step_s, starts, length_s
    )
    assert result.shape == (n_intervals,)
    assert (result >= -1e-6).all()
    assert result.sum() == pytest.approx(energy.sum(), rel=1e-9, abs=1e-6)
