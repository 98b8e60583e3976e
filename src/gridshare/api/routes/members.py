"""``/v1/members/{participant_id}``: a member's readings, balances and time-of-use
breakdown. A member reads only their own; the operator and the auditor read everyone's."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from fastapi import APIRouter

from gridshare.api.auth import Principal
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.ranges import Resolution, TimeRange, parse_range, parse_window
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import READ_REFUSALS, End, ResolutionQuery, Start
from gridshare.api.schemas import (
    MemberBalancePoint,
    MemberBalancesOut,
    MemberReadingsOut,
    MemberTimeOfUseOut,
    MeterPoint,
    MeterSeries,
    TouPeriodOut,
)
from gridshare.consumption.time_of_use import time_of_use_breakdown
from gridshare.model.records import MemberRecord
from gridshare.units import from_unix_seconds

router = APIRouter(prefix="/v1/members", tags=["members"])


def readable_member(caller: Principal, participant_id: str, context: ApiContext) -> MemberRecord:
    """The participant, if ``caller`` may read their data; else :class:`Refused` 403/404."""
    if not caller.reads_everything and caller.participant_id != participant_id:
        raise Refused(
            403,
            "not_yours",
            f"a member reads only their own data: ask for /v1/members/{caller.participant_id}",
        )
    member = context.store.member(participant_id)
    if member is None:
        raise Refused(404, "unknown_participant", f"no participant {participant_id!r}")
    return member


def _interval_s(member: MemberRecord, context: ApiContext) -> int:
    interval_s = context.store.community_interval_s(member.community_id)
    if interval_s is None:  # a participant's community is a foreign key: not reached
        raise Refused(404, "unknown_community", f"no community {member.community_id!r}")
    return interval_s


def member_range(
    member: MemberRecord, start: str, end: str, resolution: Resolution, context: ApiContext
) -> TimeRange:
    """A bucketed range of the member's community, or :class:`Refused` 422."""
    return parse_range(start, end, resolution, _interval_s(member, context), context.max_buckets)


def member_window(member: MemberRecord, start: str, end: str, context: ApiContext) -> TimeRange:
    """A list endpoint's window in the member's community's intervals, or :class:`Refused`."""
    return parse_window(start, end, _interval_s(member, context), context.max_buckets)


@router.get("/{participant_id}/readings", responses=READ_REFUSALS)
def member_readings(
    participant_id: str,
    start: Start,
    end: End,
    caller: Caller,
    context: Context,
    resolution: ResolutionQuery = Resolution.QUARTER,
) -> MemberReadingsOut:
    """The member's meters' readings in ``[start, end)``, summed per bucket."""
    member = readable_member(caller, participant_id, context)
    span = member_range(member, start, end, resolution, context)
    series: dict[str, MeterSeries] = {}
    for record in context.store.member_readings(
        participant_id, span.start_s, span.end_s, span.bucket_s
    ):
        meter = series.setdefault(
            record.meter_id, MeterSeries(meter_id=record.meter_id, kind=record.kind, points=[])
        )
        meter.points.append(
            MeterPoint(
                start=from_unix_seconds(record.bucket_start_s),
                import_wh=record.import_wh,
                export_wh=record.export_wh,
                readings=record.readings,
            )
        )
    return MemberReadingsOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        resolution=resolution,
        meters=list(series.values()),
    )


@router.get("/{participant_id}/balances", responses=READ_REFUSALS)
def member_balances(
    participant_id: str,
    start: Start,
    end: End,
    caller: Caller,
    context: Context,
    resolution: ResolutionQuery = Resolution.DAY,
) -> MemberBalancesOut:
    """The member's energy in ``[start, end)`` per bucket (per interval at 15min, daily
    totals at day): grid import and export, production, consumption, storage."""
    member = readable_member(caller, participant_id, context)
    span = member_range(member, start, end, resolution, context)
    records = context.store.member_balances(participant_id, span.start_s, span.end_s, span.bucket_s)
    return MemberBalancesOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        resolution=resolution,
        points=[
            MemberBalancePoint(
                start=from_unix_seconds(r.bucket_start_s),
                grid_import_wh=r.grid_import_wh,
                grid_export_wh=r.grid_export_wh,
                production_wh=r.production_wh,
                consumption_wh=r.consumption_wh,
                charge_wh=r.charge_wh,
                discharge_wh=r.discharge_wh,
                readings=r.readings,
            )
            for r in records
        ],
    )


@router.get("/{participant_id}/time-of-use", responses=READ_REFUSALS)
def member_time_of_use(
    participant_id: str, start: Start, end: End, caller: Caller, context: Context
) -> MemberTimeOfUseOut:
    """The member's grid import and export in ``[start, end)`` (at most
    ``api_max_buckets`` intervals) per period of the community's time-of-use tariff."""
    member = readable_member(caller, participant_id, context)
    configuration = context.configuration
    if configuration is None or configuration.community_id != member.community_id:
        raise Refused(404, "no_configuration", "this node serves no tariff for that community")
    span = member_window(member, start, end, context)
    interval_s = configuration.interval_s
    records = context.store.member_balances(participant_id, span.start_s, span.end_s, interval_s)
    periods = time_of_use_breakdown(
        configuration.tariff,
        np.array([r.bucket_start_s for r in records], dtype=np.int64),
        np.array([r.grid_import_wh for r in records], dtype=np.int64),
        np.array([r.grid_export_wh for r in records], dtype=np.int64),
    )
    return MemberTimeOfUseOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        time_zone=configuration.tariff.time_zone,
        periods=[TouPeriodOut(**asdict(p)) for p in periods],
    )
