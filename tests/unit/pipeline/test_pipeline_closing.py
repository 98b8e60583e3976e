"""Closing an interval: meters that did not report are listed and flagged MISSING."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.model import NOT_REPORTED, QualityFlag, ReadingBatch
from gridshare.pipeline.closing import close_interval
from gridshare.units import Interval

INTERVAL = Interval(datetime(2025, 6, 2, 12, 0, tzinfo=UTC), timedelta(minutes=15))
EXPECTED = np.arange(5, dtype=np.int64)


def batch_of(meter_index: list[int]) -> ReadingBatch:
    n = len(meter_index)
    return ReadingBatch(
        INTERVAL,
        np.array(meter_index, dtype=np.int64),
        np.full(n, 10, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.full(n, NOT_REPORTED, dtype=np.int64),
    )


def test_complete_interval_keeps_its_quality() -> None:
    """All expected meters reported: nothing missing, completeness 1, quality unchanged."""
    closed = close_interval(batch_of([4, 0, 2, 1, 3]), EXPECTED, QualityFlag.CONFLICT)
    assert closed.missing_meter_index.size == 0
    assert closed.quality is QualityFlag.CONFLICT
    assert (closed.received, closed.expected) == (5, 5)
    assert closed.completeness == 1.0
    assert closed.interval == INTERVAL


def test_missing_meters_are_listed_and_flagged() -> None:
    """Meters 1 and 3 did not report: they are listed, MISSING is added, 3/5 arrived."""
    closed = close_interval(batch_of([0, 2, 4]), EXPECTED, QualityFlag.CONFLICT)
    assert closed.missing_meter_index.tolist() == [1, 3]
    assert closed.quality == QualityFlag.MISSING | QualityFlag.CONFLICT
    assert closed.completeness == pytest.approx(0.6)


def test_empty_batch_misses_everything() -> None:
    """No readings at all: every meter is missing and completeness is 0."""
    closed = close_interval(ReadingBatch.empty(INTERVAL), EXPECTED, QualityFlag.OK)
    assert closed.missing_meter_index.tolist() == EXPECTED.tolist()
    assert closed.quality is QualityFlag.MISSING
    assert closed.completeness == 0.0


def test_nothing_expected_is_complete() -> None:
    """A community without meters is trivially complete."""
    closed = close_interval(
        ReadingBatch.empty(INTERVAL), np.zeros(0, dtype=np.int64), QualityFlag.OK
    )
    assert closed.completeness == 1.0
    assert closed.quality is QualityFlag.OK


@settings(max_examples=100)
@given(
    n_meters=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_received_plus_missing_is_expected(n_meters: int, data: st.DataObject) -> None:
    """Every expected meter is either received or missing, never both."""
    expected = np.arange(n_meters, dtype=np.int64)
    received = data.draw(st.lists(st.sampled_from(range(n_meters)), unique=True))
    closed = close_interval(batch_of(received), expected, QualityFlag.OK)
    missing = set(closed.missing_meter_index.tolist())
    assert missing.isdisjoint(received)
    assert missing | set(received) == set(range(n_meters))
    assert closed.completeness == len(received) / n_meters
    assert (QualityFlag.MISSING in closed.quality) == bool(missing)
