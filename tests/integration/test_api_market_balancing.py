"""The REST API's market, certificate and balancing reads against a real store, on SQLite
and on PostgreSQL: a member reads their own orders, trades, market totals, certificates
and demand-response record, and nobody else's; the operator and the auditor read every
member's and the community's alerts, setpoints and demand-response responses; members
read their community's islands and demand-response events, never its per-member records.

The store is filled by the real pipeline: the island scenario (three days, 18 members
trading through their agents, a grid outage, demand response, dispatched setpoints) runs
through ``run_simulation`` into the test's database, its market cleared by McAfee's
mechanism (buyers pay more than sellers get) with a 1 % fee. The run has no ledger (a chain
would triple the time), so the intervals of its first two days are recorded as committed
through the store's own ``write_commitment``, as the commit step records them; the third
day stays uncommitted, and its production must not count as certified. Every maker in the
run is a member, so one more settled interval, after the run, is written through
``write_market_interval``: a member buying from an account that is no member.

Every expected figure is read back from the raw tables (``market_fills``,
``market_trades``, ``market_member_totals``, ``readings``, ``dr_responses``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from eth_account.signers.local import LocalAccount

from gridshare.api.app import create_app
from gridshare.app.configuration import community_configuration
from gridshare.app.simulate import run_simulation
from gridshare.model.records import (
    CommitmentRecord,
    MarketFillRecord,
    MarketIntervalRecord,
    MarketTradeRecord,
)
from gridshare.settings import Settings
from gridshare.simulator.run import prepare, scenario_community
from gridshare.storage import SqlStore
from gridshare.units import from_unix_seconds
from tests.integration.test_api import (
    DATABASES,
    NOW,
    TestClient,
    assert_refused,
    database_store,
    sign_in,
)
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account, personal_sign, siwe_text

ISLAND = Path(__file__).parents[1] / "scenarios" / "data" / "island.toml"
CID = "isle"
RUN = {"start": "2025-06-02T00:00:00Z", "end": "2025-06-06T00:00:00Z"}
"""UTC days covering the run (it starts at local midnight, 04:00Z on 2025-06-02)."""
BUYER, OTHER, SOLAR, FARM = (
    "isle:homes-001",
    "isle:homes-002",
    "isle:solar-homes-001",
    "isle:farm-001",
)
SIGNED_IN = (BUYER, OTHER, SOLAR, FARM)


def _iso(start_s: int) -> str:
    return from_unix_seconds(start_s).isoformat().replace("+00:00", "Z")


@dataclass
class Simulated:
    """A store holding the island scenario's run, and the accounts of its people."""

    store: SqlStore
    accounts: dict[str, LocalAccount]
    operator: LocalAccount
    auditor: LocalAccount
    committed: frozenset[int]
    """Interval starts recorded as committed (the run's first two days)."""

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        return Settings(
            data_dir=data_dir,
            api_domain=DOMAIN,
            api_uri=URI,
            api_operators=[self.operator.address],
            api_auditors=[self.auditor.address],
            **overrides,
        )


GENERATORS = ("/pv/meter", "/wind/meter", "/hydro/meter", "/biomass/meter")
"""How the simulator names production meters (a battery's is ``/battery/meter``)."""


def _production_meters(store: SqlStore, pid: str | None = None) -> list[str]:
    return [
        meter
        for meter, owner in store.meter_owners(CID).items()
        if meter.endswith(GENERATORS) and pid in (None, owner)
    ]


def _commit_first_days(store: SqlStore, days: int) -> frozenset[int]:
    """Record the first ``days`` of closed intervals as committed, with their production."""
    balances = store.interval_balances(CID)
    first = int(balances["interval_start_s"].min())
    starts = [int(s) for s in balances["interval_start_s"] if s < first + days * 86_400]
    production = store.readings(_production_meters(store))
    with store.transaction() as tx:
        for start in starts:
            produced = production[production["interval_start_s"] == start]
            wh = int(produced["export_wh"].sum())
            tx.write_commitment(
                CommitmentRecord(CID, start, "0x" + "00" * 32, "0x" + "00" * 32, wh, 0, 0, 0, 0, wh)
            )
    return frozenset(starts)


