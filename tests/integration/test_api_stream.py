"""The live stream (GET /v1/stream) against a real store, on SQLite and on PostgreSQL.

A community of five members closes intervals through the pipeline loop: the accounting
step writes each interval's balance and a recording step writes, in the same transaction,
what the market and balancing would (a settled market interval with trades, alerts every
third interval, setpoints for the next interval) and, at the end of each run, an island
event. The stream's events are checked against the store's own tables, per role; resuming
with Last-Event-ID is checked at every split point; and a real HTTP server (uvicorn) shows
intervals arriving while the stream is open, the heartbeat, the end of a session, the
shutdown and the concurrent-stream limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from gridshare.api.app import create_app
from gridshare.api.stream import parse_cursor
from gridshare.model import Community
from gridshare.model.records import (
    BalancingAlertRecord,
    IslandEventRecord,
    MarketIntervalRecord,
    MarketTradeRecord,
)
from gridshare.pipeline import Pipeline
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.storage import SqlStore
from gridshare.units import Interval, to_unix_seconds
from tests.factories import QUARTER
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_api import (
    DATABASES,
    DAY0,
    MEMBERS,
    NOW,
    Populated,
    RandomMeters,
    TestClient,
    assert_refused,
    database_store,
    register_members,
    settings_for,
    sign_in,
)
from tests.siwe import CHAIN_ID, new_account

CID = "live"
DAY0_S = to_unix_seconds(DAY0)
QUARTER_S = 900
RUNS = (4, 4)
"""Intervals closed by each run before the tests: 8, from DAY0, and one island per run."""
START = {"start": "2025-06-02T00:00:00Z"}
GENEROUS = {"api_rate_per_s": 1e6, "api_rate_burst": 1_000_000}


# -- closing intervals ------------------------------------------------------------------


class _Intervals:
    def __init__(self, first: Interval, count: int) -> None:
        self.first, self.count = first, count

    def intervals(self) -> Iterator[Interval]:
        interval = self.first
        for _ in range(self.count):
            yield interval
            interval = interval.next()


@dataclass(frozen=True)
class _Recorded:
    intervals: int


class _MarketAndBalancing:
    """Writes what the market and balancing steps record, in the interval's transaction;
    and one island event per run at its end (as the balancing step does)."""

    name = "market-and-balancing"
    requires: tuple[type, ...] = ()
    provides: tuple[type, ...] = ()

    def __init__(self) -> None:
        self.first_s: int | None = None
        self.done = 0

    def run(self, ctx: Any, tx: Any) -> None:
        start = ctx.start_s
        n = (start - DAY0_S) // QUARTER_S
        self.first_s = start if self.first_s is None else self.first_s
        self.done += 1
        trades = [
            MarketTradeRecord(CID, start, 0, 0, 2, 100 + n, 80_000 + n, 79_000, "match"),
            MarketTradeRecord(CID, start, 1, 1, 3, 50 + 2 * n, 90_000, 89_000, "match"),
        ]
        tx.write_market_interval(
            MarketIntervalRecord(
                CID,
                start,
                "pay-as-bid",
                4 + n,
                150 + 3 * n,
                1000 + n,
                990 + n,
                0,
                10,
                0,
                "0x" + "ab" * 32,
                settled_on_chain=False,
            ),  # fmt: skip
            [],
            trades,
        )
        if n % 3 == 0:
            tx.write_balancing_alerts(
                [
                    BalancingAlertRecord(start, "voltage", "warning", 1.06, 1.05, f"bus {n} high"),
                    BalancingAlertRecord(start, "loading", "critical", 120.0 + n, 100.0, "line"),
                ]
            )
        tx.write_dispatch_setpoints(start + QUARTER_S, [f"{CID}:bat{n}", f"{CID}:gen"], [n, -n])

    def finish(self, run_id: str, tx: Any) -> None:
        assert self.first_s is not None
        tx.write_island_events(
            [IslandEventRecord(self.first_s, self.first_s + QUARTER_S, 7 + self.done, 1, 2)]
        )

    def summary(self) -> _Recorded:
        return _Recorded(self.done)


def close_intervals(store: SqlStore, community: Community, first: int, count: int) -> None:
    """Close intervals ``first .. first + count - 1`` of DAY0 in one run, one transaction
    each, as the node does."""
    run_id = f"live-{first}"
    store.begin_run(run_id, CID, "test", first)
    clock = _Intervals(Interval(DAY0 + first * QUARTER, QUARTER), count)
    steps = [EnergyAccountingStep(community), _MarketAndBalancing()]
    meters = RandomMeters(len(community.meters), seed=100 + first)
    Pipeline(community, clock, meters, store, steps, run_id=run_id).run()
    store.finish_run(run_id, "finished", None)


@pytest.fixture(scope="module", params=DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with database_store(request, tmp_path_factory) as store:
        community, members = register_members(store, CID)
        first = 0
        for count in RUNS:
            close_intervals(store, community, first, count)
            first += count
        yield Populated(store, community, members, new_account(), new_account())


# -- reading the stream -----------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: str | None
    kind: str
    data: dict[str, Any]


def parse_stream(text: str) -> tuple[list[Event], list[str]]:
    """The events and the comment lines of an event stream."""
    events, comments = [], []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(": ")
            assert name in ("id", "event", "data"), line
            assert name not in fields, block  # one line each
            fields[name] = value
        if "event" in fields:
            events.append(Event(fields.get("id"), fields["event"], orjson.loads(fields["data"])))
    return events, comments


def read(
    client: TestClient, headers: dict[str, str], last_event_id: str | None = None, **params: Any
) -> list[Event]:
    """A bounded stream's events, its `end` event last (checked and dropped). A stream
    that does not end by ``max_events`` ends after a few seconds: a test cannot hang."""
    params.setdefault("max_duration_s", 5.0)
    if last_event_id is not None:
        headers = headers | {"Last-Event-ID": last_event_id}
    reply = client.get("/v1/stream", params=params, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events, _ = parse_stream(reply.text)
    assert events[-1].kind == "end", events[-1]
    assert events[-1].id is None, events[-1]
    return events[:-1]


def _iso(start_s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s))


def expected_events(live: Populated, intervals: int, *, operator: bool) -> list[tuple[str, Any]]:
    """(kind, data) of the first ``intervals`` intervals as the store's tables hold them,
    for the operator (everything but members' figures) or for a member of a large enough
    community without their own figures (the aggregates)."""
    store = live.store
    balances = store.interval_balances(CID).head(intervals)
    markets = store.market_intervals(CID).set_index("interval_start_s")
    trades = store.market_trades(CID)
    alerts = store.balancing_alerts(CID)
    setpoints = store.dispatch_setpoints(CID)
    out: list[tuple[str, Any]] = []
    for row in balances.itertuples():
        start = int(row.interval_start_s)
        production = int(row.solar_wh + row.wind_wh + row.hydro_wh + row.biomass_wh)
        consumption, imported = int(row.consumption_wh), int(row.pcc_import_wh)
        out.append(
            (
                "interval",
                {
                    "start": _iso(start),
                    "length_s": QUARTER_S,
                    "received": int(row.received),
                    "expected": int(row.expected),
                    "production_wh": production,
                    "consumption_wh": consumption,
                    "import_wh": imported,
                    "export_wh": int(row.pcc_export_wh),
                    "member_import_wh": int(row.member_import_wh),
                    "member_export_wh": int(row.member_export_wh),
                    "self_sufficiency_ratio": round((consumption - imported) / consumption, 6)
                    if consumption
                    else None,
                },
            )
        )
        market = markets.loc[start]
        its = trades[trades["interval_start_s"] == start]
        volume = int(its["quantity_wh"].sum())
        value = int((its["quantity_wh"] * its["price_micros_per_kwh"]).sum())
        out.append(
            (
                "clearing",
                {
                    "start": _iso(start),
                    "mechanism": market["mechanism"],
                    "orders": int(market["orders"]),
                    "trades": len(its),
                    "volume_wh": int(market["volume_wh"]),
                    "mean_price_micros_per_kwh": value // volume,
                    "buyers_paid_micros": int(market["buyers_paid_micros"]),
                    "sellers_credited_micros": int(market["sellers_credited_micros"]),
                },
            )
        )
        if not operator:
            continue
        dispatched = setpoints[setpoints["interval_start_s"] == start]
        if len(dispatched):
            out.append(
                (
                    "setpoints",
                    {
                        "start": _iso(start),
                        "setpoints": [
                            {"meter_id": m, "setpoint_wh": int(v)}
                            for m, v in zip(
                                dispatched["meter_id"], dispatched["setpoint_wh"], strict=True
                            )
                        ],
                    },
                )
            )
        out.extend(
            (
                "alert",
                {
                    "start": _iso(start),
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "value": alert.value,
                    "limit": alert.limit,
                    "message": alert.message,
                },
            )
            for alert in alerts[alerts["interval_start_s"] == start].itertuples()
        )
    out.extend(
        (
            "island",
            {
                "start": _iso(int(island.start_s)),
                "end": _iso(int(island.end_s)),
                "shed_wh": int(island.shed_wh),
                "unserved_critical_wh": int(island.unserved_critical_wh),
                "served_critical_wh": int(island.served_critical_wh),
            },
        )
        for island in store.island_events(CID).itertuples()
    )
    return out


def pid(i: int) -> str:
    return f"{CID}:m{i}"


@pytest.fixture
def client(live: Populated, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(live, tmp_path, api_stream_poll_s=0.01, **GENEROUS)
    app = create_app(live.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        yield client


def _cursor_order(events: list[Event]) -> None:
    cursors = [parse_cursor(e.id or "") for e in events]
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)


# -- the tests --------------------------------------------------------------------------


def test_the_operator_and_the_auditor_get_every_event_in_order_as_the_store_holds_it(
    client: TestClient, live: Populated
) -> None:
    closed = sum(RUNS)
    expected = expected_events(live, closed, operator=True)
    assert {kind for kind, _ in expected} == {
        "interval",
        "clearing",
        "setpoints",
        "alert",
        "island",
    }
    for account in (live.operator, live.auditor):
        headers = sign_in(client, account)
        events = read(client, headers, community_id=CID, max_events=len(expected), **START)
        assert [(e.kind, e.data) for e in events] == expected
        _cursor_order(events)
        assert [e.data["start"] for e in events if e.kind == "interval"] == [
            _iso(DAY0_S + i * QUARTER_S) for i in range(closed)
        ]


def test_a_member_gets_the_aggregates_and_only_their_own_figures(
    client: TestClient, live: Populated
) -> None:
    closed = sum(RUNS)
    headers = sign_in(client, live.members[1])
    aggregates = expected_events(live, closed, operator=False)
    events = read(client, headers, max_events=len(aggregates) + closed, **START)
    assert {e.kind for e in events} == {"interval", "member", "clearing", "island"}
    assert [(e.kind, e.data) for e in events if e.kind != "member"] == aggregates
    _cursor_order(events)

    own = [e.data for e in events if e.kind == "member"]
    assert {d["participant_id"] for d in own} == {pid(1)}  # by id
    readings = live.store.readings([f"{pid(i)}/grid" for i in range(MEMBERS)])
    mine = readings[readings["meter_id"] == f"{pid(1)}/grid"].head(closed)
    assert [d["start"] for d in own] == [_iso(int(s)) for s in mine["interval_start_s"]]
    got = [(d["grid_import_wh"], d["grid_export_wh"]) for d in own]
    assert got == list(zip(mine["import_wh"].tolist(), mine["export_wh"].tolist(), strict=True))
    assert [d["consumption_wh"] for d in own] == [i - e for i, e in got]
    for other in (0, 2, 3, 4):  # by value: nobody else's figures
        theirs = readings[readings["meter_id"] == f"{pid(other)}/grid"].head(closed)
        pairs = list(zip(theirs["import_wh"].tolist(), theirs["export_wh"].tolist(), strict=True))
        assert got != pairs
    body = client.get(
        "/v1/stream", params={"max_events": len(events)} | START, headers=headers
    ).text
    for other in (0, 2, 3, 4):
        assert pid(other) not in body


def test_a_member_of_a_small_community_gets_only_their_own_figures(
    live: Populated, tmp_path: Path
) -> None:
    settings = settings_for(
        live, tmp_path, api_stream_poll_s=0.01, api_min_group_members=MEMBERS + 1, **GENEROUS
    )
    app = create_app(live.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        member = sign_in(client, live.members[2])
        events = read(client, member, max_events=sum(RUNS), **START)
        assert [e.kind for e in events] == ["member"] * sum(RUNS)
        assert {e.data["participant_id"] for e in events} == {pid(2)}
        operator = sign_in(client, live.operator)
        assert read(client, operator, community_id=CID, max_events=1, **START)[0].kind == "interval"


def test_last_event_id_resumes_with_no_gap_and_no_duplicate(
    client: TestClient, live: Populated
) -> None:
    for account, params in ((live.operator, {"community_id": CID}), (live.members[3], {})):
        headers = sign_in(client, account)
        whole = read(client, headers, max_duration_s=0.2, **params, **START)
        assert len(whole) > 20
        for split in range(1, len(whole)):
            first = read(client, headers, max_events=split, **params, **START)
            rest = read(client, headers, first[-1].id, max_events=len(whole) - split, **params)
            assert first + rest == whole, split
        # after the last event there is nothing more until an interval closes
        assert read(client, headers, whole[-1].id, max_duration_s=0.2, **params) == []


def test_without_a_start_the_stream_begins_after_what_the_store_holds(
    client: TestClient, live: Populated
) -> None:
    headers = sign_in(client, live.operator)
    reply = client.get(
        "/v1/stream", params={"community_id": CID, "max_duration_s": 0.2}, headers=headers
    )
    events, comments = parse_stream(reply.text)
    assert [(e.kind, e.data) for e in events] == [("end", {"reason": "max_duration"})]
    assert comments[0] == "gridshare live stream"


def test_every_event_id_resumes_whatever_the_start(client: TestClient, live: Populated) -> None:
    headers = sign_in(client, live.operator)
    for start in ("1960-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2025-06-02T01:00:00Z"):
        events = read(client, headers, community_id=CID, max_events=5, start=start)
        assert len(events) == 5
        rest = read(client, headers, events[1].id, community_id=CID, max_events=3)
        assert rest == events[2:]


def test_refusals(client: TestClient, live: Populated) -> None:
    assert_refused(client.get("/v1/stream", params=START), 401, "unauthenticated")
    reply = client.get("/v1/stream", headers={"Authorization": "Bearer not.a-token"})
    assert_refused(reply, 401, "token_invalid")
    member = sign_in(client, live.members[0])
    reply = client.get("/v1/stream", params={"community_id": "api"}, headers=member)
    assert_refused(reply, 403, "not_yours")
    for bad in ("yesterday", "1.2", "1.-2.3", "a.b.c", "1.2.3.4"):
        reply = client.get("/v1/stream", headers=member | {"Last-Event-ID": bad})
        assert_refused(reply, 422, "invalid_cursor")
    reply = client.get("/v1/stream", params={"start": "2025-06-02T00:00:00"}, headers=member)
    assert_refused(reply, 422, "invalid_range")
    reply = client.get("/v1/stream", params={"max_events": 0}, headers=member)
    assert_refused(reply, 422, "invalid_request")
    operator = sign_in(client, live.operator)
    assert_refused(client.get("/v1/stream", headers=operator), 422, "invalid_request")
    reply = client.get("/v1/stream", params={"community_id": "nowhere"}, headers=operator)
    assert_refused(reply, 404, "unknown_community")


# -- over a real HTTP server ------------------------------------------------------------


class _Server:
    """The API on uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def _next_event(lines: Iterator[str]) -> tuple[Event | None, list[str]]:
    """The next event of a live stream (None at its end) and the comments before it."""
    fields: dict[str, str] = {}
    comments = []
    for line in lines:
        if line.startswith(":"):
            comments.append(line[1:].strip())
        elif line:
            name, _, value = line.partition(": ")
            fields[name] = value
        elif "event" in fields:
            return Event(fields.get("id"), fields["event"], orjson.loads(fields["data"])), comments
    return None, comments


def test_live_intervals_arrive_as_they_close_and_the_limits_hold(
    live: Populated, tmp_path: Path
) -> None:
    clock = [NOW]
    shutdown = threading.Event()
    settings = settings_for(
        live,
        tmp_path,
        api_stream_poll_s=0.02,
        api_stream_heartbeat_s=0.1,
        api_stream_max_per_account=2,
        **GENEROUS,
    )
    app = create_app(
        live.store, settings, chain_id=CHAIN_ID, now=lambda: clock[0], shutdown=shutdown
    )
    closed = len(live.store.interval_balances(CID))
    with _Server(app) as http:
        member = sign_in(http, live.members[4])  # httpx: the TestClient's API
        with (
            http.stream("GET", "/v1/stream", headers=member) as first,
            http.stream("GET", "/v1/stream", headers=member) as second,
        ):
            assert first.status_code == second.status_code == 200
            lines = first.iter_lines()
            # nothing new yet: heartbeats only
            assert next(lines) == ": gridshare live stream"
            assert next(lines) == ""
            assert next(lines) == ": heartbeat"
            third = http.get("/v1/stream", headers=member)
            body = assert_refused(third, 429, "too_many_streams")
            assert "2 live streams" in body["detail"]

            close_intervals(live.store, live.community, closed, 2)  # while streaming
            got = []
            while len(got) < 2 * 3 + 1:  # interval, member, clearing per interval; island
                event, _ = _next_event(lines)
                assert event is not None
                got.append(event)
            starts = [_iso(DAY0_S + (closed + i) * QUARTER_S) for i in range(2)]
            assert [(e.kind, e.data["start"]) for e in got] == [
                (kind, start) for start in starts for kind in ("interval", "member", "clearing")
            ] + [("island", starts[0])]
            store_rows = live.store.interval_balances(CID).tail(2)
            assert [e.data["consumption_wh"] for e in got if e.kind == "interval"] == [
                int(v) for v in store_rows["consumption_wh"]
            ]
            assert {e.data["participant_id"] for e in got if e.kind == "member"} == {pid(4)}

            clock[0] = NOW + timedelta(minutes=16)  # the session's end
            event, _ = _next_event(lines)
            assert event == Event(None, "end", {"reason": "token_expired"})
        # both streams closed: the account may open one again
        streams = app.state.api.streams
        wait_until(lambda: streams.open_streams(live.members[4].address) == 0, "the release")
        clock[0] = NOW
        operator = sign_in(http, live.operator)
        with http.stream(
            "GET", "/v1/stream", params={"community_id": CID}, headers=operator
        ) as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": gridshare live stream"
            with http.stream("GET", "/v1/stream", headers=member) as again:
                assert again.status_code == 200
            shutdown.set()
            event, _ = _next_event(lines)
            assert event == Event(None, "end", {"reason": "shutdown"})
