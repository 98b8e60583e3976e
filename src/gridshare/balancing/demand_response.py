"""Demand response (issue 6): plan events, baseline consumption, measure and pay the response.

Programme
    Participants enrol a flexible load (:class:`Enrolment`) with the most power it can
    curtail (``flexible_kw``), the protocol its device speaks (OpenADR 2.0b or gridshare's
    MQTT commands) and a priority. The community calls an event (:class:`DemandResponseEvent`)
    when its forecast import exceeds the connection's limit (:func:`plan_event`). The
    programme is *opt-out*: an enrolled load called for an event takes part unless its
    device opts out; a load that does not answer is counted as taking part
    (:attr:`ParticipantResponse.NO_RESPONSE`), and is paid only for what its meter shows.

Baseline (:func:`compute_baseline`)
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

Measured response and payment (:func:`settle_event`)
    Over the event window ``[start_s, end_s)``:

    ``reduction_wh = max(0, baseline_wh - measured_wh)``

    ``delivered_wh = min(reduction_wh, requested_wh)`` where ``requested_wh`` is the
    requested power held over the window (``requested_kw x duration``, rounded to the nearest
    Wh, halves to even). The cap is deliberate: the community pays for the flexibility it
    asked for; a larger drop was not needed to keep the import under the limit, and the cap
    bounds what an inflated baseline can earn.

    ``payment_micros = floor(delivered_wh * rate_micros_per_kwh / 1000)``
    (:func:`gridshare.units.energy_cost_micros`, rounded down: the payee's credit).

    A participant that opted out is reported as such and gets ``delivered_wh = 0`` and
    ``payment_micros = 0`` (its baseline and measured energy are still reported). A
    participant without a reading for every interval of the window is *unmeasured* and gets
    0 too.

    Shift events have a rebound window ``[end_s, rebound_end_s)`` in which the load is
    expected to take the energy it moved. ``rebound_wh = max(0, measured - baseline)`` over
    that window (same baseline days and adjustment as the event window) and
    ``shifted_wh = min(delivered_wh, rebound_wh)`` are reported. What is paid is the same as
    for a curtailment: ``delivered_wh`` in the event window at the event's rate. The rebound
    is neither paid nor charged: the service bought is moving consumption out of the peak,
    and :func:`plan_event` places the rebound window after the peak.

All energy and money are integers (Wh, micro-units); power is ``float`` kW. Instants are
UNIX seconds (UTC), windows are half-open and aligned to the community's interval length.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridshare.errors import DataError
from gridshare.units import (
    energy_cost_micros,
    energy_wh_to_mean_power_kw,
    from_unix_seconds,
    mul_div,
    power_kw_to_energy_wh,
)

IntArray = NDArray[np.int64]
SECONDS_PER_DAY = 86_400
KW_TOLERANCE = 1e-9
"""kW: how far float sums of requested power may fall short of the target (rounding only)."""


class DemandResponseError(DataError):
    """An enrolment, event, history or response that demand response cannot use."""


class DeviceProtocol(StrEnum):
    """How gridshare talks to an enrolled device."""

    OPENADR = "openadr"
    """OpenADR 2.0b: the device (or its aggregator) is a VEN of gridshare's VTN."""
    MQTT = "mqtt"
    """gridshare's JSON commands on ``gridshare/<community>/commands/<device_id>``."""


class EventKind(StrEnum):
    CURTAIL = "curtail"
    """Reduce consumption in the window; the energy is not used later."""
    SHIFT = "shift"
    """Reduce consumption in the window and take the energy in the rebound window."""


class EventStatus(StrEnum):
    """Where an event is in its life, from the clock (cancellation is recorded, not derived)."""

    PENDING = "pending"
    """Issued, the window has not started (OpenADR ``far``/``near``)."""
    ACTIVE = "active"
    COMPLETED = "completed"
    """The window is over; it can be settled once the rebound window is metered too."""
    CANCELLED = "cancelled"


