"""Time ranges of the read endpoints: aware ISO-8601 instants, half-open ``[start, end)``,
aligned to the resolution (UTC days for ``day``), at most ``max_buckets`` buckets. List
endpoints take a window aligned to the community's metering interval, at most
``max_buckets`` intervals, and answer at most ``max_rows`` rows (:func:`at_most`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from gridshare.api.refusals import Refused
from gridshare.units import UnitError, parse_utc_seconds

T = TypeVar("T")


class Resolution(StrEnum):
    """The bucket a query sums readings or balances over."""

    QUARTER = "15min"
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return {"15min": 900, "hour": 3600, "day": 86_400}[self.value]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start_s, end_s)`` in buckets of ``bucket_s`` seconds."""

    start_s: int
    end_s: int
    bucket_s: int


def _instant(name: str, text: str) -> int:
    try:
        return parse_utc_seconds(text)
    except UnitError as exc:
        raise Refused(422, "invalid_range", f"{name}: {exc}") from None


def _span(
    start: str,
    end: str,
    bucket_s: int,
    max_buckets: int,
    *,
    buckets_of: str,
    aligned_to: str,
    advice: str = "ask for a shorter range",
) -> TimeRange:
    """``[start, end)`` aligned to ``aligned_to`` (buckets of ``bucket_s``), at most
    ``max_buckets`` of them (``buckets_of`` names them in the refusal)."""
    start_s, end_s = _instant("start", start), _instant("end", end)
    if end_s <= start_s:
        raise Refused(422, "invalid_range", "end must be after start (the range is [start, end))")
    if start_s % bucket_s or end_s % bucket_s:
        raise Refused(
            422,
            "invalid_range",
            f"start and end must be aligned to {aligned_to} "
            f"(multiples of {bucket_s} s since 1970-01-01T00:00:00Z; days are UTC days)",
        )
    buckets = (end_s - start_s) // bucket_s
    if buckets > max_buckets:
        raise Refused(
            422,
            "range_too_large",
            f"the range spans {buckets} {buckets_of}; the limit is {max_buckets}: {advice}",
        )
    return TimeRange(start_s, end_s, bucket_s)


def parse_range(
    start: str, end: str, resolution: Resolution, interval_s: int, max_buckets: int
) -> TimeRange:
    """The range asked for, or :class:`Refused` 422 saying what to change."""
    bucket_s = resolution.seconds
    if bucket_s % interval_s:
        raise Refused(
            422,
            "resolution_too_fine",
            f"the community meters every {interval_s} s; ask for a resolution that is a "
            "multiple of it",
        )
    return _span(
        start,
        end,
        bucket_s,
        max_buckets,
        buckets_of=f"buckets of {resolution.value}",
        aligned_to=f"the {resolution.value} resolution",
        advice="ask for a shorter range or a coarser resolution",
    )


def parse_window(start: str, end: str, interval_s: int, max_intervals: int) -> TimeRange:
    """A list endpoint's window: aligned to the community's metering interval, at most
    ``max_intervals`` intervals (``bucket_s`` is the interval); or :class:`Refused` 422."""
    return _span(
        start,
        end,
        interval_s,
        max_intervals,
        buckets_of=f"metering intervals of {interval_s} s",
        aligned_to=f"the community's {interval_s} s metering interval",
    )


def at_most(rows: Sequence[T], max_rows: int, what: str) -> Sequence[T]:
    """``rows`` (fetched with a limit of ``max_rows + 1``), or :class:`Refused` 422 when
    the range holds more than ``max_rows``."""
    if len(rows) > max_rows:
        raise Refused(
            422,
            "too_many_rows",
            f"the range holds more than {max_rows} {what}, the most one request answers: "
            "ask for a shorter range (several requests cover a longer one)",
        )
    return rows
