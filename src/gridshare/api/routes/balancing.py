"""Balancing records: the community's islanded stretches and demand-response events (for
its members when the community is large enough, as aggregates), its alerts and dispatched
setpoints and the members' responses (the operator and the auditor only: they name
members' devices and households), and a member's own demand-response record and their opt-out
of an event (sent before it starts).

List endpoints take a window aligned to the community's metering interval and answer at
most ``api_max_rows`` rows (422 ``too_many_rows`` beyond: ask for a shorter range)."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.auth import Principal
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.ranges import TimeRange, at_most, parse_window
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import READ_REFUSALS, End, Start, refusals
from gridshare.api.routes.communities import readable_community
from gridshare.api.routes.members import member_window, readable_member
from gridshare.api.schemas import (
    AlertOut,
    AlertsOut,
    CommunityDemandResponseOut,
    DemandResponseEventOut,
    DemandResponseOut,
    IslandOut,
    IslandsOut,
    MemberDemandResponseOut,
    MemberResponseOut,
    OptOutOut,
    SetpointOut,
    SetpointsOut,
)
from gridshare.model.records import DemandResponseEventRecord, DemandResponseRecord
from gridshare.units import from_unix_seconds, to_unix_seconds

router = APIRouter(prefix="/v1", tags=["balancing"])


def _window(
    caller: Principal, community_id: str, start: str, end: str, context: ApiContext, route: str
) -> TimeRange:
    interval_s, _ = readable_community(caller, community_id, context, route)
    return parse_window(start, end, interval_s, context.max_buckets)


def _operator_only(caller: Principal, what: str) -> None:
    if not caller.reads_everything:
        raise Refused(
            403,
            "wrong_role",
            f"{what} name members' devices or households: they are for the operator and the "
            "auditor (a member reads their own at /v1/members/{participant_id})",
        )


def _event(record: DemandResponseEventRecord) -> DemandResponseEventOut:
    rebound = record.rebound_end_s
    return DemandResponseEventOut(
        event_id=record.event_id,
        kind=record.kind,
        start=from_unix_seconds(record.start_s),
        end=from_unix_seconds(record.end_s),
        rebound_end=None if rebound is None else from_unix_seconds(rebound),
        target_kw=record.target_kw,
        rate_micros_per_kwh=record.rate_micros_per_kwh,
        participants=record.participants,
    )


def _response(record: DemandResponseRecord) -> DemandResponseOut:
    return DemandResponseOut(
        event_id=record.event_id,
        participant_id=record.participant_id,
        response=record.response,
        requested_wh=record.requested_wh,
        baseline_wh=record.baseline_wh,
        measured_wh=record.measured_wh,
        delivered_wh=record.delivered_wh,
        payment_micros=record.payment_micros,
        rebound_wh=record.rebound_wh,
        baseline_method=record.baseline_method,
    )


@router.get("/communities/{community_id}/islands", responses=READ_REFUSALS)
def community_islands(
    community_id: str, start: Start, end: End, caller: Caller, context: Context
) -> IslandsOut:
    """The community's islanded stretches overlapping ``[start, end)``: energy shed, and
    for the operator and the auditor the critical load served and unserved."""
    span = _window(caller, community_id, start, end, context, "islands")
    rows = context.store.community_island_events(
        community_id, span.start_s, span.end_s, context.max_rows + 1
    )
    return IslandsOut(
        community_id=community_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        islands=[
            IslandOut(
                start=from_unix_seconds(r.start_s),
                end=from_unix_seconds(r.end_s),
                shed_wh=r.shed_wh,
                unserved_critical_wh=r.unserved_critical_wh if caller.reads_everything else None,
                served_critical_wh=r.served_critical_wh if caller.reads_everything else None,
            )
            for r in at_most(rows, context.max_rows, "island events")
        ],
    )


@router.get("/communities/{community_id}/demand-response", responses=READ_REFUSALS)
def community_demand_response(
    community_id: str, start: Start, end: End, caller: Caller, context: Context
) -> CommunityDemandResponseOut:
    """Demand-response events starting in ``[start, end)``; with each member's response
    and payment for the operator and the auditor only (``responses`` is null for members)."""
    span = _window(caller, community_id, start, end, context, "demand-response")
    limit = context.max_rows + 1
    events = context.store.community_dr_events(community_id, span.start_s, span.end_s, limit)
    events = list(at_most(events, context.max_rows, "events"))
    responses = None
    if caller.reads_everything:
        found = context.store.community_dr_responses(community_id, span.start_s, span.end_s, limit)
        responses = [_response(r.response) for r in at_most(found, context.max_rows, "responses")]
    return CommunityDemandResponseOut(
        community_id=community_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        events=[_event(e) for e in events],
        responses=responses,
    )


@router.get("/communities/{community_id}/alerts", responses=READ_REFUSALS)
def community_alerts(
    community_id: str, start: Start, end: End, caller: Caller, context: Context
) -> AlertsOut:
    """The balance monitor's alerts for the intervals in ``[start, end)`` (operator and
    auditor)."""
    _operator_only(caller, "alerts")
    span = _window(caller, community_id, start, end, context, "alerts")
    rows = context.store.community_alerts(
        community_id, span.start_s, span.end_s, context.max_rows + 1
    )
    return AlertsOut(
        community_id=community_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        alerts=[
            AlertOut(
                interval_start=from_unix_seconds(r.interval_start_s),
                kind=r.kind,
                severity=r.severity,
                value=r.value,
                limit=r.limit,
                message=r.message,
            )
            for r in at_most(rows, context.max_rows, "alerts")
        ],
    )


@router.get("/communities/{community_id}/setpoints", responses=READ_REFUSALS)
def community_setpoints(
    community_id: str, start: Start, end: End, caller: Caller, context: Context
) -> SetpointsOut:
    """The setpoints the balancing plan dispatched to each device for the intervals in
    ``[start, end)`` (operator and auditor)."""
    _operator_only(caller, "setpoints")
    span = _window(caller, community_id, start, end, context, "setpoints")
    rows = context.store.community_setpoints(
        community_id, span.start_s, span.end_s, context.max_rows + 1
    )
    return SetpointsOut(
        community_id=community_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        setpoints=[
            SetpointOut(
                interval_start=from_unix_seconds(r.interval_start_s),
                meter_id=r.meter_id,
                setpoint_wh=r.setpoint_wh,
            )
            for r in at_most(rows, context.max_rows, "setpoints")
        ],
    )


@router.get("/members/{participant_id}/demand-response", responses=READ_REFUSALS)
def member_demand_response(
    participant_id: str, start: Start, end: End, caller: Caller, context: Context
) -> MemberDemandResponseOut:
    """The member's responses to demand-response events starting in ``[start, end)``:
    requested, baseline, measured and delivered energy, and the payment."""
    member = readable_member(caller, participant_id, context)
    span = member_window(member, start, end, context)
    rows = context.store.member_dr_responses(
        participant_id, span.start_s, span.end_s, context.max_rows + 1
    )
    return MemberDemandResponseOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        responses=[
            MemberResponseOut(event=_event(r.event), response=_response(r.response))
            for r in at_most(rows, context.max_rows, "responses")
        ],
    )


@router.post(
    "/members/{participant_id}/demand-response/{event_id}/opt-out",
    responses=refusals(401, 403, 404, 409, 422, 429),
)
def opt_out(participant_id: str, event_id: str, caller: Caller, context: Context) -> OptOutOut:
    """Opt out of a demand-response event before it starts (the member themselves, with
    their own key: nobody opts a member out for them). Counted as the member's answer at
    settlement, whatever their device replied; repeating it changes nothing. An event that
    did not call the member is not changed by it."""
    if caller.participant_id != participant_id:
        raise Refused(
            403,
            "not_yours",
            "only the member opts out of an event, signed in with their own key",
        )
    member = readable_member(caller, participant_id, context)
    event = context.store.dr_event(member.community_id, event_id)
    if event is None:
        raise Refused(404, "unknown_event", f"no demand-response event {event_id!r}")
    now_s = to_unix_seconds(context.now())
    if now_s >= event.start_s:
        raise Refused(
            409,
            "event_started",
            f"event {event_id!r} started at {from_unix_seconds(event.start_s).isoformat()}: "
            "opt out before an event starts",
        )
    context.store.opt_out_of_event(member.community_id, event_id, participant_id, now_s)
    return OptOutOut(
        participant_id=participant_id,
        event_id=event_id,
        event_start=from_unix_seconds(event.start_s),
        opted_out_at=from_unix_seconds(now_s),
    )