FOREIGN_AT = int(datetime(2025, 6, 5, 12, tzinfo=UTC).timestamp())
"""The settled interval written after the run (which ends at 2025-06-05T04:00Z)."""
BEFORE_FOREIGN = {"start": RUN["start"], "end": "2025-06-05T12:00:00Z"}


def _fill(position: int, pid: str | None, side: str, amount: int, fee: int) -> Any:
    return MarketFillRecord(
        community_id=CID,
        interval_start_s=FOREIGN_AT,
        position=position,
        order_hash="0x" + f"{position:064x}",
        maker="0x" + "ab" * 20,
        participant_id=pid,
        side=side,
        kind="spot",
        first_interval=FOREIGN_AT,
        intervals=1,
        quantity_wh=500,
        price_micros_per_kwh=250_000,
        nonce=position,
        expiry=FOREIGN_AT + 900,
        terms="0x" + "00" * 32,
        signature=b"\x01" * 65,
        filled_wh=500,
        amount_micros=amount,
        fee_micros=fee,
        delivered_wh=500,
        refund_micros=0,
        credited_micros=0 if side == "buy" else amount,
    )


def _settle_with_a_non_member() -> tuple[Any, list[Any], list[Any]]:
    """A settled interval in which BUYER buys 500 Wh from an account that is no member."""
    fills = [_fill(0, BUYER, "buy", 100_000, 1_000), _fill(1, None, "sell", 95_000, 0)]
    trades = [MarketTradeRecord(CID, FOREIGN_AT, 0, 0, 1, 500, 200_000, 190_000, "test")]
    interval = MarketIntervalRecord(
        CID, FOREIGN_AT, "test", 2, 500, 101_000, 95_000, 0, 1_000, 6_000, "0x" + "00" * 32, False
    )
    return interval, fills, trades


@pytest.fixture(scope="module", params=DATABASES)
def simulated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Simulated]:
    with database_store(request, tmp_path_factory) as store:
        url = store.engine.url.render_as_string(hide_password=False)
        out = tmp_path_factory.mktemp("island")
        scenario = prepare(ISLAND)
        market = scenario.market.model_copy(update={"mechanism": "mcafee", "fee_percent": 1.0})
        scenario = scenario.model_copy(update={"market": market})
        run_simulation(scenario, out, database_url=url, plots=False, scenario_name="island")
        with store.transaction() as tx:
            tx.write_market_interval(*_settle_with_a_non_member())
        accounts = {pid: new_account() for pid in SIGNED_IN}
        store.set_participant_accounts({pid: a.address for pid, a in accounts.items()})
        committed = _commit_first_days(store, 2)
        yield Simulated(store, accounts, new_account(), new_account(), committed)


@pytest.fixture
def client(simulated: Simulated, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        simulated.store, simulated.settings(tmp_path), chain_id=CHAIN_ID, now=lambda: NOW
    )
    with TestClient(app) as client:
        yield client


