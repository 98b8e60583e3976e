"""Measured response and payment (:func:`settle_event`)
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

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gridshare.balancing.demand_response.baseline import (
    HIGH_5_OF_10,
    BaselineRule,
    MeterHistory,
    compute_baseline,
)
from gridshare.balancing.demand_response.events import (
    BaselineMethod,
    DemandResponseError,
    DemandResponseEvent,
    ParticipantResponse,
)
from gridshare.units import (
    energy_cost_micros,
)


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
