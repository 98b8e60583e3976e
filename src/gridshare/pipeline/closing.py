"""Closing an interval: completeness and quality of its readings (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridshare.model import QualityFlag, ReadingBatch
from gridshare.units import Interval


@dataclass(frozen=True, slots=True)
class ClosedInterval:
    """An interval whose readings are final for the pipeline's steps."""

    batch: ReadingBatch
    expected: int
    missing_meter_index: NDArray[np.int64]
    quality: QualityFlag

    @property
    def interval(self) -> Interval:
        return self.batch.interval

    @property
    def received(self) -> int:
        return len(self.batch)

    @property
    def completeness(self) -> float:
        return self.received / self.expected if self.expected else 1.0


def close_interval(
    batch: ReadingBatch, expected_meter_index: NDArray[np.int64], quality: QualityFlag
) -> ClosedInterval:
    """Close ``batch``'s interval, flagging meters that did not report."""
    missing = np.setdiff1d(expected_meter_index, batch.meter_index, assume_unique=True)
    if missing.size:
        quality |= QualityFlag.MISSING
    return ClosedInterval(batch, int(expected_meter_index.size), missing, quality)
