"""Meter readings: one per meter and interval, energy in integer Wh.

A :class:`Reading` is what one device reports. A :class:`ReadingBatch` holds every
reading of one interval as columns (NumPy ``int64``), which is how the pipeline moves
readings: a community of thousands of meters costs a few array operations per interval,
not thousands of Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

import numpy as np

from gridshare.model.errors import ModelError
from gridshare.units import IntArray, Interval, require_utc

NOT_REPORTED = -1
"""Value of ``stored_wh`` for meters that report no stored energy."""


class QualityFlag(IntFlag):
    """Quality of an interval's data, stored as a bit mask."""

    OK = 0
    MISSING = 1
    """Expected meters did not report for the interval."""
    LIMIT_EXCEEDED = 4
    """The community exceeded its import or export limit at the point of common coupling."""
    INCONSISTENT = 8
    """Readings contradict each other (e.g. a participant's derived consumption < 0)."""
    CONFLICT = 16
    """A reading arrived again with a different value; the first is kept for review."""


@dataclass(frozen=True, slots=True)
class Reading:
    """Energy measured by one meter over one interval."""

    meter_id: str
    interval_start: datetime
    import_wh: int
    export_wh: int
    stored_wh: int | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval_start", require_utc(self.interval_start))
        for name in ("import_wh", "export_wh"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelError(f"reading of {self.meter_id}: {name} must be an int >= 0")
        stored = self.stored_wh
        if stored is not None and (
            not isinstance(stored, int) or isinstance(stored, bool) or stored < 0
        ):
            raise ModelError(f"reading of {self.meter_id}: stored_wh must be an int >= 0")


def _as_int_column(values: object, name: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ModelError(f"batch column {name} must be one-dimensional")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ModelError(f"batch column {name} must hold integers, got {array.dtype}")
    return array.astype(np.int64, copy=False)


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """All readings of one interval, as columns.

    ``meter_index`` are positions in the community's meter tuple; ``stored_wh`` is
    :data:`NOT_REPORTED` for meters without storage.
    """

    interval: Interval
    meter_index: IntArray
    import_wh: IntArray
    export_wh: IntArray
    stored_wh: IntArray

    def __post_init__(self) -> None:
        columns = {}
        for name in ("meter_index", "import_wh", "export_wh", "stored_wh"):
            columns[name] = _as_int_column(getattr(self, name), name)
            object.__setattr__(self, name, columns[name])
        sizes = {column.size for column in columns.values()}
        if len(sizes) > 1:
            raise ModelError(f"batch columns differ in length: {sorted(sizes)}")
        if (self.import_wh < 0).any() or (self.export_wh < 0).any():
            raise ModelError(f"batch for {self.interval.start.isoformat()} has negative energy")
        if (self.meter_index < 0).any():
            raise ModelError("meter_index must be >= 0 (positions in the community's meters)")
        if (self.stored_wh < NOT_REPORTED).any():
            raise ModelError("stored_wh must be >= 0 or NOT_REPORTED")
        if np.unique(self.meter_index).size != self.meter_index.size:
            raise ModelError(f"batch for {self.interval.start.isoformat()} repeats a meter")

    def __len__(self) -> int:
        return int(self.meter_index.size)

    @classmethod
    def empty(cls, interval: Interval) -> ReadingBatch:
        """A batch with no readings."""
        none = np.zeros(0, dtype=np.int64)
        return cls(interval, none, none, none, none)


@dataclass(frozen=True, slots=True)
class WriteReport:
    """Outcome of storing readings: every offered reading lands in exactly one count."""

    inserted: int = 0
    duplicates: int = 0
    """Same meter, interval and values as a stored reading: ignored, not counted twice."""
    conflicts: int = 0
    """Same meter and interval with different values: the stored reading is kept and the
    offered one recorded in the conflicts table for review."""

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
        )

    @property
    def offered(self) -> int:
        return self.inserted + self.duplicates + self.conflicts
