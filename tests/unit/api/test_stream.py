"""The live stream's pure parts: cursors, event formatting, which events a role reads, the
per-account limit, and the stream's loop over an in-memory store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson
import pytest

from gridshare.api.refusals import Refused
from gridshare.api.stream import (
    LAST_POSITION,
    LiveStream,
    StreamCursor,
    StreamHub,
    StreamLimits,
    StreamScope,
    end_event,
    format_comment,
    format_event,
    interval_events,
    parse_cursor,
)
from gridshare.model.records import (
    BalancingAlertRecord,
    ClearingRecord,
    ClosedIntervalRecord,
    DispatchSetpointRecord,
    IslandEventRecord,
    MemberBalanceRecord,
)

T0 = 1_748_822_400  # 2025-06-02T00:00:00Z
NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
OPERATOR = StreamScope("c", None, aggregates=True, everything=True)
MEMBER = StreamScope("c", "c:m1", aggregates=True, everything=False)
LONE_MEMBER = StreamScope("c", "c:m1", aggregates=False, everything=False)


def closed(start_s: int, *, alerts: int = 2, consumption_wh: int = 400) -> ClosedIntervalRecord:
    return ClosedIntervalRecord(
        interval_start_s=start_s,
        length_s=900,
        received=6,
        expected=6,
        quality=0,
        production_wh=120,
        consumption_wh=consumption_wh,
        import_wh=300,
        export_wh=20,
        member_import_wh=310,
        member_export_wh=30,
        clearing=ClearingRecord("pay-as-bid", 4, 2, 150, 1000, 990, 81_000),
        alerts=tuple(
            BalancingAlertRecord(start_s, "voltage", "warning", 1.06 + i, 1.05, f"bus {i}")
            for i in range(alerts)
        ),
        setpoints=(
            DispatchSetpointRecord(start_s, "c:bat", 40),
            DispatchSetpointRecord(start_s, "c:gen", -40),
        ),
    )


def own(start_s: int) -> MemberBalanceRecord:
    return MemberBalanceRecord(start_s, 50, 5, 0, 45, 0, 0, 1)


# -- cursors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        StreamCursor(T0, 0, -1),
        StreamCursor(-1, LAST_POSITION, -1),
        StreamCursor(T0, 17, T0 - 900),
        StreamCursor(0, -1, 0),
    ],
)
def test_a_cursor_reads_back_as_itself(cursor: StreamCursor) -> None:
    assert parse_cursor(cursor.encode()) == cursor
    assert parse_cursor(f"  {cursor.encode()} ") == cursor


def test_cursors_order_by_interval_then_position_then_island() -> None:
    ordered = [
        StreamCursor(T0, -1, 5),
        StreamCursor(T0, 0, 0),
        StreamCursor(T0, 0, 1),
        StreamCursor(T0, 3, -1),
        StreamCursor(T0 + 900, -1, -1),
    ]
    shuffled = [ordered[i] for i in (3, 0, 4, 2, 1)]
    assert sorted(shuffled) == ordered


@pytest.mark.parametrize(
    "text", ["", "1.2", "1.2.3.4", "a.b.c", "1.-2.3", "-5.0.0", "1.1234567.0", "1e3.0.0", "1.2.x"]
)
def test_anything_else_is_refused_with_422(text: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_cursor(text)
    assert (refused.value.status, refused.value.code) == (422, "invalid_cursor")


# -- formatting -------------------------------------------------------------------------


def test_an_event_is_id_event_and_one_line_of_json() -> None:
    data = {"message": "two\nlines", "wh": 5}
    assert format_event("alert", data, "1.4.-1") == (
        b'id: 1.4.-1\nevent: alert\ndata: {"message":"two\\nlines","wh":5}\n\n'
    )
    assert format_event("end", {"reason": "x"}) == b'event: end\ndata: {"reason":"x"}\n\n'
    assert end_event("shutdown") == b'event: end\ndata: {"reason":"shutdown"}\n\n'
    assert format_comment("heart\nbeat") == b": heart beat\n\n"


# -- which events a role reads ----------------------------------------------------------


def test_the_operator_reads_every_kind_at_fixed_positions() -> None:
    events = list(interval_events(closed(T0), own(T0), OPERATOR))
    assert [(p, k) for p, k, _ in events] == [
        (0, "interval"),
        (2, "clearing"),
        (3, "setpoints"),
        (4, "alert"),
        (5, "alert"),
    ]
    interval = events[0][2]
    assert interval["start"] == "2025-06-02T00:00:00Z"
    assert (interval["production_wh"], interval["import_wh"], interval["export_wh"]) == (
        120,
        300,
        20,
    )
    assert interval["self_sufficiency_ratio"] == 0.25  # (400 - 300) / 400
    assert events[1][2]["mean_price_micros_per_kwh"] == 81_000
    assert events[2][2]["setpoints"] == [
        {"meter_id": "c:bat", "setpoint_wh": 40},
        {"meter_id": "c:gen", "setpoint_wh": -40},
    ]
    assert [e[2]["message"] for e in events[3:]] == ["bus 0", "bus 1"]


def test_a_member_reads_aggregates_and_their_own_figures_at_the_same_positions() -> None:
    events = list(interval_events(closed(T0), own(T0), MEMBER))
    assert [(p, k) for p, k, _ in events] == [(0, "interval"), (1, "member"), (2, "clearing")]
    assert events[1][2] == {
        "start": "2025-06-02T00:00:00Z",
        "participant_id": "c:m1",
        "grid_import_wh": 50,
        "grid_export_wh": 5,
        "production_wh": 0,
        "consumption_wh": 45,
        "charge_wh": 0,
        "discharge_wh": 0,
        "readings": 1,
    }
    assert [k for _, k, _ in interval_events(closed(T0), None, MEMBER)] == [
        "interval",
        "clearing",
    ]
    assert [k for _, k, _ in interval_events(closed(T0), own(T0), LONE_MEMBER)] == ["member"]


def test_no_consumption_has_no_self_sufficiency() -> None:
    [(_, _, data), *_] = interval_events(closed(T0, consumption_wh=0), None, OPERATOR)
    assert data["self_sufficiency_ratio"] is None


# -- the per-account limit --------------------------------------------------------------


def test_the_hub_counts_streams_per_account_and_refuses_one_too_many() -> None:
    hub = StreamHub(2)
    hub.acquire("0xA")
    hub.acquire("0xA")
    hub.acquire("0xB")
    with pytest.raises(Refused) as refused:
        hub.acquire("0xA")
    assert (refused.value.status, refused.value.code) == (429, "too_many_streams")
    assert refused.value.headers == {"Retry-After": "5"}
    assert (hub.open_streams("0xA"), hub.open_streams("0xB")) == (2, 1)
    hub.release("0xA")
    hub.acquire("0xA")
    for _ in range(3):
        hub.release("0xA")
    assert hub.open_streams("0xA") == 0


def test_the_hub_closes_on_its_lifespan_or_the_nodes_stop_event() -> None:
    stop = threading.Event()
    hub = StreamHub(1, stop)
    assert not hub.is_closing()
    stop.set()
    assert hub.is_closing()
    other = StreamHub(1, threading.Event())
    other.close()
    assert other.is_closing()


# -- the loop over an in-memory store ---------------------------------------------------


class _Store:
    """Closed intervals and islands in memory, as the SQL store answers for them."""

    def __init__(self, intervals: list[ClosedIntervalRecord]) -> None:
        self.intervals = intervals
        self.islands: list[IslandEventRecord] = []
        self.polls = 0

    def closed_intervals(self, community_id: str, from_s: int, limit: int) -> list[Any]:
        self.polls += 1
        return [r for r in self.intervals if r.interval_start_s >= from_s][:limit]

    def member_balances(self, pid: str, start_s: int, end_s: int, bucket_s: int) -> list[Any]:
        assert bucket_s == 900
        return [
            own(r.interval_start_s) for r in self.intervals if start_s <= r.interval_start_s < end_s
        ]

    def island_events_after(self, community_id: str, after_s: int, limit: int) -> list[Any]:
        return [i for i in self.islands if i.start_s > after_s][:limit]


def run(stream: LiveStream) -> list[tuple[str | None, str, Any]]:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in stream.events()])

    text = anyio.run(collect).decode()
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            events.append((lines.get("id"), lines["event"], orjson.loads(lines["data"])))
    return events


def stream(store: _Store, scope: StreamScope, cursor: StreamCursor, **limits: Any) -> LiveStream:
    limits = {"poll_s": 0.001, "heartbeat_s": 10.0, "expires_at": NOW + timedelta(hours=1)} | limits
    return LiveStream(
        store,  # type: ignore[arg-type] - the calls the stream makes
        scope,
        cursor,
        StreamLimits(**limits),
        closing=lambda: False,
        now=lambda: NOW,
    )


def test_the_stream_sends_what_follows_its_cursor_then_islands_and_ends_with_a_reason() -> None:
    store = _Store([closed(T0, alerts=1), closed(T0 + 900, alerts=0)])
    store.islands = [IslandEventRecord(T0, T0 + 900, 7, 0, 3)]
    events = run(stream(store, OPERATOR, StreamCursor(T0, 2, -1), max_events=5))
    assert [(i, k) for i, k, _ in events] == [
        (f"{T0}.3.-1", "setpoints"),
        (f"{T0}.4.-1", "alert"),
        (f"{T0 + 900}.0.-1", "interval"),
        (f"{T0 + 900}.2.-1", "clearing"),
        (f"{T0 + 900}.3.-1", "setpoints"),
        (None, "end"),
    ]
    assert events[-1][2] == {"reason": "max_events"}
    rest = run(stream(store, OPERATOR, parse_cursor(events[-2][0] or ""), max_events=1))
    assert rest[0][:2] == (f"{T0 + 900}.3.{T0}", "island")
    assert rest[0][2]["shed_wh"] == 7


def test_the_stream_ends_when_the_session_does_or_its_time_is_up() -> None:
    store = _Store([])
    expired = stream(store, MEMBER, StreamCursor(-1, LAST_POSITION, -1), expires_at=NOW)
    assert run(expired) == [(None, "end", {"reason": "token_expired"})]
    assert store.polls == 0
    timed = stream(store, MEMBER, StreamCursor(-1, LAST_POSITION, -1), max_duration_s=0.05)
    assert run(timed) == [(None, "end", {"reason": "max_duration"})]
    assert store.polls >= 1  # it polled while it waited


class _FailingStore(_Store):
    def closed_intervals(self, community_id: str, from_s: int, limit: int) -> list[Any]:
        raise RuntimeError("disk on fire")


def test_a_store_failure_ends_the_stream_with_an_error_id_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("ERROR", "gridshare.api"):
        [(event_id, kind, data)] = run(
            stream(_FailingStore([]), OPERATOR, StreamCursor(-1, LAST_POSITION, -1))
        )
    assert (event_id, kind, data["reason"]) == (None, "end", "internal_error")
    assert "disk on fire" not in str(data)
    assert any(data["error_id"] in r.getMessage() for r in caplog.records)


def test_a_backlog_is_read_in_batches_and_islands_wait_until_it_is_caught_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gridshare.api.stream.BATCH_INTERVALS", 3)
    store = _Store([closed(T0 + 900 * i, alerts=0) for i in range(7)])
    store.islands = [IslandEventRecord(T0, T0 + 900, 7, 0, 3)]
    events = run(stream(store, MEMBER, StreamCursor(T0, -1, -1), max_events=7 * 3 + 1))
    kinds = [k for _, k, _ in events]
    assert kinds == ["interval", "member", "clearing"] * 7 + ["island", "end"]
    starts = [d["start"] for _, k, d in events if k == "interval"]
    assert len(set(starts)) == 7
    assert events[-2][0] == f"{T0 + 6 * 900}.2.{T0}"