class ParticipantResponse(StrEnum):
    """What a called participant's device answered."""

    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    NO_RESPONSE = "no_response"
    """No answer: the programme is opt-out, so the load is counted as taking part."""


class BaselineMethod(StrEnum):
    HIGH_OF_DAYS = "high_of_days"
    """The standard rule: the highest ``highest`` of ``days`` eligible days."""
    FEW_DAYS = "few_days"
    """Fewer than ``days`` eligible days: the highest half of those there are."""
    SAME_DAY = "same_day"
    """No eligible day: the mean of the event day's adjustment window."""
    NO_DATA = "no_data"
    """Nothing to go on: baseline 0, nothing is paid."""


def _check_kw(value: float, name: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise DemandResponseError(f"{name} is {value} kW; it must be a finite power >= 0 kW")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A participant's flexible load, enrolled in the demand-response programme."""

    participant_index: int
    flexible_kw: float
    """The most power the load can curtail, kW."""
    protocol: DeviceProtocol
    device_id: str
    """The VEN id (OpenADR) or the MQTT device id."""
    priority: int = 0
    """Loads are called in increasing priority (0 first), then by participant index."""

    def __post_init__(self) -> None:
        if self.participant_index < 0:
            raise DemandResponseError(
                f"enrolment {self.device_id!r}: participant index {self.participant_index} "
                "must be >= 0"
            )
        _check_kw(self.flexible_kw, f"enrolment {self.device_id!r}: flexible_kw")
        try:
            object.__setattr__(self, "protocol", DeviceProtocol(self.protocol))
        except ValueError:
            raise DemandResponseError(
                f"enrolment {self.device_id!r}: protocol {self.protocol!r} is not one of "
                f"{', '.join(p.value for p in DeviceProtocol)}"
            ) from None
        if not self.device_id or self.device_id.strip() != self.device_id:
            raise DemandResponseError(
                f"participant {self.participant_index}: the device id {self.device_id!r} must be "
                "a non-empty id without surrounding spaces"
            )


@dataclass(frozen=True, slots=True)
class DemandResponseEvent:
    """A call on enrolled loads to curtail (or shift) power over ``[start_s, end_s)``."""

    event_id: str
    kind: EventKind
    start_s: int
    end_s: int
    interval_s: int
    """The community's interval length; the window is aligned to it."""
    target_kw: float
    """The reduction the community needs (it may exceed what was requested)."""
    rate_micros_per_kwh: int
    """What each delivered kWh is paid, micro-units."""
    participants: tuple[int, ...]
    requested_kw: tuple[float, ...]
    """The power each participant (same order) is asked to curtail, kW."""
    rebound_end_s: int | None = None
    """Shift events: the rebound window is ``[end_s, rebound_end_s)``."""

    def __post_init__(self) -> None:
        name = f"event {self.event_id!r}"
        if not self.event_id:
            raise DemandResponseError("an event needs a non-empty event_id")
        try:
            object.__setattr__(self, "kind", EventKind(self.kind))
        except ValueError:
            raise DemandResponseError(
                f"{name}: kind {self.kind!r} is not one of curtail, shift"
            ) from None
        _check_window(self.start_s, self.end_s, self.interval_s, name)
        _check_kw(self.target_kw, f"{name}: target_kw")
        if self.rate_micros_per_kwh < 0:
            raise DemandResponseError(
                f"{name}: rate {self.rate_micros_per_kwh} micros/kWh must be >= 0"
            )
        object.__setattr__(self, "participants", tuple(self.participants))
        object.__setattr__(self, "requested_kw", tuple(self.requested_kw))
        if len(self.participants) != len(self.requested_kw):
            raise DemandResponseError(
                f"{name}: {len(self.participants)} participants but "
                f"{len(self.requested_kw)} requested powers; give one per participant"
            )
        if len(set(self.participants)) != len(self.participants):
            raise DemandResponseError(f"{name}: a participant is listed twice")
        for index, kw in zip(self.participants, self.requested_kw, strict=True):
            if index < 0:
                raise DemandResponseError(f"{name}: participant index {index} must be >= 0")
            _check_kw(kw, f"{name}: requested_kw of participant {index}")
        if self.kind is EventKind.SHIFT:
            if self.rebound_end_s is None:
                raise DemandResponseError(
                    f"{name}: a shift event needs rebound_end_s (the end of the window in "
                    "which the moved energy is taken)"
                )
            _check_window(self.end_s, self.rebound_end_s, self.interval_s, f"{name} rebound")
        elif self.rebound_end_s is not None:
            raise DemandResponseError(
                f"{name}: only shift events have a rebound window; set rebound_end_s=None"
            )

    @property
    def start(self) -> datetime:
        return from_unix_seconds(self.start_s)

    @property
    def end(self) -> datetime:
        return from_unix_seconds(self.end_s)

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.end_s - self.start_s)

    @property
    def n_intervals(self) -> int:
        return (self.end_s - self.start_s) // self.interval_s

    @property
    def settles_after_s(self) -> int:
        """The first instant at which every interval the settlement needs has ended."""
        return self.end_s if self.rebound_end_s is None else self.rebound_end_s

    def requested_kw_of(self, participant_index: int) -> float:
        try:
            return self.requested_kw[self.participants.index(participant_index)]
        except ValueError:
            raise DemandResponseError(
                f"participant {participant_index} was not called in event {self.event_id!r} "
                f"(called: {list(self.participants)})"
            ) from None

    def requested_wh(self, participant_index: int) -> int:
        """The requested power held over the window, nearest Wh (halves to even)."""
        kw = self.requested_kw_of(participant_index)
        return round(power_kw_to_energy_wh(kw, self.duration))

    def status_at(self, now_s: int) -> EventStatus:
        if now_s < self.start_s:
            return EventStatus.PENDING
        if now_s < self.end_s:
            return EventStatus.ACTIVE
        return EventStatus.COMPLETED


