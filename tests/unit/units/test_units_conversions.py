"""Unit conversions: energy, money and power, with explicit rounding."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.units import (
    KW_PER_MW,
    MINUTES_PER_HOUR,
    MS_PER_S,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    W_PER_KW,
    UnitError,
    currency_to_micros,
    energy_cost_micros,
    energy_wh_to_mean_power_kw,
    kw_per_wh,
    kw_to_wh_f,
    kwh_to_wh,
    micros_to_currency,
    mul_div,
    power_kw_to_energy_wh,
    power_kw_to_wh,
    report_kwh,
    wh_to_kwh,
)

non_negative = st.integers(min_value=0, max_value=10**18)
positive = st.integers(min_value=1, max_value=10**18)


@pytest.mark.parametrize(
    ("e_kwh", "e_wh"),
    [(0.0, 0), (1.0, 1000), (1.2344, 1234), (0.0005, 0), (0.0015, 2), (0.0025, 2), (-0.25, -250)],
)
def test_kwh_to_wh_rounds_half_to_even(e_kwh: float, e_wh: int) -> None:
    """kWh -> Wh rounds to the nearest Wh, ties to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2)."""
    result = kwh_to_wh(e_kwh)
    assert result == e_wh
    assert type(result) is int


@settings(max_examples=200)
@given(e_wh=st.integers(min_value=-(10**15), max_value=10**15))
def test_wh_kwh_round_trip(e_wh: int) -> None:
    """Whole Wh survive the trip through float kWh."""
    assert kwh_to_wh(wh_to_kwh(e_wh)) == e_wh


@settings(max_examples=200)
@given(e_wh=st.integers(min_value=-(10**12), max_value=10**12))
def test_a_reports_kwh_is_exact_to_the_wh(e_wh: int) -> None:
    """Three decimals keep every Wh: the report's kWh reads back as the same Wh."""
    assert kwh_to_wh(report_kwh(e_wh)) == e_wh
    assert report_kwh(1_234_567) == 1234.567


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        ("0.28", 280_000),
        (Decimal("1.000001"), 1_000_001),
        (3, 3_000_000),
        ("-0.07", -70_000),
        ("2.500000000", 2_500_000),
    ],
)
def test_currency_to_micros_is_exact(amount: Decimal | int | str, micros: int) -> None:
    """Amounts with up to 6 significant decimals convert exactly to int micros."""
    result = currency_to_micros(amount)
    assert result == micros
    assert type(result) is int


@pytest.mark.parametrize("amount", ["0.0000001", "1.2345678", Decimal("0.1234565")])
def test_currency_to_micros_rejects_sub_micro_precision(amount: Decimal | str) -> None:
    """More than 6 decimal places cannot be represented in micros and are refused."""
    with pytest.raises(UnitError, match="more than 6 decimal places"):
        currency_to_micros(amount)


def test_micros_to_currency_has_six_decimals() -> None:
    """Micros become a Decimal quantised to 6 places."""
    assert micros_to_currency(280_000) == Decimal("0.28")
    assert str(micros_to_currency(280_000)) == "0.280000"
    assert str(micros_to_currency(-1)) == "-0.000001"


@settings(max_examples=200)
@given(amount_micros=st.integers(min_value=-(10**18), max_value=10**18))
def test_micros_currency_round_trip(amount_micros: int) -> None:
    """micros -> currency -> micros is the identity."""
    assert currency_to_micros(micros_to_currency(amount_micros)) == amount_micros


@settings(max_examples=200)
@given(a=non_negative, b=non_negative, denominator=positive)
def test_mul_div_rounds_as_asked(a: int, b: int, denominator: int) -> None:
    """round_up gives the ceiling, round_down the floor; they differ by at most 1."""
    exact = Fraction(a * b, denominator)
    up = mul_div(a, b, denominator, round_up=True)
    down = mul_div(a, b, denominator, round_up=False)
    assert up == math.ceil(exact)
    assert down == math.floor(exact)
    assert up - down == (0 if exact.denominator == 1 else 1)


@pytest.mark.parametrize(("a", "b"), [(-1, 5), (5, -1), (-2, -3)])
def test_mul_div_rejects_negative_operands(a: int, b: int) -> None:
    """Negative operands are refused, whatever the rounding."""
    for round_up in (True, False):
        with pytest.raises(UnitError, match="non-negative"):
            mul_div(a, b, 7, round_up=round_up)


@pytest.mark.parametrize("denominator", [0, -1000])
def test_mul_div_rejects_non_positive_denominator(denominator: int) -> None:
    """The denominator must be positive."""
    with pytest.raises(UnitError, match="denominator"):
        mul_div(1, 1, denominator, round_up=False)


def test_energy_cost_rounds_payer_up_and_payee_down() -> None:
    """1 Wh at 1 micro/kWh costs the buyer 1 micro and credits the seller 0."""
    assert energy_cost_micros(1, 1, round_up=True) == 1
    assert energy_cost_micros(1, 1, round_up=False) == 0
    assert energy_cost_micros(1_500, 280_000, round_up=True) == 420_000
    assert energy_cost_micros(1_500, 280_000, round_up=False) == 420_000
    assert energy_cost_micros(0, 280_000, round_up=True) == 0


