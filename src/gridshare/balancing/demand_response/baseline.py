"""Baseline (:func:`compute_baseline`)
What the participant would have imported without the event: the "high 5 of 10"
customer baseline (PJM Manual 11, "Economic Load Response"; the same family as CAISO's
"10-in-10" baseline):

1. Eligible days: going back day by day from the day before the event (at most
   ``max_lookback_days``, 45 as in CAISO), a day is eligible if it is of the same type as
   the event day (weekday or weekend, in the programme's time zone ``utc_offset_s``), no
   earlier demand-response event touched it, and the meter has a reading for every
   interval of the event window on that day. The first ``days`` (10) eligible days are
   kept.
2. Of these, the ``highest`` (5) days with the largest consumption over the event window
   are averaged, interval by interval (ties: the more recent day).
3. Same-day adjustment (symmetric, multiplicative, capped): the ratio of the
   participant's actual consumption in the adjustment window on the event day
   (``[start - 4 h, start - 1 h)``: three hours, skipping the hour before the event,
   which may already be affected by pre-cooling or notice) to the baseline of the same
   window from the same selected days, clipped to ``[0.8, 1.2]`` (+-20%), multiplies
   every baseline interval. It raises the baseline on a day that runs hotter than usual
   and lowers it on a cooler one. No adjustment (factor 1) when either side has a
   missing reading or the baseline adjustment energy is 0.

All of it is integer arithmetic: the adjusted baseline of an interval is
``floor(sum_of_selected_days * factor / count)`` with ``factor`` an exact fraction, so
the baseline rounds *down* (the community never pays for a fraction of a Wh that was not
shown to be saved).

Fallbacks (:class:`BaselineMethod`), when fewer than ``days`` eligible days exist:

* ``FEW_DAYS``: 1 <= n < 10 eligible days: the highest ``ceil(n * highest / days)``
  (the same "high half") of them, with the same adjustment.
* ``SAME_DAY``: no eligible day, but the event day's adjustment window is metered: each
  baseline interval is the mean consumption per interval of that window (a "meter before"
  baseline for new participants).
* ``NO_DATA``: neither: the baseline is 0, so nothing is paid.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from gridshare.balancing.demand_response.events import (
    BaselineMethod,
    DemandResponseError,
    check_window,
)
from gridshare.units import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    IntArray,
    mul_div,
)


@dataclass(frozen=True, slots=True)
class BaselineRule:
    """Parameters of the "high ``highest`` of ``days``" baseline (defaults: PJM High 5 of 10,
    CAISO's 45-day lookback and +-20% cap)."""

    days: int = 10
    highest: int = 5
    max_lookback_days: int = 45
    adjustment_lead_s: int = 4 * SECONDS_PER_HOUR
    """The adjustment window starts this long before the event."""
    adjustment_gap_s: int = SECONDS_PER_HOUR
    """... and ends this long before it (the hour before the event is skipped)."""
    adjustment_cap: Fraction = Fraction(1, 5)
    """The factor is clipped to ``[1 - cap, 1 + cap]``."""
    same_day_type: bool = True
    """Only weekdays for a weekday event, only weekend days for a weekend event."""
    utc_offset_s: int = 0
    """Where the programme's days begin: local midnight is ``-utc_offset_s`` in UTC."""

    def __post_init__(self) -> None:
        if not 1 <= self.highest <= self.days:
            raise DemandResponseError(
                f"baseline rule: highest ({self.highest}) must be between 1 and days ({self.days})"
            )
        if self.max_lookback_days < self.days:
            raise DemandResponseError(
                f"baseline rule: max_lookback_days ({self.max_lookback_days}) must be at least "
                f"days ({self.days})"
            )
        if not 0 <= self.adjustment_gap_s < self.adjustment_lead_s:
            raise DemandResponseError(
                "baseline rule: the adjustment window must end (adjustment_gap_s) after it "
                "starts (adjustment_lead_s), both before the event"
            )
        if not 0 <= self.adjustment_cap < 1:
            raise DemandResponseError(
                f"baseline rule: adjustment_cap {self.adjustment_cap} must be in [0, 1)"
            )


HIGH_5_OF_10 = BaselineRule()


@dataclass(frozen=True, slots=True)
class MeterHistory:
    """One participant's metered import per interval (from the grid meter), any gaps allowed."""

    start_s: IntArray
    """Interval starts (UNIX s), strictly increasing, aligned to ``interval_s``."""
    import_wh: IntArray
    """Import in each interval, Wh >= 0."""
    interval_s: int

    def __post_init__(self) -> None:
        start = np.asarray(self.start_s)
        energy = np.asarray(self.import_wh)
        if start.ndim != 1 or energy.shape != start.shape:
            raise DemandResponseError(
                f"meter history: {start.shape} interval starts for {energy.shape} readings; "
                "give one start per reading (1-D arrays)"
            )
        if start.size and not (
            np.issubdtype(start.dtype, np.integer) and np.issubdtype(energy.dtype, np.integer)
        ):
            raise DemandResponseError("meter history: starts and import must be integers")
        start = start.astype(np.int64)
        energy = energy.astype(np.int64)
        if self.interval_s <= 0:
            raise DemandResponseError(f"meter history: interval {self.interval_s} s must be > 0")
        if start.size:
            if np.any(np.diff(start) <= 0):
                raise DemandResponseError(
                    "meter history: interval starts must be strictly increasing (sort them and "
                    "drop duplicates)"
                )
            if np.any(start % self.interval_s):
                raise DemandResponseError(
                    f"meter history: interval starts must be aligned to {self.interval_s} s"
                )
            if energy.min() < 0:
                raise DemandResponseError(
                    "meter history: import must be >= 0 Wh (export is not consumption)"
                )
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "import_wh", energy)

    @classmethod
    def empty(cls, interval_s: int) -> MeterHistory:
        """A participant without readings (settled as unmeasured)."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), interval_s)

    def lookup(self, starts_s: IntArray) -> tuple[IntArray, NDArray[np.bool_]]:
        """The readings at ``starts_s`` (any shape) and whether each exists (0 where not)."""
        wanted = np.asarray(starts_s, dtype=np.int64)
        if self.start_s.size == 0:
            return np.zeros(wanted.shape, np.int64), np.zeros(wanted.shape, np.bool_)
        position = np.searchsorted(self.start_s, wanted)
        clipped = np.minimum(position, self.start_s.size - 1)
        found = self.start_s[clipped] == wanted
        return np.where(found, self.import_wh[clipped], 0), found


@dataclass(frozen=True, slots=True)
class Baseline:
    """The baseline of ``[start_s, start_s + len(baseline_wh) * interval_s)``."""

    start_s: int
    interval_s: int
    baseline_wh: IntArray
    """Per interval, Wh (rounded down)."""
    method: BaselineMethod
    days_used: tuple[int, ...]
    """How many days before the event each averaged day was (1 = the day before), the
    highest-consumption day first."""
    adjustment: Fraction
    """The same-day factor applied (1 when not adjusted)."""

    @property
    def total_wh(self) -> int:
        return int(self.baseline_wh.sum())


def _day(moment_s: int | IntArray, utc_offset_s: int) -> IntArray:
    return np.floor_divide(np.asarray(moment_s, dtype=np.int64) + utc_offset_s, SECONDS_PER_DAY)


def _is_weekend(day: IntArray) -> NDArray[np.bool_]:
    return np.asarray((day + 3) % 7 >= 5)  # day 0 (1970-01-01) was a Thursday


def _event_days(windows: Iterable[tuple[int, int]], utc_offset_s: int) -> set[int]:
    days: set[int] = set()
    for start_s, end_s in windows:
        if end_s <= start_s:
            raise DemandResponseError(
                f"past event window ({start_s}, {end_s}) ends before it starts"
            )
        first, last = int(_day(start_s, utc_offset_s)), int(_day(end_s - 1, utc_offset_s))
        days.update(range(first, last + 1))
    return days


def compute_baseline(
    history: MeterHistory,
    window_start_s: int,
    window_end_s: int,
    *,
    past_events: Collection[tuple[int, int]] = (),
    rule: BaselineRule = HIGH_5_OF_10,
) -> Baseline:
    """The participant's baseline import over ``[window_start_s, window_end_s)`` (module doc).

    ``past_events`` are the windows ``(start_s, end_s)`` of earlier demand-response events:
    the days they touched are not eligible. The window is at most one day long, so only
    readings from before it (and the event day's adjustment window) are used.
    """
    interval_s = history.interval_s
    check_window(window_start_s, window_end_s, interval_s, "baseline window")
    if window_end_s - window_start_s > SECONDS_PER_DAY:
        raise DemandResponseError(
            f"baseline window of {window_end_s - window_start_s} s: a day-matching baseline "
            "needs a window of at most one day; split longer events"
        )
    for name, value in (("lead", rule.adjustment_lead_s), ("gap", rule.adjustment_gap_s)):
        if value % interval_s:
            raise DemandResponseError(
                f"baseline rule: adjustment_{name}_s ({value}) must be a multiple of the "
                f"{interval_s} s interval"
            )
    window = np.arange(window_start_s, window_end_s, interval_s, dtype=np.int64)
    adjust = np.arange(
        window_start_s - rule.adjustment_lead_s,
        window_start_s - rule.adjustment_gap_s,
        interval_s,
        dtype=np.int64,
    )
    back = np.arange(1, rule.max_lookback_days + 1, dtype=np.int64)[:, None] * SECONDS_PER_DAY
    window_wh, window_found = history.lookup(window[None, :] - back)
    adjust_wh, adjust_found = history.lookup(adjust[None, :] - back)
    today_adjust_wh, today_adjust_found = history.lookup(adjust)

    event_day = _day(window_start_s, rule.utc_offset_s)
    days = _day(window_start_s - back[:, 0], rule.utc_offset_s)
    eligible = window_found.all(axis=1)
    excluded = _event_days(past_events, rule.utc_offset_s)
    if excluded:
        eligible &= ~np.isin(days, np.fromiter(excluded, np.int64, len(excluded)))
    if rule.same_day_type:
        eligible &= _is_weekend(days) == _is_weekend(event_day)
    candidates = np.flatnonzero(eligible)[: rule.days]  # most recent first
    n = int(candidates.size)
    if n == 0:
        if adjust.size and today_adjust_found.all():
            mean_wh = int(today_adjust_wh.sum()) // adjust.size
            values = np.full(window.size, mean_wh, dtype=np.int64)
            return Baseline(
                window_start_s, interval_s, values, BaselineMethod.SAME_DAY, (), Fraction(1)
            )
        return Baseline(
            window_start_s,
            interval_s,
            np.zeros(window.size, np.int64),
            BaselineMethod.NO_DATA,
            (),
            Fraction(1),
        )

    if n >= rule.days:
        count, method = rule.highest, BaselineMethod.HIGH_OF_DAYS
    else:
        count, method = -(-n * rule.highest // rule.days), BaselineMethod.FEW_DAYS
    totals = window_wh[candidates].sum(axis=1)
    order = np.argsort(-totals, kind="stable")  # ties: the more recent day (listed first)
    chosen = candidates[order[:count]]
    sums = window_wh[chosen].sum(axis=0)

    adjustment = Fraction(1)
    chosen_adjust_wh = int(adjust_wh[chosen].sum())
    is_adjustable = bool(adjust.size and today_adjust_found.all() and adjust_found[chosen].all())
    if is_adjustable and chosen_adjust_wh > 0:
        ratio = Fraction(int(today_adjust_wh.sum()) * count, chosen_adjust_wh)
        adjustment = min(max(ratio, 1 - rule.adjustment_cap), 1 + rule.adjustment_cap)
    values = np.fromiter(
        (
            mul_div(int(s), adjustment.numerator, count * adjustment.denominator, round_up=False)
            for s in sums.tolist()
        ),
        dtype=np.int64,
        count=window.size,
    )
    days_used = tuple(int(d) + 1 for d in chosen.tolist())
    return Baseline(window_start_s, interval_s, values, method, days_used, adjustment)
