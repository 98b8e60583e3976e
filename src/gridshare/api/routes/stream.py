"""``/v1/stream``: the live stream of closed intervals' results, as Server-Sent Events (see
:mod:`gridshare.api.stream` for the events, their order and their ids)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from gridshare.api.auth import Principal
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.stream import (
    EVENT_KINDS,
    LAST_POSITION,
    MEDIA_TYPE,
    EventStreamResponse,
    LiveStream,
    StreamCursor,
    StreamLimits,
    StreamScope,
    parse_cursor,
)
from gridshare.units import UnitError, parse_utc_seconds

router = APIRouter(prefix="/v1", tags=["stream"])

MAX_EVENTS = 1_000_000
MAX_DURATION_S = 86_400.0

_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `interval`, `member`, `clearing`, `setpoints`, "
        "`alert`, `island`, each with a resumable `id` and one line of JSON data; comment "
        "heartbeats; a last `end` event with its reason",
        "content": {
            MEDIA_TYPE: {
                "schema": {
                    "description": "one event of the stream",
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "id": {
                            "type": "string",
                            "description": "the cursor to resume after: <interval start>."
                            "<position>.<island start> (`end` has none)",
                        },
                        "event": {"type": "string", "enum": list(EVENT_KINDS)},
                        "data": {"type": "string", "description": "one line of JSON"},
                    },
                }
            }
        },
    },
    # the refusals' body is JSON, not the route's event stream: named explicitly
    **{
        status: {
            "description": entry["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for status, entry in refusals(401, 403, 404, 422, 429).items()
    },
}


def _scope(caller: Principal, community_id: str | None, context: ApiContext) -> StreamScope:
    if caller.reads_everything:
        if community_id is None:
            raise Refused(
                422,
                "invalid_request",
                "community_id: the operator and the auditor name the community to stream",
            )
    elif community_id not in (None, caller.community_id):
        raise Refused(
            403,
            "not_yours",
            f"a member streams only their own community: ask for "
            f"/v1/stream?community_id={caller.community_id}",
        )
    cid = community_id or caller.community_id or ""
    if context.store.community_interval_s(cid) is None:
        raise Refused(404, "unknown_community", f"no community {cid!r}")
    large_enough = context.store.community_member_count(cid) >= context.min_group_members
    return StreamScope(
        community_id=cid,
        participant_id=None if caller.reads_everything else caller.participant_id,
        aggregates=caller.reads_everything or large_enough,
        everything=caller.reads_everything,
    )


def _first_cursor(
    scope: StreamScope, start: str | None, last_event_id: str | None, context: ApiContext
) -> StreamCursor:
    """Where the stream begins: after ``Last-Event-ID``, else at ``start``, else after what
    the store holds now (only intervals closed from now on)."""
    if last_event_id is not None:
        return parse_cursor(last_event_id)
    if start is not None:
        try:
            start_s = parse_utc_seconds(start)
        except UnitError as exc:
            raise Refused(422, "invalid_range", f"start: {exc}") from None
        start_s = max(start_s, 0)  # nothing closes before 1970: a cursor's numbers are >= -1
        return StreamCursor(start_s, -1, start_s - 1)
    latest = context.store.latest_closed_interval_s(scope.community_id)
    island = context.store.latest_island_start_s(scope.community_id)
    return StreamCursor(
        -1 if latest is None else latest, LAST_POSITION, -1 if island is None else island
    )


@router.get(
    "/stream",
    responses=_STREAM_RESPONSES,
    response_class=EventStreamResponse,
    summary="Live stream of closed intervals (Server-Sent Events)",
)
def stream(
    caller: Caller,
    context: Context,
    community_id: Annotated[
        str | None,
        Query(
            description="the community (a member's own by default; required of the "
            "operator and the auditor)",
            max_length=128,
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(
            description="first interval to send, aware ISO-8601; default: only intervals "
            "closed from now on",
            examples=["2025-06-02T00:00:00Z"],
        ),
    ] = None,
    max_events: Annotated[
        int | None,
        Query(ge=1, le=MAX_EVENTS, description="end after this many events (`end`: `max_events`)"),
    ] = None,
    max_duration_s: Annotated[
        float | None,
        Query(
            gt=0,
            le=MAX_DURATION_S,
            description="end after this many seconds (`end`: `max_duration`)",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="resume after this event id (browsers send it on reconnecting)",
        ),
    ] = None,
) -> EventStreamResponse:
    """The results of each interval as the node closes it, for the caller's role: the
    community's balance, the market's clearing and islanding (aggregates: the operator,
    the auditor, and members of a large enough community), a member's own figures, and
    for the operator and the auditor the dispatched setpoints and the balancing alerts.
    Resume with ``Last-Event-ID``; at most ``api_stream_max_per_account`` streams per
    account (429 ``too_many_streams``)."""
    scope = _scope(caller, community_id, context)
    cursor = _first_cursor(scope, start, last_event_id, context)
    limits = StreamLimits(
        poll_s=context.stream_poll_s,
        heartbeat_s=context.stream_heartbeat_s,
        expires_at=caller.expires_at,
        max_events=max_events,
        max_duration_s=max_duration_s,
    )
    hub = context.streams
    live = LiveStream(context.store, scope, cursor, limits, closing=hub.is_closing, now=context.now)
    hub.acquire(caller.address)
    return EventStreamResponse(live.events(), on_close=lambda: hub.release(caller.address))
