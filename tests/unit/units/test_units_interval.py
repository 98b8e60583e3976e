"""Interval: epoch-aligned, half-open, timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.units import EPOCH, Interval, UnitError, from_unix_seconds, to_unix_seconds

QUARTER = timedelta(minutes=15)
START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - Hypothesis bounds are naive by design
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
lengths = st.integers(min_value=1, max_value=7 * 86_400).map(lambda s: timedelta(seconds=s))


def test_aligned_interval_has_end_start_s_length_s_and_hours() -> None:
    """A quarter hour keeps its start and reports end, key and length consistently."""
    interval = Interval(START, QUARTER)
    assert interval.end == datetime(2025, 6, 2, 12, 15, tzinfo=UTC)
    assert interval.start_s == int(START.timestamp()) == 1_748_865_600
    assert interval.length_s == 900
    assert interval.hours == 0.25


def test_start_in_another_zone_is_converted_to_utc() -> None:
    """An aware start in a fixed offset zone is stored as the same instant in UTC."""
    plus_two = timezone(timedelta(hours=2))
    interval = Interval(datetime(2025, 6, 2, 14, 0, tzinfo=plus_two), QUARTER)
    assert interval.start == START
    assert interval.start.tzinfo is UTC


def test_naive_start_is_rejected() -> None:
    """Naive datetimes are refused: the message says to use timezone-aware UTC."""
    with pytest.raises(UnitError, match="no time zone"):
        Interval(datetime(2025, 6, 2, 12, 0), QUARTER)  # noqa: DTZ001 - testing the refusal


@pytest.mark.parametrize(
    "start",
    [
        datetime(2025, 6, 2, 12, 1, tzinfo=UTC),
        datetime(2025, 6, 2, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 6, 2, 12, 14, 59, tzinfo=UTC),
    ],
)
def test_unaligned_start_is_rejected(start: datetime) -> None:
    """A start that is not a whole multiple of the length since the epoch is refused."""
    with pytest.raises(UnitError, match="not aligned"):
        Interval(start, QUARTER)


@pytest.mark.parametrize(
    "length",
    [timedelta(0), timedelta(seconds=-900), timedelta(seconds=1.5), timedelta(microseconds=1)],
)
def test_length_must_be_a_positive_whole_number_of_seconds(length: timedelta) -> None:
    """Zero, negative and fractional lengths are refused."""
    with pytest.raises(UnitError, match="length"):
        Interval(START, length)


@pytest.mark.parametrize("length", [timedelta(0), timedelta(seconds=-60), timedelta(seconds=0.5)])
def test_containing_rejects_lengths_below_one_second(length: timedelta) -> None:
    """containing() needs a positive length of at least one second."""
    with pytest.raises(UnitError):
        Interval.containing(START, length)


def test_interval_is_half_open() -> None:
    """The start belongs to the interval, the end belongs to the next one."""
    interval = Interval(START, QUARTER)
    assert START in interval
    assert interval.end - timedelta(microseconds=1) in interval
    assert interval.end not in interval
    assert START - timedelta(microseconds=1) not in interval
    assert interval.end in interval.next()


def test_contains_converts_other_zones_and_ignores_non_datetimes() -> None:
    """Membership compares instants, not wall-clock values; other objects are never inside."""
    interval = Interval(START, QUARTER)
    plus_two = timezone(timedelta(hours=2))
    assert datetime(2025, 6, 2, 14, 5, tzinfo=plus_two) in interval
    assert datetime(2025, 6, 2, 12, 5, tzinfo=plus_two) not in interval
    assert START.timestamp() not in interval
    assert "2025-06-02T12:05:00+00:00" not in interval


def test_contains_refuses_naive_datetimes() -> None:
    """A naive moment cannot be placed in UTC, so membership refuses it instead of guessing."""
    with pytest.raises(UnitError):
        _ = datetime(2025, 6, 2, 12, 5) in Interval(START, QUARTER)  # noqa: DTZ001


def test_next_follows_without_gap() -> None:
    """next() starts where this interval ends and keeps the length."""
    interval = Interval(START, QUARTER)
    following = interval.next()
    assert following.start == interval.end
    assert following.length == QUARTER
    assert following.start_s - interval.start_s == 900
    assert interval < following


def test_unix_seconds_round_trip_before_and_after_epoch() -> None:
    """to_unix_seconds and from_unix_seconds are inverse, also before 1970."""
    assert to_unix_seconds(EPOCH) == 0
    for seconds in (-86_401, -1, 0, 1, 1_748_865_600):
        assert to_unix_seconds(from_unix_seconds(seconds)) == seconds
    assert to_unix_seconds(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -1


@settings(max_examples=200)
@given(moment=moments, length=lengths)
def test_containing_returns_the_aligned_interval_holding_the_moment(
    moment: datetime, length: timedelta
) -> None:
    """containing(m, L) is aligned to the epoch, holds m, and its neighbours do not."""
    interval = Interval.containing(moment, length)
    assert interval.length == length
    assert interval.start_s % interval.length_s == 0
    assert interval.start <= moment < interval.end
    assert moment in interval
    assert moment not in interval.next()
    assert Interval.containing(interval.start, length) == interval
    assert Interval.containing(interval.end, length) == interval.next()