def _check_window(start_s: int, end_s: int, interval_s: int, name: str) -> None:
    if interval_s <= 0:
        raise DemandResponseError(f"{name}: interval length {interval_s} s must be positive")
    if end_s <= start_s:
        raise DemandResponseError(
            f"{name}: the window ends ({end_s}) at or before it starts ({start_s}); "
            "end_s must be after start_s"
        )
    for label, moment in (("start", start_s), ("end", end_s)):
        if moment % interval_s:
            aligned = moment - moment % interval_s
            raise DemandResponseError(
                f"{name}: the window {label} {from_unix_seconds(moment).isoformat()} is not "
                f"aligned to the {interval_s} s interval; use e.g. "
                f"{from_unix_seconds(aligned).isoformat()}"
            )


# -- planning --------------------------------------------------------------------------------


def _best_window(weight: IntArray, is_over: NDArray[np.bool_], max_len: int) -> tuple[int, int]:
    """The run of intervals over the limit (at most ``max_len`` long) with the largest weight."""
    best = (-1, 0, 0)  # (weight, -start, end); every run has weight >= 0
    edges = np.diff(np.concatenate(([0], is_over.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    cumulative = np.concatenate(([0], np.cumsum(weight, dtype=np.int64)))
    for run_start, run_end in zip(starts.tolist(), ends.tolist(), strict=True):
        length = min(run_end - run_start, max_len)
        first = np.arange(run_start, run_end - length + 1)
        sums = cumulative[first + length] - cumulative[first]
        pick = int(np.argmax(sums))  # the first of equal sums: the earliest window
        candidate = (int(sums[pick]), -int(first[pick]), int(first[pick]) + length)
        if candidate[:2] > best[:2]:
            best = candidate
    return -best[1], best[2]


def _checked_forecast(forecast_import_wh: Sequence[int] | IntArray) -> IntArray:
    """The forecast import as int64 Wh, refused unless a non-empty 1-D series of whole,
    non-negative Wh."""
    forecast = np.asarray(forecast_import_wh)
    if forecast.ndim != 1 or forecast.size == 0:
        raise DemandResponseError(
            "the forecast import must be a non-empty 1-D series, one value (Wh) per interval"
        )
    if not np.issubdtype(forecast.dtype, np.integer):
        raise DemandResponseError("the forecast import must be whole Wh (an integer array)")
    forecast = forecast.astype(np.int64)
    if forecast.min() < 0:
        raise DemandResponseError(
            f"the forecast import has a negative value ({int(forecast.min())} Wh); import is "
            ">= 0 (pass export separately)"
        )
    return forecast


def _check_plan_settings(
    import_limit_wh: int,
    interval_s: int,
    horizon_start_s: int,
    max_intervals: int | None,
    rebound_intervals: int | None,
) -> None:
    if import_limit_wh < 0:
        raise DemandResponseError(f"the import limit {import_limit_wh} Wh must be >= 0")
    if interval_s <= 0:
        raise DemandResponseError(f"the interval length {interval_s} s must be positive")
    if horizon_start_s % interval_s:
        raise DemandResponseError(
            f"the horizon start {from_unix_seconds(horizon_start_s).isoformat()} is not "
            f"aligned to the {interval_s} s interval"
        )
    if max_intervals is not None and max_intervals < 1:
        raise DemandResponseError(f"max_intervals {max_intervals} must be at least 1")
    if rebound_intervals is not None and rebound_intervals < 1:
        raise DemandResponseError(f"rebound_intervals {rebound_intervals} must be at least 1")


def _check_one_device_per_participant(enrolments: Sequence[Enrolment]) -> None:
    seen: dict[int, str] = {}
    for enrolment in enrolments:
        if enrolment.participant_index in seen:
            raise DemandResponseError(
                f"participant {enrolment.participant_index} is enrolled twice "
                f"({seen[enrolment.participant_index]!r}, {enrolment.device_id!r}); enrol one "
                "device per participant (an OpenADR VEN can stand for several loads)"
            )
        seen[enrolment.participant_index] = enrolment.device_id


def _window_weight(
    excess: IntArray, price_micros_per_kwh: Sequence[int] | IntArray | None
) -> IntArray:
    """What the window maximises: the excess Wh, or excess x price (the costliest peak)."""
    if price_micros_per_kwh is None:
        return excess
    price = np.asarray(price_micros_per_kwh)
    if price.shape != excess.shape or not np.issubdtype(price.dtype, np.integer):
        raise DemandResponseError(
            f"price_micros_per_kwh needs one integer per interval ({excess.size})"
        )
    if price.min() < 0:
        raise DemandResponseError("price_micros_per_kwh must be >= 0")
    return excess * price.astype(np.int64)


def _call_in_priority_order(
    enrolments: Sequence[Enrolment], target_kw: float
) -> tuple[list[int], list[float]]:
    """Who is called and for how many kW: in increasing priority, then participant index,
    each asked for ``min(flexible_kw, what is still missing)`` until ``target_kw`` is
    covered; loads with no flexibility are skipped."""
    called: list[int] = []
    requested: list[float] = []
    missing_kw = target_kw
    for enrolment in sorted(enrolments, key=lambda e: (e.priority, e.participant_index)):
        if missing_kw <= KW_TOLERANCE:
            break
        if enrolment.flexible_kw <= 0:
            continue
        ask_kw = min(enrolment.flexible_kw, missing_kw)
        called.append(enrolment.participant_index)
        requested.append(ask_kw)
        missing_kw = target_kw - math.fsum(requested)
    return called, requested


def plan_event(
    forecast_import_wh: Sequence[int] | IntArray,
    import_limit_wh: int,
    enrolments: Sequence[Enrolment],
    *,
    horizon_start_s: int,
    interval_s: int,
    event_id: str,
    rate_micros_per_kwh: int,
    kind: EventKind = EventKind.CURTAIL,
    price_micros_per_kwh: Sequence[int] | IntArray | None = None,
    max_intervals: int | None = None,
    rebound_intervals: int | None = None,
) -> DemandResponseEvent | None:
    """Decide whether to call an event, when, and on whom; ``None`` if it is not needed.

    ``forecast_import_wh[t]`` is the community's forecast import (Wh) in interval ``t`` of
    the horizon that starts at ``horizon_start_s``. The window is the run of consecutive
    intervals whose import exceeds ``import_limit_wh`` with the largest excess (excess Wh x
    ``price_micros_per_kwh`` when prices are given: the costliest peak), at most
    ``max_intervals`` long; ties go to the earliest. The target is the largest excess in the
    window as a mean power (kW): a constant curtailment of that much keeps every interval
    of the window under the limit.

    Enrolments are called in increasing ``priority``, then participant index, each asked for
    ``min(flexible_kw, what is still missing)`` until the target is covered; when the
    enrolled capacity is too small, every load is asked for its full ``flexible_kw`` and the
    event's ``target_kw`` shows the gap. Loads with no flexibility are not called. No event
    (``None``) when nothing exceeds the limit or no enrolled load can help.

    A shift event's rebound window is the ``rebound_intervals`` (default: as many as the
    event window) right after it.
    """
    forecast = _checked_forecast(forecast_import_wh)
    _check_plan_settings(
        import_limit_wh, interval_s, horizon_start_s, max_intervals, rebound_intervals
    )
    _check_one_device_per_participant(enrolments)

    excess = np.maximum(forecast - import_limit_wh, 0)
    is_over = excess > 0
    if not is_over.any():
        return None
    weight = _window_weight(excess, price_micros_per_kwh)
    first, stop = _best_window(weight, is_over, max_intervals or forecast.size)

    interval = timedelta(seconds=interval_s)
    target_kw = energy_wh_to_mean_power_kw(int(excess[first:stop].max()), interval)
    called, requested = _call_in_priority_order(enrolments, target_kw)
    if not called:
        return None

    start_s = horizon_start_s + first * interval_s
    end_s = horizon_start_s + stop * interval_s
    rebound_end_s = None
    if EventKind(kind) is EventKind.SHIFT:
        rebound_end_s = end_s + (rebound_intervals or (stop - first)) * interval_s
    return DemandResponseEvent(
        event_id,
        EventKind(kind),
        start_s,
        end_s,
        interval_s,
        target_kw,
        rate_micros_per_kwh,
        tuple(called),
        tuple(requested),
        rebound_end_s,
    )


# -- baseline --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaselineRule:
    """Parameters of the "high ``highest`` of ``days``" baseline (defaults: PJM High 5 of 10,
    CAISO's 45-day lookback and +-20% cap)."""

    days: int = 10
    highest: int = 5
    max_lookback_days: int = 45
    adjustment_lead_s: int = 4 * 3_600
    """The adjustment window starts this long before the event."""
    adjustment_gap_s: int = 3_600
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
    _check_window(window_start_s, window_end_s, interval_s, "baseline window")
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


# -- measured response and payment -----------------------------------------------------------


def delivered_energy_wh(baseline_wh: int, measured_wh: int, requested_wh: int) -> int:
    """``min(max(0, baseline - measured), requested)``: the reduction that is paid."""
    if min(baseline_wh, measured_wh, requested_wh) < 0:
        raise DemandResponseError(
            f"baseline {baseline_wh} Wh, measured {measured_wh} Wh and requested "
            f"{requested_wh} Wh must all be >= 0"
        )
    return min(max(0, baseline_wh - measured_wh), requested_wh)


def payment_micros(delivered_wh: int, rate_micros_per_kwh: int) -> int:
    """What ``delivered_wh`` earns at ``rate_micros_per_kwh``, rounded down (payee)."""
    if delivered_wh < 0 or rate_micros_per_kwh < 0:
        raise DemandResponseError(
            f"delivered {delivered_wh} Wh and rate {rate_micros_per_kwh} micros/kWh must be >= 0"
        )
    return int(energy_cost_micros(delivered_wh, rate_micros_per_kwh, round_up=False))


@dataclass(frozen=True, slots=True)
class ParticipantSettlement:
    """One called participant's measured response and payment (all Wh / micro-units)."""

    participant_index: int
    response: ParticipantResponse
    is_measured: bool
    """A reading exists for every interval of the event window."""
    requested_wh: int
    baseline_wh: int
    """Over the event window."""
    measured_wh: int
    reduction_wh: int
    """``max(0, baseline - measured)``, whatever the response (informational)."""
    delivered_wh: int
    """The reduction credited: capped at ``requested_wh``; 0 when opted out or unmeasured."""
    payment_micros: int
    rebound_wh: int
    """Shift events: import above the baseline in the rebound window (else 0)."""
    shifted_wh: int
    """Shift events: ``min(delivered, rebound)``: the part of the delivery that was moved."""
    baseline_method: BaselineMethod
    adjustment: Fraction


@dataclass(frozen=True, slots=True)
class EventSettlement:
    event_id: str
    participants: tuple[ParticipantSettlement, ...]

    @property
    def delivered_wh(self) -> int:
        return sum(p.delivered_wh for p in self.participants)

    @property
    def payment_micros(self) -> int:
        return sum(p.payment_micros for p in self.participants)

    @property
    def opted_out(self) -> tuple[int, ...]:
        return tuple(
            p.participant_index
            for p in self.participants
            if p.response is ParticipantResponse.OPTED_OUT
        )


def _response_of(event: DemandResponseEvent, responses: Mapping[int, bool]) -> dict[int, bool]:
    unknown = sorted(set(responses) - set(event.participants))
    if unknown:
        raise DemandResponseError(
            f"responses from participants {unknown} who were not called in event "
            f"{event.event_id!r} (called: {list(event.participants)})"
        )
    return dict(responses)


def settle_event(
    event: DemandResponseEvent,
    responses: Mapping[int, bool],
    histories: Mapping[int, MeterHistory],
    *,
    past_events: Collection[tuple[int, int]] = (),
    rule: BaselineRule = HIGH_5_OF_10,
) -> EventSettlement:
    """Measure each called participant's response against its baseline and price it.

    ``responses`` maps a participant index to True (opted in) or False (opted out); a
    called participant that is missing did not answer (counted as taking part).
    ``histories`` must hold every called participant's meter history covering the
    lookback, the event window and, for shift events, the rebound window
    (:meth:`MeterHistory.empty` for one without readings).
    """
    answered = _response_of(event, responses)
    missing = [p for p in event.participants if p not in histories]
    if missing:
        raise DemandResponseError(
            f"event {event.event_id!r}: no meter history for participants {missing}; pass "
            "MeterHistory.empty(interval_s) for a participant without readings"
        )
    window = np.arange(event.start_s, event.end_s, event.interval_s, dtype=np.int64)
    rebound = np.arange(event.end_s, event.settles_after_s, event.interval_s, dtype=np.int64)
    settled = []
    for index in event.participants:
        history = histories[index]
        if history.interval_s != event.interval_s:
            raise DemandResponseError(
                f"participant {index}: meter history in {history.interval_s} s intervals, the "
                f"event in {event.interval_s} s; resample the history first"
            )
        baseline = compute_baseline(
            history, event.start_s, event.settles_after_s, past_events=past_events, rule=rule
        )
        base_window_wh = int(baseline.baseline_wh[: window.size].sum())
        measured, found = history.lookup(window)
        is_measured = bool(found.all())
        measured_wh = int(measured.sum())
        requested_wh = event.requested_wh(index)
        reduction_wh = max(0, base_window_wh - measured_wh) if is_measured else 0
        if index not in answered:
            response = ParticipantResponse.NO_RESPONSE
        elif answered[index]:
            response = ParticipantResponse.OPTED_IN
        else:
            response = ParticipantResponse.OPTED_OUT
        delivered_wh = 0
        if is_measured and response is not ParticipantResponse.OPTED_OUT:
            delivered_wh = delivered_energy_wh(base_window_wh, measured_wh, requested_wh)
        rebound_wh = 0
        if rebound.size:
            after, after_found = history.lookup(rebound)
            if after_found.all():
                base_rebound = int(baseline.baseline_wh[window.size :].sum())
                rebound_wh = max(0, int(after.sum()) - base_rebound)
        settled.append(
            ParticipantSettlement(
                index,
                response,
                is_measured,
                requested_wh,
                base_window_wh,
                measured_wh,
                reduction_wh,
                delivered_wh,
                payment_micros(delivered_wh, event.rate_micros_per_kwh),
                rebound_wh,
                min(delivered_wh, rebound_wh),
                baseline.method,
                baseline.adjustment,
            )
        )
    return EventSettlement(event.event_id, tuple(settled))


# -- channels: how events reach devices ------------------------------------------------------


class EventChannel(Protocol):
    """Delivers events to enrolled devices and collects their opt-in / opt-out.

    Implementations: ``gridshare.control.openadr.OpenAdrVtn`` (OpenADR 2.0b VENs),
    ``gridshare.control.mqtt.MqttCommandPublisher`` (MQTT devices), :class:`ScriptedChannel`
    (simulation, tests) and :class:`ChannelGroup` (several at once). Each sends only to the
    enrolments of its own protocol among the event's participants.
    """

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None: ...

    def responses(self, event_id: str) -> dict[int, bool]:
        """Participant index -> True (opted in) / False (opted out), for those that answered."""
        ...


def called_enrolments(
    event: DemandResponseEvent, enrolments: Sequence[Enrolment], protocol: DeviceProtocol | None
) -> list[Enrolment]:
    """The enrolments (of ``protocol``, or all) of the event's participants, in event order;
    an event participant without an enrolment is an error."""
    by_participant = {e.participant_index: e for e in enrolments}
    unknown = [p for p in event.participants if p not in by_participant]
    if unknown:
        raise DemandResponseError(
            f"event {event.event_id!r} calls participants {unknown} that are not enrolled; "
            "enrol them first or plan the event from the enrolments"
        )
    chosen = [by_participant[p] for p in event.participants]
    return [e for e in chosen if protocol is None or e.protocol is protocol]


@dataclass
class ScriptedChannel:
    """An in-memory channel: every device answers at once, opting out if its participant is
    in ``opting_out`` and not answering at all if in ``silent``."""

    opting_out: frozenset[int] = frozenset()
    silent: frozenset[int] = frozenset()
    issued: dict[str, DemandResponseEvent] = field(default_factory=dict)
    _answers: dict[str, dict[int, bool]] = field(default_factory=dict)

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        called = called_enrolments(event, enrolments, None)
        self.issued[event.event_id] = event
        self._answers[event.event_id] = {
            e.participant_index: e.participant_index not in self.opting_out
            for e in called
            if e.participant_index not in self.silent
        }

    def responses(self, event_id: str) -> dict[int, bool]:
        return dict(self._answers.get(event_id, {}))


@dataclass
class ChannelGroup:
    """Several channels as one (e.g. OpenADR and MQTT): each gets every event and sends it to
    its own protocol's devices; the responses are merged."""

    channels: Sequence[EventChannel]

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        called_enrolments(event, enrolments, None)  # every participant is enrolled
        for channel in self.channels:
            channel.issue(event, enrolments)

    def responses(self, event_id: str) -> dict[int, bool]:
        merged: dict[int, bool] = {}
        for channel in self.channels:
            merged.update(channel.responses(event_id))
        return merged
