"""Readings: integer, non-negative energy on timezone-aware intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from gridshare.model import NOT_REPORTED, ModelError, Reading, ReadingBatch, WriteReport
from gridshare.units import Interval, UnitError

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
INTERVAL = Interval(START, timedelta(minutes=15))


def batch(
    meter_index: object = (0, 1, 2),
    import_wh: object = (10, 0, 5),
    export_wh: object = (0, 7, 0),
    stored_wh: object = (NOT_REPORTED, NOT_REPORTED, 4_000),
) -> ReadingBatch:
    return ReadingBatch(
        INTERVAL,
        np.asarray(meter_index),
        np.asarray(import_wh),
        np.asarray(export_wh),
        np.asarray(stored_wh),
    )


def test_reading_keeps_values_and_converts_start_to_utc() -> None:
    """A valid reading keeps its energies; an aware start in another zone becomes UTC."""
    plus_one = timezone(timedelta(hours=1))
    reading = Reading("m1", datetime(2025, 6, 2, 13, 0, tzinfo=plus_one), 12, 0, stored_wh=5)
    assert reading.interval_start == START
    assert reading.interval_start.tzinfo is UTC
    assert (reading.import_wh, reading.export_wh, reading.stored_wh) == (12, 0, 5)


@pytest.mark.parametrize(
    ("import_wh", "export_wh"),
    [(-1, 0), (0, -1), (True, 0), (0, False), (1.0, 0), (0, 2.5), ("3", 0)],
)
def test_reading_energy_must_be_non_negative_int(import_wh: object, export_wh: object) -> None:
    """Negative, bool, float and str energies are refused with the meter named."""
    with pytest.raises(ModelError, match="reading of m1: (import|export)_wh must be an int >= 0"):
        Reading("m1", START, import_wh, export_wh)  # type: ignore[arg-type]


def test_reading_stored_energy_must_be_non_negative() -> None:
    """Stored energy below zero is refused."""
    with pytest.raises(ModelError, match="stored_wh must be an int >= 0"):
        Reading("m1", START, 0, 0, stored_wh=-1)


@pytest.mark.parametrize("stored_wh", [True, 2.5])
def test_reading_stored_energy_must_be_int(stored_wh: object) -> None:
    """Stored energy is integer Wh like the other energies of a reading."""
    with pytest.raises(ModelError):
        Reading("m1", START, 0, 0, stored_wh=stored_wh)  # type: ignore[arg-type]


def test_reading_refuses_naive_timestamp() -> None:
    """A naive interval start is refused."""
    with pytest.raises(UnitError, match="no time zone"):
        Reading("m1", datetime(2025, 6, 2, 12, 0), 1, 0)  # noqa: DTZ001 - testing the refusal


def test_batch_columns_become_int64() -> None:
    """Integer columns of any width are stored as int64; len() counts readings."""
    result = batch(meter_index=np.array([0, 1, 2], dtype=np.int32))
    assert len(result) == 3
    for column in (result.meter_index, result.import_wh, result.export_wh, result.stored_wh):
        assert column.dtype == np.int64
    assert result.import_wh.tolist() == [10, 0, 5]


def test_empty_batch_has_no_readings() -> None:
    """ReadingBatch.empty() holds zero readings in int64 columns."""
    empty = ReadingBatch.empty(INTERVAL)
    assert len(empty) == 0
    assert empty.interval == INTERVAL
    assert empty.stored_wh.dtype == np.int64


def test_batch_columns_must_have_equal_length() -> None:
    """Columns of different lengths are refused, naming the lengths."""
    with pytest.raises(ModelError, match=r"differ in length: \[2, 3\]"):
        batch(export_wh=(0, 7))


@pytest.mark.parametrize(
    "column", [{"import_wh": (10, -1, 5)}, {"export_wh": (0, 7, -3)}, {"stored_wh": (-2, -1, 0)}]
)
def test_batch_refuses_negative_values(column: dict[str, object]) -> None:
    """Negative energies and stored energy below NOT_REPORTED are refused."""
    with pytest.raises(ModelError, match="negative energy|stored_wh must be"):
        batch(**column)


def test_batch_refuses_repeated_meter() -> None:
    """Each meter reports at most once per interval."""
    with pytest.raises(ModelError, match="repeats a meter"):
        batch(meter_index=(0, 1, 0))


@pytest.mark.parametrize(
    "column",
    [
        {"import_wh": np.array([1.0, 2.0, 3.0])},
        {"export_wh": np.array([True, False, True])},
        {"meter_index": np.array(["a", "b", "c"])},
    ],
)
def test_batch_refuses_non_integer_dtype(column: dict[str, object]) -> None:
    """Float, bool and string columns are refused, naming the dtype."""
    with pytest.raises(ModelError, match="must hold integers"):
        batch(**column)


def test_batch_refuses_two_dimensional_column() -> None:
    """Columns are one-dimensional."""
    with pytest.raises(ModelError, match="one-dimensional"):
        batch(import_wh=np.array([[10, 0, 5]]))


def test_write_report_adds_counts_and_offered_is_their_sum() -> None:
    """Adding reports adds each count; offered counts every reading once."""
    total = WriteReport(inserted=3, duplicates=1) + WriteReport(
        inserted=2, duplicates=0, conflicts=4
    )
    assert total == WriteReport(inserted=5, duplicates=1, conflicts=4)
    assert total.offered == 10
    assert WriteReport().offered == 0
    assert WriteReport(1, 2, 3) + WriteReport() == WriteReport(1, 2, 3)


def test_batch_refuses_negative_meter_positions() -> None:
    """A negative position would silently index the last meter in NumPy."""
    interval = Interval(START, timedelta(minutes=15))
    one = np.array([1], dtype=np.int64)
    with pytest.raises(ModelError, match="meter_index must be >= 0"):
        ReadingBatch(interval, np.array([-1], dtype=np.int64), one, one, one)
