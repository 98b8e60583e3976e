"""Time ranges of the read endpoints: aware ISO-8601 instants, half-open ``[start, end)``,
aligned to the resolution (UTC days for ``day``), at most ``max_buckets`` buckets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridshare.api.refusals import Refused
from gridshare.units import UnitError, parse_utc_seconds


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
    start_s, end_s = _instant("start", start), _instant("end", end)
    if end_s <= start_s:
        raise Refused(422, "invalid_range", "end must be after start (the range is [start, end))")
    if start_s % bucket_s or end_s % bucket_s:
        raise Refused(
            422,
            "invalid_range",
            f"start and end must be aligned to the {resolution.value} resolution "
            f"(multiples of {bucket_s} s since 1970-01-01T00:00:00Z; days are UTC days)",
        )
    buckets = (end_s - start_s) // bucket_s
    if buckets > max_buckets:
        raise Refused(
            422,
            "range_too_large",
            f"the range spans {buckets} buckets of {resolution.value}; the limit is "
            f"{max_buckets}: ask for a shorter range or a coarser resolution",
        )
    return TimeRange(start_s, end_s, bucket_s)