@settings(max_examples=200)
@given(e_wh=non_negative, price=st.integers(min_value=0, max_value=10**9))
def test_energy_cost_never_creates_money(e_wh: int, price: int) -> None:
    """Buyer cost minus seller credit is 0 or 1 micro, and brackets the exact amount."""
    cost = energy_cost_micros(e_wh, price, round_up=True)
    credit = energy_cost_micros(e_wh, price, round_up=False)
    exact = Fraction(e_wh * price, 1000)
    assert credit <= exact <= cost
    assert cost - credit in (0, 1)


def test_energy_and_power_conversions() -> None:
    """Energy = power x duration, in both directions."""
    quarter = timedelta(minutes=15)
    assert energy_wh_to_mean_power_kw(250, quarter) == 1.0
    assert energy_wh_to_mean_power_kw(1000, timedelta(hours=1)) == 1.0
    assert power_kw_to_energy_wh(2.0, quarter) == 500.0
    assert power_kw_to_energy_wh(-2.0, quarter) == -500.0
    assert power_kw_to_energy_wh(3.0, timedelta(0)) == 0.0


@pytest.mark.parametrize("duration", [timedelta(0), timedelta(minutes=-15)])
def test_mean_power_needs_positive_duration(duration: timedelta) -> None:
    """A mean power over no time is undefined and refused."""
    with pytest.raises(UnitError, match="duration"):
        energy_wh_to_mean_power_kw(100, duration)


@settings(max_examples=200)
@given(
    p_kw=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    seconds=st.integers(min_value=1, max_value=31 * 86_400),
)
def test_power_energy_round_trip(p_kw: float, seconds: int) -> None:
    """Power -> energy -> mean power returns the power (up to float rounding)."""
    duration = timedelta(seconds=seconds)
    e_wh = power_kw_to_energy_wh(p_kw, duration)
    assert energy_wh_to_mean_power_kw(e_wh, duration) == pytest.approx(p_kw, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("amount", ["Infinity", "NaN", "abc"])
def test_currency_to_micros_rejects_non_amounts(amount: str) -> None:
    """Infinite, NaN and non-numeric amounts are refused with a UnitError."""
    with pytest.raises(UnitError):
        currency_to_micros(amount)


def test_currency_to_micros_keeps_every_digit_of_large_amounts() -> None:
    """Large amounts are converted exactly, not rounded by the decimal context."""
    assert currency_to_micros("1234567890123456789012345.123456") == (
        1234567890123456789012345123456
    )
    with pytest.raises(UnitError, match="more than 6 decimal places"):
        currency_to_micros("1234567890123456789012345.1234567")


def test_kw_per_mw_converts_pandapower_megawatts_to_kilowatts() -> None:
    """pandapower's 0.25 MW is a member's 250 kW, and back."""
    assert 0.25 * KW_PER_MW == 250.0
    assert 250.0 / KW_PER_MW == 0.25


@pytest.mark.parametrize(
    ("p_kw", "minutes", "e_wh"),
    [
        (1.5, 60, 1500),
        (2.0, 15, 500),
        (0.002, 15, 0),
        (0.006, 15, 2),
        (0.01, 15, 2),
        (-4.0, 30, -2000),
    ],
)
def test_power_kw_to_wh_rounds_to_the_nearest_wh_half_to_even(
    p_kw: float, minutes: int, e_wh: int
) -> None:
    """kW held for a duration -> whole Wh, halves to even (0.5 Wh -> 0, 2.5 Wh -> 2)."""
    result = power_kw_to_wh(p_kw, timedelta(minutes=minutes))
    assert result == e_wh
    assert type(result) is int


def test_a_day_has_86400_seconds() -> None:
    assert timedelta(days=1).total_seconds() == SECONDS_PER_DAY


def test_time_and_power_constants() -> None:
    assert timedelta(minutes=1).total_seconds() == SECONDS_PER_MINUTE
    assert SECONDS_PER_MINUTE * MINUTES_PER_HOUR == SECONDS_PER_HOUR
    assert timedelta(seconds=1) / timedelta(milliseconds=1) == MS_PER_S
    assert W_PER_KW * KW_PER_MW == 1_000_000


@pytest.mark.parametrize(
    ("p_kw", "hours", "e_wh_f"), [(4.0, 0.25, 1_000.0), (0.3, 0.25, 75.0), (2.5, 1.0, 2_500.0)]
)
def test_kw_to_wh_f_is_power_times_hours_in_wh(p_kw: float, hours: float, e_wh_f: float) -> None:
    assert kw_to_wh_f(p_kw, hours) == pytest.approx(e_wh_f)
    assert kw_to_wh_f(p_kw, hours) == p_kw * 1000 * hours  # the same float, bit for bit


@settings(max_examples=200)
@given(st.integers(-(10**9), 10**9), st.sampled_from([1 / 60, 0.25, 0.5, 1.0, 24.0]))
def test_kw_per_wh_turns_an_intervals_wh_into_mean_kw(e_wh: int, hours: float) -> None:
    factor = kw_per_wh(hours)
    assert factor == 1 / 1000 / hours
    assert e_wh * factor == pytest.approx(e_wh / 1000 / hours, rel=1e-12, abs=1e-12)
    assert kw_to_wh_f(e_wh * factor, hours) == pytest.approx(e_wh, rel=1e-9, abs=1e-6)