def _get(client: TestClient, path: str, headers: dict[str, str], **params: str) -> Any:
    reply = client.get(path, params=RUN | params, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


# -- the market ---------------------------------------------------------------------------


def _expected_fills(store: SqlStore, pid: str) -> list[dict[str, Any]]:
    """The member's fills from the raw tables, with their trades seen from the member."""
    fills, trades = store.market_fills(CID), store.market_trades(CID)
    member_of = {
        (int(f.interval_start_s), int(f.position)): f.participant_id for f in fills.itertuples()
    }
    expected = []
    for f in fills[fills["participant_id"] == pid].itertuples():
        start, position = int(f.interval_start_s), int(f.position)
        here = trades[trades["interval_start_s"] == start]
        own = "buy_position" if f.side == "buy" else "sell_position"
        other = "sell_position" if f.side == "buy" else "buy_position"
        price = "price_micros_per_kwh" if f.side == "buy" else "seller_price_micros_per_kwh"
        expected.append(
            {
                "interval_start": _iso(start),
                "side": f.side,
                "filled_wh": int(f.filled_wh),
                "amount_micros": int(f.amount_micros),
                "fee_micros": int(f.fee_micros),
                "delivered_wh": int(f.delivered_wh),
                "trades": [
                    (
                        int(t.quantity_wh),
                        int(getattr(t, price)),
                        "non_member"
                        if pd.isna(member_of[(start, int(getattr(t, other)))])
                        else "member",
                    )
                    for t in here[here[own] == position].itertuples()
                ],
            }
        )
    return expected


@pytest.mark.parametrize("pid", [BUYER, SOLAR])
def test_a_member_reads_their_own_orders_and_trades_as_stored(
    client: TestClient, simulated: Simulated, pid: str
) -> None:
    headers = sign_in(client, simulated.accounts[pid])
    reply = client.get(f"/v1/members/{pid}/trades", params=RUN, headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    got = [
        {
            "interval_start": f["interval_start"],
            "side": f["side"],
            "filled_wh": f["filled_wh"],
            "amount_micros": f["amount_micros"],
            "fee_micros": f["fee_micros"],
            "delivered_wh": f["delivered_wh"],
            "trades": [
                (t["quantity_wh"], t["price_micros_per_kwh"], t["counterparty"])
                for t in f["trades"]
            ],
        }
        for f in body["fills"]
    ]
    expected = _expected_fills(simulated.store, pid)
    assert len(expected) > 20  # the member traded through the run
    assert got == expected
    counterparties = {t[2] for f in got for t in f["trades"]}
    assert counterparties == ({"member", "non_member"} if pid == BUYER else {"member"})
    if pid == SOLAR:  # McAfee: the seller gets less than the buyer paid, on some trades
        trades = simulated.store.market_trades(CID)
        mine = {(f["interval_start"], t[0], t[1]) for f in got for t in f["trades"]}
        paid_more = trades[trades["price_micros_per_kwh"] > trades["seller_price_micros_per_kwh"]]
        assert any(
            (_iso(int(t.interval_start_s)), int(t.quantity_wh), int(t.seller_price_micros_per_kwh))
            in mine
            for t in paid_more.itertuples()
        )
    # no other member's id, no account or order hash: only the member's own id
    assert "0x" not in reply.text
    assert reply.text.count("isle:") == reply.text.count(pid) == 1


def test_market_totals_per_bucket_add_up_to_the_runs_member_totals(
    client: TestClient, simulated: Simulated
) -> None:
    store = simulated.store
    run_id = store.latest_run(CID)
    assert run_id is not None
    totals = store.market_member_totals(run_id).set_index("participant_id")
    headers = sign_in(client, simulated.operator)
    for pid in (BUYER, SOLAR, FARM):
        path = f"/v1/members/{pid}/market-totals"
        points = _get(client, path, headers, resolution="hour", **BEFORE_FOREIGN)["points"]
        assert len(points) > 24
        ours = totals.loc[pid]
        for name in (
            "bought_wh",
            "sold_wh",
            "delivered_wh",
            "received_wh",
            "paid_micros",
            "credited_micros",
            "fees_micros",
        ):
            assert sum(p[name] for p in points) == int(ours[name]), (pid, name)
    # hourly buckets of the buyer: what its fills hold, hour by hour
    fills = store.market_fills(CID)
    mine = fills[(fills["participant_id"] == BUYER) & (fills["side"] == "buy")]
    per_hour = mine.groupby(mine["interval_start_s"] // 3600 * 3600)["filled_wh"].sum()
    hourly = _get(client, f"/v1/members/{BUYER}/market-totals", headers, resolution="hour")
    got = {p["start"]: p["bought_wh"] for p in hourly["points"] if p["bought_wh"]}
    assert _iso(FOREIGN_AT) in got
    assert got == {_iso(int(s)): int(wh) for s, wh in per_hour.items() if wh}
    assert int(totals.loc[BUYER, "fees_micros"]) > 0
    # by day, over the whole range: the interval settled after the run is in the last day
    daily = _get(client, f"/v1/members/{BUYER}/market-totals", headers)["points"]
    assert [p["start"][:10] for p in daily] == [
        "2025-06-02",
        "2025-06-03",
        "2025-06-04",
        "2025-06-05",
    ]
    assert sum(p["bought_wh"] for p in daily) == int(totals.loc[BUYER, "bought_wh"]) + 500
    assert sum(p["paid_micros"] for p in daily) == int(totals.loc[BUYER, "paid_micros"]) + 101_000


# -- certificates -------------------------------------------------------------------------


DAY2_HOURLY = {"start": "2025-06-03T00:00:00Z", "end": "2025-06-04T00:00:00Z", "resolution": "hour"}


@pytest.mark.parametrize(("pid", "source"), [(SOLAR, "solar"), (FARM, "biomass")])
@pytest.mark.parametrize("window", [RUN | {"resolution": "day"}, DAY2_HOURLY])
def test_certificates_count_production_of_committed_intervals_only(
    client: TestClient, simulated: Simulated, pid: str, source: str, window: dict[str, str]
) -> None:
    headers = sign_in(client, simulated.accounts[pid])
    body = _get(client, f"/v1/members/{pid}/certificates", headers, **window)
    readings = simulated.store.readings(_production_meters(simulated.store, pid))
    first, end = (int(datetime.fromisoformat(window[k]).timestamp()) for k in ("start", "end"))
    bucket_s = {"day": 86_400, "hour": 3600}[window["resolution"]]
    in_window = (readings["interval_start_s"] >= first) & (readings["interval_start_s"] < end)
    produced = readings[in_window & (readings["export_wh"] > 0)]
    certified = produced[produced["interval_start_s"].isin(simulated.committed)]
    per_bucket = certified.groupby(certified["interval_start_s"] // bucket_s * bucket_s)
    expected = [
        (_iso(int(at)), source, int(wh)) for at, wh in per_bucket["export_wh"].sum().items()
    ]
    assert [(p["start"], p["source"], p["certified_wh"]) for p in body["points"]] == expected
    assert {p["meters"] for p in body["points"]} == {1}
    assert sum(p["certified_wh"] for p in body["points"]) > 0
    if window["resolution"] == "day":  # the third, uncommitted day produced too: not certified
        assert int(produced["export_wh"].sum()) > sum(p["certified_wh"] for p in body["points"])
    # a member without a generator has none
    other = sign_in(client, simulated.accounts[BUYER])
    assert _get(client, f"/v1/members/{BUYER}/certificates", other)["points"] == []


# -- balancing ----------------------------------------------------------------------------


def test_a_member_reads_their_own_demand_response_record(
    client: TestClient, simulated: Simulated
) -> None:
    stored = simulated.store.dr_responses(CID)
    mine = stored[stored["participant_id"] == BUYER]
    assert len(mine) >= 2
    headers = sign_in(client, simulated.accounts[BUYER])
    body = _get(client, f"/v1/members/{BUYER}/demand-response", headers)
    got = [
        (
            r["event"]["event_id"],
            r["response"]["baseline_wh"],
            r["response"]["measured_wh"],
            r["response"]["delivered_wh"],
            r["response"]["payment_micros"],
        )
        for r in body["responses"]
    ]
    assert sorted(got) == sorted(
        (r.event_id, r.baseline_wh, r.measured_wh, r.delivered_wh, r.payment_micros)
        for r in mine.itertuples()
    )
    events = simulated.store.dr_events(CID).set_index("event_id")
    for r in body["responses"]:
        assert r["response"]["participant_id"] == BUYER
        assert r["event"]["start"] == _iso(int(events.loc[r["event"]["event_id"], "start_s"]))
    assert str(body).count("isle:") == str(body).count(BUYER) > 0  # no one else's id


def test_members_are_refused_other_members_records(
    client: TestClient, simulated: Simulated
) -> None:
    headers = sign_in(client, simulated.accounts[OTHER])
    for what in ("trades", "market-totals", "certificates", "demand-response"):
        reply = client.get(f"/v1/members/{BUYER}/{what}", params=RUN, headers=headers)
        assert OTHER in assert_refused(reply, 403, "not_yours")["detail"]
        assert_refused(
            client.get(f"/v1/members/{BUYER}/{what}", params=RUN), 401, "unauthenticated"
        )
    for what in ("alerts", "setpoints"):
        reply = client.get(f"/v1/communities/{CID}/{what}", params=RUN, headers=headers)
        assert_refused(reply, 403, "wrong_role")
    for what in ("islands", "demand-response", "alerts", "setpoints"):
        reply = client.get(f"/v1/communities/{CID}/{what}", params=RUN)
        assert_refused(reply, 401, "unauthenticated")
    reply = client.get("/v1/communities/elsewhere/islands", params=RUN, headers=headers)
    assert_refused(reply, 403, "not_yours")


def test_the_operator_and_the_auditor_read_every_member(
    client: TestClient, simulated: Simulated
) -> None:
    member = sign_in(client, simulated.accounts[BUYER])
    own = {
        what: _get(client, f"/v1/members/{BUYER}/{what}", member)
        for what in ("trades", "market-totals", "demand-response")
    }
    for account in (simulated.operator, simulated.auditor):
        headers = sign_in(client, account)
        for what, body in own.items():
            assert _get(client, f"/v1/members/{BUYER}/{what}", headers) == body
        reply = client.get("/v1/members/isle:nobody/trades", params=RUN, headers=headers)
        assert_refused(reply, 404, "unknown_participant")
        reply = client.get("/v1/communities/elsewhere/alerts", params=RUN, headers=headers)
        assert_refused(reply, 404, "unknown_community")


def test_members_read_islands_and_demand_response_events_but_not_responses(
    client: TestClient, simulated: Simulated
) -> None:
    store = simulated.store
    islands = store.island_events(CID)
    assert len(islands) == 1
    events = store.dr_events(CID)
    responses = store.dr_responses(CID)
    member = sign_in(client, simulated.accounts[OTHER])
    operator = sign_in(client, simulated.operator)
    for headers, critical in ((member, False), (operator, True)):
        [island] = _get(client, f"/v1/communities/{CID}/islands", headers)["islands"]
        row = islands.iloc[0]
        assert (island["start"], island["end"]) == (_iso(int(row.start_s)), _iso(int(row.end_s)))
        assert island["shed_wh"] == int(row.shed_wh)
        # a community's critical loads are few: their figures are not a member's to read
        expected = (
            (int(row.served_critical_wh), int(row.unserved_critical_wh))
            if critical
            else (None, None)
        )
        assert (island["served_critical_wh"], island["unserved_critical_wh"]) == expected
    as_member = _get(client, f"/v1/communities/{CID}/demand-response", member)
    assert [e["event_id"] for e in as_member["events"]] == events["event_id"].tolist()
    assert as_member["responses"] is None
    assert "homes-" not in str(as_member)
    as_operator = _get(client, f"/v1/communities/{CID}/demand-response", operator)
    assert as_operator["events"] == as_member["events"]
    got = {
        (r["event_id"], r["participant_id"], r["payment_micros"]) for r in as_operator["responses"]
    }
    assert got == {
        (r.event_id, r.participant_id, int(r.payment_micros)) for r in responses.itertuples()
    }
    # an island that began before the window still overlaps it
    start_s = int(islands.iloc[0].start_s) + 900
    inside = {"start": _iso(start_s), "end": _iso(start_s + 900)}
    reply = client.get(f"/v1/communities/{CID}/islands", params=inside, headers=member)
    assert len(reply.json()["islands"]) == 1


def test_the_operator_reads_alerts_and_setpoints_as_stored(
    client: TestClient, simulated: Simulated
) -> None:
    store = simulated.store
    headers = sign_in(client, simulated.auditor)
    alerts = store.balancing_alerts(CID)
    body = _get(client, f"/v1/communities/{CID}/alerts", headers)
    assert [(a["interval_start"], a["kind"], a["message"]) for a in body["alerts"]] == [
        (_iso(int(a.interval_start_s)), a.kind, a.message) for a in alerts.itertuples()
    ]
    assert len(body["alerts"]) > 0
    setpoints = store.dispatch_setpoints(CID)
    day = {"start": "2025-06-03T00:00:00Z", "end": "2025-06-04T00:00:00Z"}
    first, last = (int(datetime(2025, 6, d, tzinfo=UTC).timestamp()) for d in (3, 4))
    in_day = setpoints[
        (setpoints["interval_start_s"] >= first) & (setpoints["interval_start_s"] < last)
    ]
    reply = client.get(f"/v1/communities/{CID}/setpoints", params=day, headers=headers)
    assert reply.status_code == 200, reply.text
    got = [
        (s["interval_start"], s["meter_id"], s["setpoint_wh"]) for s in reply.json()["setpoints"]
    ]
    assert got == [
        (_iso(int(s.interval_start_s)), s.meter_id, int(s.setpoint_wh)) for s in in_day.itertuples()
    ]
    assert len(got) > 0


# -- bounds -------------------------------------------------------------------------------

LIST_PATHS = [
    f"/v1/members/{BUYER}/trades",
    f"/v1/members/{BUYER}/demand-response",
    f"/v1/communities/{CID}/islands",
    f"/v1/communities/{CID}/demand-response",
    f"/v1/communities/{CID}/alerts",
    f"/v1/communities/{CID}/setpoints",
]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_windows_are_bounded(client: TestClient, simulated: Simulated, path: str) -> None:
    headers = sign_in(client, simulated.operator)
    too_long = {"start": "2025-06-01T00:00:00Z", "end": "2025-07-05T00:00:00Z"}
    reply = client.get(path, params=too_long, headers=headers)
    assert "the limit is 3000" in assert_refused(reply, 422, "range_too_large")["detail"]
    unaligned = {"start": "2025-06-02T00:05:00Z", "end": RUN["end"]}
    reply = client.get(path, params=unaligned, headers=headers)
    assert "900 s" in assert_refused(reply, 422, "invalid_range")["detail"]


@pytest.mark.parametrize(
    ("path", "rows"),
    [
        (f"/v1/members/{BUYER}/trades", "orders"),
        (f"/v1/communities/{CID}/setpoints", "setpoints"),
        (f"/v1/communities/{CID}/alerts", "alerts"),
        (f"/v1/communities/{CID}/demand-response", "responses"),
    ],
)
def test_a_window_holding_more_rows_than_the_limit_is_refused(
    simulated: Simulated, tmp_path: Path, path: str, rows: str
) -> None:
    settings = simulated.settings(tmp_path, api_max_rows=4)
    app = create_app(simulated.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        headers = sign_in(client, simulated.operator)
        reply = client.get(path, params=RUN, headers=headers)
        detail = assert_refused(reply, 422, "too_many_rows")["detail"]
        assert f"more than 4 {rows}" in detail
    settings = simulated.settings(tmp_path, api_max_rows=100_000)
    app = create_app(simulated.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        headers = sign_in(client, simulated.operator)
        assert client.get(path, params=RUN, headers=headers).status_code == 200


def test_bucketed_market_and_certificates_are_bounded(
    client: TestClient, simulated: Simulated
) -> None:
    headers = sign_in(client, simulated.accounts[SOLAR])
    for what in ("market-totals", "certificates"):
        params = {
            "start": "2025-06-01T00:00:00Z",
            "end": "2025-07-05T00:00:00Z",
            "resolution": "15min",
        }
        reply = client.get(f"/v1/members/{SOLAR}/{what}", params=params, headers=headers)
        assert "coarser resolution" in assert_refused(reply, 422, "range_too_large")["detail"]


def test_a_small_communitys_balancing_aggregates_are_not_served_to_members(
    simulated: Simulated, tmp_path: Path
) -> None:
    members = simulated.store.community_member_count(CID)
    settings = simulated.settings(tmp_path, api_min_group_members=members + 1)
    app = create_app(simulated.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        member = sign_in(client, simulated.accounts[BUYER])
        for what in ("islands", "demand-response"):
            reply = client.get(f"/v1/communities/{CID}/{what}", params=RUN, headers=member)
            assert_refused(reply, 403, "group_too_small")
        operator = sign_in(client, simulated.operator)
        assert _get(client, f"/v1/communities/{CID}/islands", operator)["islands"]


def test_a_member_opts_out_of_an_event_before_it_starts_and_nobody_else_can(
    simulated: Simulated, tmp_path: Path
) -> None:
    """``POST /v1/members/{id}/demand-response/{event_id}/opt-out``: the member, signed in
    with their own key, before the start; recorded once; refused to anyone else, for an
    unknown event and after the start."""
    store = simulated.store
    events = store.dr_events(CID)
    assert len(events), "the island run calls demand-response events"
    event_id, start_s = str(events.iloc[0]["event_id"]), int(events.iloc[0]["start_s"])
    before = from_unix_seconds(start_s - 3600)
    app = create_app(store, simulated.settings(tmp_path), chain_id=CHAIN_ID, now=lambda: before)

    def session(account: LocalAccount) -> dict[str, str]:
        nonce = client.post("/v1/auth/nonce").json()["nonce"]
        text = siwe_text(account, nonce, before)
        login = {"message": text, "signature": personal_sign(account, text)}
        return {"Authorization": f"Bearer {client.post('/v1/auth/login', json=login).json()['token']}"}  # fmt: skip  # noqa: E501

    path = f"/v1/members/{BUYER}/demand-response/{event_id}/opt-out"
    with TestClient(app) as client:
        buyer = session(simulated.accounts[BUYER])
        reply = client.post(path, headers=buyer)
        assert reply.status_code == 200, reply.text
        assert reply.json()["opted_out_at"] == before.isoformat().replace("+00:00", "Z")
        assert client.post(path, headers=buyer).status_code == 200  # again: no change
        assert store.dr_opt_outs(CID, event_id) == {BUYER: start_s - 3600}
        # nobody opts a member out for them, not even the operator
        assert_refused(client.post(path, headers=session(simulated.accounts[OTHER])), 403, "not_yours")  # fmt: skip  # noqa: E501
        assert_refused(client.post(path, headers=session(simulated.operator)), 403, "not_yours")
        unknown = f"/v1/members/{BUYER}/demand-response/no-such-event/opt-out"
        assert_refused(client.post(unknown, headers=buyer), 404, "unknown_event")
    late = create_app(store, simulated.settings(tmp_path), chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(late) as client:
        assert NOW.timestamp() >= start_s
        headers = sign_in(client, simulated.accounts[OTHER])
        other = f"/v1/members/{OTHER}/demand-response/{event_id}/opt-out"
        assert_refused(client.post(other, headers=headers), 409, "event_started")
    assert store.dr_opt_outs(CID, event_id) == {BUYER: start_s - 3600}


def test_a_member_reads_their_grid_energy_per_time_of_use_period(
    simulated: Simulated, tmp_path: Path
) -> None:
    """``GET /v1/members/{id}/time-of-use``: the member's 15-min grid import and export,
    summed per period of the community's tariff, agree with their balances."""
    scenario = prepare(ISLAND)
    configuration = community_configuration(scenario, scenario_community(scenario, "island"))
    app = create_app(
        simulated.store,
        simulated.settings(tmp_path),
        chain_id=CHAIN_ID,
        now=lambda: NOW,
        configuration=configuration,
    )
    with TestClient(app) as client:
        headers = sign_in(client, simulated.accounts[BUYER])
        body = _get(client, f"/v1/members/{BUYER}/time-of-use", headers)
        balances = _get(client, f"/v1/members/{BUYER}/balances", headers, resolution="15min")
        assert_refused(client.get(f"/v1/members/{OTHER}/time-of-use", params=RUN, headers=headers), 403, "not_yours")  # fmt: skip  # noqa: E501
    periods = body["periods"]
    tariff = configuration.tariff
    assert [p["name"] for p in periods] == ["base"] + [
        f"{w.start:%H:%M}-{w.end:%H:%M}" for w in tariff.windows
    ]
    points = balances["points"]
    assert sum(p["intervals"] for p in periods) == len(points) > 0
    assert sum(p["import_wh"] for p in periods) == sum(p["grid_import_wh"] for p in points)
    assert sum(p["export_wh"] for p in periods) == sum(p["grid_export_wh"] for p in points)
    for period in periods:  # priced at the period's own price, rounded up
        price = period["import_price_micros_per_kwh"]
        assert period["import_cost_micros"] == -(-period["import_wh"] * price // 1000)
    without = create_app(simulated.store, simulated.settings(tmp_path), chain_id=CHAIN_ID, now=lambda: NOW)  # fmt: skip  # noqa: E501
    with TestClient(without) as client:
        reply = client.get(f"/v1/members/{BUYER}/time-of-use", params=RUN, headers=sign_in(client, simulated.accounts[BUYER]))  # fmt: skip  # noqa: E501
        assert_refused(reply, 404, "no_configuration")
