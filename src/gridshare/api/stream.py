"""The live stream (``GET /v1/stream``): Server-Sent Events carrying each interval's
results as the store records them.

The stream tails the store, never the pipeline: every ``api_stream_poll_s`` it asks for the
intervals closed after its cursor (:meth:`ApiStore.closed_intervals`) and the islanding
events recorded after it. An interval's events come in a fixed order, each at a fixed
position, whoever reads them::

    0  interval    the community's balance (production, consumption, import, export,
                   self-sufficiency)                          aggregate
    1  member      the caller's own figures                   a member's own
    2  clearing    the market's settled interval (volume, mean price)   aggregate
    3  setpoints   the devices' setpoints dispatched for it   operator, auditor
    4+ alert       the balance monitor's alerts, in order     operator, auditor

``island`` events (aggregate) come after the intervals closed before they were recorded.
Aggregates are served to a member only when the community has at least
``api_min_group_members`` members, as the community routes are.

An event's ``id`` is its cursor, ``<interval start>.<position>.<island start>`` (unix
seconds; -1: none yet): the last interval event sent, its position, and the start of the
last island event sent. A client that reconnects with ``Last-Event-ID`` gets exactly the
events after it, none twice. A comment line is sent after ``api_stream_heartbeat_s`` of
silence; the stream ends with ``event: end`` and ``{"reason": ...}`` (``max_events``,
``max_duration``, ``token_expired``, ``shutdown``; ``internal_error`` with an ``error_id``
that is in the node's log when the store fails).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gridshare.api.ports import ApiStore
from gridshare.api.refusals import Refused
from gridshare.model.records import ClosedIntervalRecord, IslandEventRecord, MemberBalanceRecord
from gridshare.units import from_unix_seconds

log = logging.getLogger("gridshare.api")

MEDIA_TYPE = "text/event-stream"
BATCH_INTERVALS = 96
"""Intervals read from the store at once (a day at 15 min)."""
LAST_POSITION = 999_999
"""The largest position a cursor names: every event of its interval sent."""

INTERVAL, MEMBER, CLEARING, SETPOINTS, FIRST_ALERT = range(5)
EVENT_KINDS = ("interval", "member", "clearing", "setpoints", "alert", "island", "end")

_CURSOR = re.compile(r"(-?\d{1,15})\.(-?\d{1,6})\.(-?\d{1,15})")


@dataclass(frozen=True, slots=True, order=True)
class StreamCursor:
    """Where a stream is: every event up to ``(interval_start_s, position)`` and every
    island event that started at or before ``island_start_s`` has been sent."""

    interval_start_s: int
    position: int
    island_start_s: int

    def encode(self) -> str:
        return f"{self.interval_start_s}.{self.position}.{self.island_start_s}"


def parse_cursor(text: str) -> StreamCursor:
    """The cursor of a ``Last-Event-ID``; :class:`Refused` 422 when it is not one."""
    match = _CURSOR.fullmatch(text.strip())
    if match is None:
        raise Refused(
            422,
            "invalid_cursor",
            "Last-Event-ID is not an event id of this stream (<interval start>.<position>."
            "<island start>): reconnect without it, or with the id of the last event received",
        )
    interval_s, position, island_s = (int(part) for part in match.groups())
    if min(interval_s, position, island_s) < -1:
        raise Refused(422, "invalid_cursor", "Last-Event-ID: its numbers are -1 or more")
    return StreamCursor(interval_s, position, island_s)


def format_event(kind: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One Server-Sent Event: ``id`` (when given), ``event`` and one line of JSON data."""
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def format_comment(text: str) -> bytes:
    """A comment line: ignored by clients, it keeps proxies from closing the connection."""
    return b": " + text.replace("\n", " ").encode() + b"\n\n"


def end_event(reason: str) -> bytes:
    """The stream's last event (no id: the client's Last-Event-ID stays the last data)."""
    return format_event("end", {"reason": reason})


def _iso(start_s: int) -> str:
    return from_unix_seconds(start_s).isoformat().replace("+00:00", "Z")


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


@dataclass(frozen=True, slots=True)
class StreamScope:
    """What one caller's stream carries."""

    community_id: str
    participant_id: str | None
    """A member's own figures (``member`` events); None for the operator and auditor."""
    aggregates: bool
    """The community's aggregates: ``interval``, ``clearing``, ``island``."""
    everything: bool
    """Also ``setpoints`` and ``alert`` (the operator and the auditor)."""


