"""``/v1/communities/{community_id}``: aggregates over the community, for its members (when
the community is large enough that an aggregate does not reveal one member), the operator
and the auditor."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from gridshare.api.auth import Principal
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.ranges import Resolution, parse_range
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import READ_REFUSALS, End, ResolutionQuery, Start
from gridshare.api.schemas import CommunityBalanceOut, CommunityBalancePoint
from gridshare.units import from_unix_seconds

router = APIRouter(prefix="/v1/communities", tags=["communities"])


def readable_community(
    caller: Principal, community_id: str, context: ApiContext, route: str
) -> tuple[int, int]:
    """The community's metering interval (s) and members, if ``caller`` may read its
    aggregates (at ``/v1/communities/{community_id}/{route}``); else :class:`Refused`
    403/404."""
    if not caller.reads_everything and caller.community_id != community_id:
        raise Refused(
            403,
            "not_yours",
            f"a member reads only their own community's aggregates: ask for "
            f"/v1/communities/{caller.community_id}/{route}",
        )
    interval_s = context.store.community_interval_s(community_id)
    if interval_s is None:
        raise Refused(404, "unknown_community", f"no community {community_id!r}")
    members = context.store.community_member_count(community_id)
    if not caller.reads_everything and members < context.min_group_members:
        raise Refused(
            403,
            "group_too_small",
            f"the community has {members} members; aggregates are served to members only "
            f"for at least {context.min_group_members}, so that they reveal no one's use",
        )
    return interval_s, members


@router.get("/{community_id}/balance", responses=READ_REFUSALS)
def community_balance(
    community_id: str,
    start: Start,
    end: End,
    caller: Caller,
    context: Context,
    resolution: ResolutionQuery = Resolution.HOUR,
) -> CommunityBalanceOut:
    """The community's interval balances in ``[start, end)``, summed per bucket."""
    interval_s, members = readable_community(caller, community_id, context, "balance")
    span = parse_range(start, end, resolution, interval_s, context.max_buckets)
    records = context.store.community_balances(
        community_id, span.start_s, span.end_s, span.bucket_s
    )
    points = []
    for record in records:
        row = asdict(record)
        row["start"] = from_unix_seconds(row.pop("bucket_start_s"))
        points.append(CommunityBalancePoint(**row))
    return CommunityBalanceOut(
        community_id=community_id,
        members=members,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        resolution=resolution,
        points=points,
    )
