"""Demand-response programme types: enrolments, events, their kinds and states.

Programme
    Participants enrol a flexible load (:class:`Enrolment`) with the most power it can
    curtail (``flexible_kw``), the protocol its device speaks (OpenADR 2.0b or gridshare's
    MQTT commands) and a priority. The community calls an event (:class:`DemandResponseEvent`)
    when its forecast import exceeds the connection's limit (:func:`plan_event`). The
    programme is *opt-out*: an enrolled load called for an event takes part unless its
    device opts out; a load that does not answer is counted as taking part
    (:attr:`ParticipantResponse.NO_RESPONSE`), and is paid only for what its meter shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from gridshare.errors import DataError
from gridshare.units import (
    from_unix_seconds,
    power_kw_to_wh,
)


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
        check_window(self.start_s, self.end_s, self.interval_s, name)
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
            check_window(self.end_s, self.rebound_end_s, self.interval_s, f"{name} rebound")
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
        return power_kw_to_wh(kw, self.duration)

    def status_at(self, now_s: int) -> EventStatus:
        if now_s < self.start_s:
            return EventStatus.PENDING
        if now_s < self.end_s:
            return EventStatus.ACTIVE
        return EventStatus.COMPLETED


def check_window(start_s: int, end_s: int, interval_s: int, name: str) -> None:
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