def interval_events(
    record: ClosedIntervalRecord, own: MemberBalanceRecord | None, scope: StreamScope
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The events of one closed interval that ``scope`` may read: (position, kind, data)."""
    start = _iso(record.interval_start_s)
    if scope.aggregates:
        yield (
            INTERVAL,
            "interval",
            {
                "start": start,
                "length_s": record.length_s,
                "received": record.received,
                "expected": record.expected,
                "production_wh": record.production_wh,
                "consumption_wh": record.consumption_wh,
                "import_wh": record.import_wh,
                "export_wh": record.export_wh,
                "member_import_wh": record.member_import_wh,
                "member_export_wh": record.member_export_wh,
                "self_sufficiency_ratio": _ratio(
                    record.consumption_wh - record.import_wh, record.consumption_wh
                ),
            },
        )
    if scope.participant_id is not None and own is not None:
        yield (
            MEMBER,
            "member",
            {
                "start": start,
                "participant_id": scope.participant_id,
                "grid_import_wh": own.grid_import_wh,
                "grid_export_wh": own.grid_export_wh,
                "production_wh": own.production_wh,
                "consumption_wh": own.consumption_wh,
                "charge_wh": own.charge_wh,
                "discharge_wh": own.discharge_wh,
                "readings": own.readings,
            },
        )
    if scope.aggregates and record.clearing is not None:
        clearing = record.clearing
        yield (
            CLEARING,
            "clearing",
            {
                "start": start,
                "mechanism": clearing.mechanism,
                "orders": clearing.orders,
                "trades": clearing.trades,
                "volume_wh": clearing.volume_wh,
                "mean_price_micros_per_kwh": clearing.mean_price_micros_per_kwh,
                "buyers_paid_micros": clearing.buyers_paid_micros,
                "sellers_credited_micros": clearing.sellers_credited_micros,
            },
        )
    if scope.everything and record.setpoints:
        setpoints = [
            {"meter_id": s.meter_id, "setpoint_wh": s.setpoint_wh} for s in record.setpoints
        ]
        yield SETPOINTS, "setpoints", {"start": start, "setpoints": setpoints}
    if scope.everything:
        for i, alert in enumerate(record.alerts):
            data = {
                "start": start,
                "kind": alert.kind,
                "severity": alert.severity,
                "value": alert.value,
                "limit": alert.limit,
                "message": alert.message,
            }
            yield FIRST_ALERT + i, "alert", data


def island_event(event: IslandEventRecord) -> dict[str, Any]:
    return {
        "start": _iso(event.start_s),
        "end": _iso(event.end_s),
        "shed_wh": event.shed_wh,
        "unserved_critical_wh": event.unserved_critical_wh,
        "served_critical_wh": event.served_critical_wh,
    }


class StreamHub:
    """Open streams per account (at most ``max_per_account``), and the shutdown signal
    every stream watches."""

    def __init__(self, max_per_account: int, shutdown: threading.Event | None = None) -> None:
        self.max_per_account = max_per_account
        self._shutdown = shutdown
        self._closed = threading.Event()
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """End every stream (the app's lifespan is over); the ``shutdown`` event given is
        only watched, never set."""
        self._closed.set()

    def is_closing(self) -> bool:
        return self._closed.is_set() or (self._shutdown is not None and self._shutdown.is_set())

    def acquire(self, account: str) -> None:
        """Count one more stream of ``account``; :class:`Refused` 429 past the limit."""
        with self._lock:
            held = self._open.get(account, 0)
            if held >= self.max_per_account:
                raise Refused(
                    429,
                    "too_many_streams",
                    f"{account} holds {held} live streams, the most one account may: close "
                    "one (or let it end) before opening another",
                    {"Retry-After": "5"},
                )
            self._open[account] = held + 1

    def release(self, account: str) -> None:
        with self._lock:
            held = self._open.get(account, 0) - 1
            if held > 0:
                self._open[account] = held
            else:
                self._open.pop(account, None)

    def open_streams(self, account: str) -> int:
        with self._lock:
            return self._open.get(account, 0)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """When a stream polls, speaks and ends."""

    poll_s: float
    heartbeat_s: float
    expires_at: datetime
    """The session's end: the stream ends with it (``token_expired``)."""
    max_events: int | None = None
    max_duration_s: float | None = None


class LiveStream:
    """One client's stream: the store read from ``cursor`` on, as SSE bytes."""

    def __init__(
        self,
        store: ApiStore,
        scope: StreamScope,
        cursor: StreamCursor,
        limits: StreamLimits,
        *,
        closing: Callable[[], bool],
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.scope = scope
        self.cursor = cursor
        self.limits = limits
        self.closing = closing
        self.now = now
        self.monotonic = monotonic
        self.sent = 0
        self._started = monotonic()

    def pending(self) -> list[tuple[StreamCursor, str, dict[str, Any]]]:
        """The events after the cursor that the store holds now (blocking: the store's)."""
        scope, cursor = self.scope, self.cursor
        # islands first: every interval recorded before an island is then read with it, so
        # an island comes after the intervals that were closed before it was recorded
        islands = (
            self.store.island_events_after(
                scope.community_id, cursor.island_start_s, BATCH_INTERVALS
            )
            if scope.aggregates
            else []
        )
        records = self.store.closed_intervals(
            scope.community_id, cursor.interval_start_s, BATCH_INTERVALS
        )
        if len(records) == BATCH_INTERVALS:
            islands = []  # more intervals may precede them: they come once caught up
        own: dict[int, MemberBalanceRecord] = {}
        if records and scope.participant_id is not None:
            length_s = records[-1].length_s
            own = {
                r.bucket_start_s: r
                for r in self.store.member_balances(
                    scope.participant_id,
                    records[0].interval_start_s,
                    records[-1].interval_start_s + length_s,
                    length_s,
                )
            }
        events = []
        for record in records:
            start_s = record.interval_start_s
            for position, kind, data in interval_events(record, own.get(start_s), scope):
                if (start_s, position) > (cursor.interval_start_s, cursor.position):
                    at = StreamCursor(start_s, position, cursor.island_start_s)
                    events.append((at, kind, data))
        after = events[-1][0] if events else cursor
        for island in islands:
            at = StreamCursor(after.interval_start_s, after.position, island.start_s)
            events.append((at, "island", island_event(island)))
        return events

    def _end_reason(self) -> str | None:
        limits = self.limits
        if self.closing():
            return "shutdown"
        if self.now() >= limits.expires_at:
            return "token_expired"
        if limits.max_events is not None and self.sent >= limits.max_events:
            return "max_events"
        elapsed_s = self.monotonic() - self._started
        if limits.max_duration_s is not None and elapsed_s >= limits.max_duration_s:
            return "max_duration"
        return None

    def _pause_s(self, silent_since: float) -> float:
        """How long to sleep before the next poll: at most the poll period, and no later
        than the next heartbeat, the session's end or the duration limit."""
        limits = self.limits
        now_m = self.monotonic()
        pause = min(limits.poll_s, max(0.0, silent_since + limits.heartbeat_s - now_m))
        pause = min(pause, max(0.0, (limits.expires_at - self.now()).total_seconds()))
        if limits.max_duration_s is not None:
            pause = min(pause, max(0.0, self._started + limits.max_duration_s - now_m))
        return pause

    async def events(self) -> AsyncIterator[bytes]:
        """The stream's bytes until it ends (the caller's disconnect cancels it)."""
        yield format_comment("gridshare live stream")
        silent_since = self.monotonic()
        while (reason := self._end_reason()) is None:
            try:
                batch = await run_in_threadpool(self.pending)
            except Exception:  # the store failed: logged with an id, said, and the end
                error_id = uuid.uuid4().hex[:12]
                log.exception("the live stream failed (error id %s)", error_id)
                yield format_event("end", {"reason": "internal_error", "error_id": error_id})
                return
            for cursor, kind, data in batch:
                if self.limits.max_events is not None and self.sent >= self.limits.max_events:
                    break
                yield format_event(kind, data, cursor.encode())
                self.cursor = cursor
                self.sent += 1
                silent_since = self.monotonic()
            if batch:
                continue
            if self.monotonic() - silent_since >= self.limits.heartbeat_s:
                yield format_comment("heartbeat")
                silent_since = self.monotonic()
            await anyio.sleep(self._pause_s(silent_since))
        yield end_event(reason)


class EventStreamResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends (finished, the client
    gone, cancelled), even when its body was never iterated."""

    media_type = MEDIA_TYPE

    def __init__(
        self,
        content: AsyncIterator[bytes],
        on_close: Callable[[], None],
        status_code: int = 200,
    ) -> None:
        super().__init__(
            content,
            status_code,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            media_type=MEDIA_TYPE,
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()
