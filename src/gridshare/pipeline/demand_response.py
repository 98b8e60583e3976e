"""Demand response in the pipeline: call events, hear opt-outs, measure, pay.

The balancing step hands the desk each interval's metered consumption and, after each
plan, the plan's import over the next hours. When the plan cannot keep the import under
the trigger (a share of the connection's limit), the desk calls an event on the enrolled
flexible loads (:func:`gridshare.balancing.demand_response.plan_event`) through its
channel (OpenADR 2.0b, MQTT, or simulated devices), records it (store and GridBalancing
contract), and once the event and any rebound window are metered, measures every called
member against its baseline (high 5 of 10 days), pays the measured curtailment at the
event's rate in CommunityCredit, and records the responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gridshare.balancing.demand_response import (
    BaselineRule,
    DemandResponseEvent,
    Enrolment,
    EventChannel,
    EventKind,
    EventSettlement,
    MeterHistory,
    plan_event,
    settle_event,
)
from gridshare.model.records import DemandResponseEventRecord, DemandResponseRecord
from gridshare.model.summary import DemandResponseSummary
from gridshare.pipeline.ports import DemandResponseStore
from gridshare.units import FloatArray, IntArray, report_kwh

DAY_S = 86_400


class DemandResponseChain(Protocol):
    """The GridBalancing contract's demand-response calls (participant positions; the
    adapter maps them to accounts)."""

    def open_event(self, event: DemandResponseEvent) -> int: ...

    def record_responses(self, event: DemandResponseEvent, settlement: EventSettlement) -> int: ...


@dataclass(frozen=True)
class DemandResponseOptions:
    rate_micros_per_kwh: int
    max_intervals: int
    trigger_fraction: float = 0.9
    kind: EventKind = EventKind.CURTAIL
    utc_offset_s: int = 0
    """Local time offset for the baseline's days (weekdays and weekends apart)."""


class DemandResponseDesk:
    """Keeps the consumption history, calls events and settles them."""

    def __init__(
        self,
        n: int,
        interval_s: int,
        enrolments: Sequence[Enrolment],
        channel: EventChannel,
        options: DemandResponseOptions,
        *,
        chain: DemandResponseChain | None = None,
        participant_ids: Sequence[str] = (),
    ) -> None:
        self.n = n
        self.interval_s = interval_s
        self.enrolments = tuple(enrolments)
        self.channel = channel
        self.options = options
        self.chain = chain
        self.participant_ids = tuple(participant_ids) or tuple(str(i) for i in range(n))
        self.rule = BaselineRule(utc_offset_s=options.utc_offset_s)
        keep = (self.rule.max_lookback_days + 2) * DAY_S // interval_s
        self._starts = np.zeros(keep, dtype=np.int64)
        self._history = np.zeros((n, keep), dtype=np.int64)
        self._seen = 0
        self.open: list[DemandResponseEvent] = []
        self.settled: list[tuple[DemandResponseEvent, EventSettlement]] = []
        self.chain_transactions = 0
        self._count = 0

    # -- history ------------------------------------------------------------------------
    def observe(self, start_s: int, consumption_wh: IntArray) -> None:
        """Record one interval's metered consumption per participant."""
        keep = self._starts.size
        at = self._seen % keep
        self._starts[at] = start_s
        self._history[:, at] = consumption_wh
        self._seen += 1

    def _meter_history(self, participant: int) -> MeterHistory:
        count = min(self._seen, self._starts.size)
        if count == 0:
            return MeterHistory.empty(self.interval_s)
        order = (np.arange(count) + (self._seen - count)) % self._starts.size
        return MeterHistory(
            self._starts[order].copy(), self._history[participant, order].copy(), self.interval_s
        )

    # -- events -------------------------------------------------------------------------
    def curtailment_wh_f(self, starts_s: IntArray) -> FloatArray:
        """(n, T): what open events ask each participant to curtail in each interval, so
        the plan counts on it."""
        out = np.zeros((self.n, starts_s.size), dtype=np.float64)
        for event in self.open:
            inside = (starts_s >= event.start_s) & (starts_s < event.end_s)
            if inside.any():
                for p in event.participants:
                    out[p, inside] += event.requested_wh(p) / event.n_intervals
        return out

    def consider(
        self,
        horizon_start_s: int,
        planned_import_wh: IntArray,
        import_limit_wh: int,
        prices_micros_per_kwh: IntArray,
        tx: DemandResponseStore,
    ) -> DemandResponseEvent | None:
        """Call an event if the plan's import from ``horizon_start_s`` on exceeds the
        trigger, and no event is open."""
        if not self.enrolments or self.open:
            return None
        trigger = int(import_limit_wh * self.options.trigger_fraction)
        self._count += 1
        event = plan_event(
            np.maximum(planned_import_wh, 0).astype(np.int64),
            trigger,
            self.enrolments,
            horizon_start_s=horizon_start_s,
            interval_s=self.interval_s,
            event_id=f"dr-{horizon_start_s}-{self._count}",
            rate_micros_per_kwh=self.options.rate_micros_per_kwh,
            kind=self.options.kind,
            price_micros_per_kwh=prices_micros_per_kwh.astype(np.int64),
            max_intervals=self.options.max_intervals,
        )
        if event is None:
            return None
        self.channel.issue(event, self.enrolments)
        self.open.append(event)
        tx.write_dr_event(
            DemandResponseEventRecord(
                event_id=event.event_id,
                kind=event.kind.value,
                start_s=event.start_s,
                end_s=event.end_s,
                rebound_end_s=event.rebound_end_s,
                target_kw=round(event.target_kw, 3),
                rate_micros_per_kwh=event.rate_micros_per_kwh,
                participants=len(event.participants),
            )
        )
        if self.chain is not None:
            self.chain_transactions += self.chain.open_event(event)
        return event

    def settle_due(self, metered_until_s: int, tx: DemandResponseStore) -> None:
        """Settle every open event whose window (and rebound) is metered."""
        for event in [e for e in self.open if e.settles_after_s <= metered_until_s]:
            self.open.remove(event)
            histories = {p: self._meter_history(p) for p in event.participants}
            past = [(e.start_s, e.end_s) for e, _ in self.settled]
            settlement = settle_event(
                event,
                self.channel.responses(event.event_id),
                histories,
                past_events=past,
                rule=self.rule,
            )
            self.settled.append((event, settlement))
            tx.write_dr_responses(
                [
                    DemandResponseRecord(
                        event_id=event.event_id,
                        participant_id=self.participant_ids[r.participant_index],
                        response=r.response.value,
                        requested_wh=r.requested_wh,
                        baseline_wh=r.baseline_wh,
                        measured_wh=r.measured_wh,
                        delivered_wh=r.delivered_wh,
                        payment_micros=r.payment_micros,
                        rebound_wh=r.rebound_wh,
                        baseline_method=r.baseline_method.value,
                    )
                    for r in settlement.participants
                ]
            )
            if self.chain is not None:
                self.chain_transactions += self.chain.record_responses(event, settlement)

    def summary(self) -> DemandResponseSummary:
        rows = [r for _, s in self.settled for r in s.participants]
        return DemandResponseSummary(
            enrolled=len(self.enrolments),
            events=len(self.settled) + len(self.open),
            settled=len(self.settled),
            calls=len(rows),
            opted_out=sum(len(s.opted_out) for _, s in self.settled),
            requested_kwh=report_kwh(sum(r.requested_wh for r in rows)),
            delivered_kwh=report_kwh(sum(r.delivered_wh for r in rows)),
            paid_micros=sum(r.payment_micros for r in rows),
        )
