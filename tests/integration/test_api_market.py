"""The market routes of the REST API against a real store, on SQLite and on PostgreSQL:
members place orders they sign in a wallet (EIP-712, with eth-account, from the domain the
node publishes), see and cancel only their own, and every bad order is refused with a
reason and stores nothing. The gate's side of the store (what the market step reads and
changes) is checked here too, with an API cancel racing it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from gridshare.api.app import create_app
from gridshare.market.orders import MarketRules, MarketVenue, domain_separator, terms_hash
from gridshare.model.records import MarketIntervalRecord, OrderStatus
from gridshare.units import to_unix_seconds
from tests.integration.test_api import (
    DAY0,
    NOW,
    Populated,
    TestClient,
    assert_refused,
    populated,
    settings_for,
    sign_in,
)
from tests.siwe import CHAIN_ID, new_account

__all__ = ["populated"]  # the store fixture, shared with the readings' tests

CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
QUARTER_S = 900
RULES = MarketRules(interval_s=QUARTER_S, min_price=10_000, max_price=2_000_000)
NEXT_OPEN = to_unix_seconds(DAY0) + 97 * QUARTER_S
"""The store closed DAY0's 96 intervals; the market cleared the first of the next day."""
ORDER_TYPES = [
    {"name": "maker", "type": "address"},
    {"name": "side", "type": "uint8"},
    {"name": "first_interval", "type": "uint64"},
    {"name": "intervals", "type": "uint32"},
    {"name": "quantity_wh", "type": "uint64"},
    {"name": "price", "type": "uint64"},
    {"name": "nonce", "type": "uint64"},
    {"name": "expiry", "type": "uint64"},
    {"name": "kind", "type": "uint8"},
    {"name": "terms", "type": "bytes32"},
]


@pytest.fixture
def market_client(populated: Populated, tmp_path: Path) -> Iterator[TestClient]:
    venue = MarketVenue(populated.community.community_id, CHAIN_ID, CONTRACT, RULES)
    app = create_app(
        populated.store,
        settings_for(populated, tmp_path),
        chain_id=CHAIN_ID,
        market=venue,
        now=lambda: NOW,
    )
    with TestClient(app) as client:
        yield client


def wallet_order(
    market: dict[str, Any], account: LocalAccount, signer: LocalAccount | None = None, **fields: Any
) -> dict[str, Any]:
    """An order as a wallet signs it: eth-account's EIP-712 encoding of the domain the node
    published (``GET /v1/market``), not gridshare's."""
    order: dict[str, Any] = {
        "maker": account.address,
        "side": "buy",
        "first_interval": market["next_open_interval"],
        "intervals": 1,
        "quantity_wh": 400,
        "price": 150_000,
        "nonce": secrets.randbelow(2**62),
        "expiry": to_unix_seconds(NOW) + 86_400,
        "kind": "spot",
        "terms": "0x" + "00" * 32,
    } | fields
    message = dict(order)
    message["side"] = {"buy": 0, "sell": 1}.get(order["side"], 0)  # a bad side: signed as buy
    message["kind"] = ["spot", "forward", "recurring", "group"].index(order["kind"])
    message["terms"] = bytes.fromhex(order["terms"][2:])
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Order": ORDER_TYPES,
        },
        "primaryType": "Order",
        "domain": {
            "name": market["domain_name"],
            "version": market["domain_version"],
            "chainId": market["chain_id"],
            "verifyingContract": market["verifying_contract"],
        },
        "message": message,
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), (signer or account).key)
    return order | {"signature": "0x" + bytes(signed.signature).hex()}


def _market(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    reply = client.get("/v1/market", headers=headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _stored(populated: Populated) -> int:
    cid = populated.community.community_id
    return len(populated.store.market_orders_of(cid, None, [], 500))


def test_the_market_publishes_its_domain_rules_and_next_open_interval(
    market_client: TestClient, populated: Populated
) -> None:
    market = _market(market_client, sign_in(market_client, populated.members[0]))
    assert market["domain_separator"] == "0x" + domain_separator(CHAIN_ID, CONTRACT).hex()
    assert market["verifying_contract"].lower() == "0x" + CONTRACT.hex()
    assert (market["chain_id"], market["interval_s"]) == (CHAIN_ID, QUARTER_S)
    assert (market["min_price_micros_per_kwh"], market["max_price_micros_per_kwh"]) == (
        RULES.min_price,
        RULES.max_price,
    )
    assert market["next_open_interval"] == NEXT_OPEN
    assert_refused(market_client.get("/v1/market"), 401, "unauthenticated")


def test_a_member_places_a_wallet_signed_order_and_sees_only_their_own(
    market_client: TestClient, populated: Populated
) -> None:
    me, neighbour = populated.members[0], populated.members[1]
    headers = sign_in(market_client, me)
    order = wallet_order(_market(market_client, headers), me)
    reply = market_client.post("/v1/market/orders", json=order, headers=headers)
    assert reply.status_code == 202, reply.text
    placed = reply.json()
    assert (placed["status"], placed["maker"], placed["nonce"]) == (
        "pending",
        me.address,
        order["nonce"],
    )
    stored = populated.store.market_order(populated.community.community_id, placed["order_hash"])
    assert stored is not None
    assert (stored.signature, stored.quantity_wh) == (order["signature"], 400)
    # the member finds it by hash and in their list
    one = market_client.get(f"/v1/market/orders/{placed['order_hash']}", headers=headers)
    assert one.json() == placed
    mine = market_client.get("/v1/market/orders", headers=headers).json()["orders"]
    assert placed["order_hash"] in {o["order_hash"] for o in mine}
    assert {o["maker"] for o in mine} == {me.address}
    # a neighbour cannot read it, nor see it in their list; the auditor sees it
    theirs = sign_in(market_client, neighbour)
    refused = market_client.get(f"/v1/market/orders/{placed['order_hash']}", headers=theirs)
    assert_refused(refused, 403, "not_yours")
    listed = market_client.get("/v1/market/orders", headers=theirs).json()["orders"]
    assert placed["order_hash"] not in {o["order_hash"] for o in listed}
    audit = sign_in(market_client, populated.auditor)
    everyone = market_client.get("/v1/market/orders", headers=audit).json()["orders"]
    assert placed["order_hash"] in {o["order_hash"] for o in everyone}


@pytest.mark.parametrize(
    ("fields", "signer", "status", "error"),
    [
        ({}, "stranger", 422, "bad_signature"),
        ({"signature": "0x" + "00" * 65}, None, 422, "bad_signature"),
        ({"first_interval": NEXT_OPEN - QUARTER_S}, None, 422, "interval_closed"),
        ({"first_interval": NEXT_OPEN + 60}, None, 422, "misaligned_interval"),
        ({"price": RULES.max_price + 1}, None, 422, "price_out_of_band"),
        ({"expiry": to_unix_seconds(NOW) - 1}, None, 422, "expired"),
        ({"quantity_wh": 0}, None, 422, "invalid_request"),
        ({"side": "hold"}, None, 422, "invalid_request"),
        ({"maker": "neighbour"}, None, 403, "not_yours"),
    ],
)
def test_a_bad_order_is_refused_with_its_reason_and_stores_nothing(
    market_client: TestClient,
    populated: Populated,
    fields: dict[str, Any],
    signer: str | None,
    status: int,
    error: str,
) -> None:
    me = populated.members[2]
    headers = sign_in(market_client, me)
    market = _market(market_client, headers)
    if fields.get("maker") == "neighbour":
        neighbour = populated.members[3]
        order = wallet_order(market, neighbour)
    else:
        stranger = new_account() if signer == "stranger" else None
        order = wallet_order(market, me, stranger, **fields)
    if "signature" in fields:
        order["signature"] = fields["signature"]
    before = _stored(populated)
    assert_refused(
        market_client.post("/v1/market/orders", json=order, headers=headers), status, error
    )
    assert _stored(populated) == before


def test_a_replayed_nonce_is_refused(market_client: TestClient, populated: Populated) -> None:
    me = populated.members[4]
    headers = sign_in(market_client, me)
    market = _market(market_client, headers)
    order = wallet_order(market, me)
    first = market_client.post("/v1/market/orders", json=order, headers=headers)
    assert first.status_code == 202, first.text
    before = _stored(populated)
    again = market_client.post("/v1/market/orders", json=order, headers=headers)
    assert_refused(again, 422, "replayed_nonce")
    other = wallet_order(market, me, nonce=order["nonce"], quantity_wh=999)
    assert_refused(
        market_client.post("/v1/market/orders", json=other, headers=headers), 422, "replayed_nonce"
    )
    assert _stored(populated) == before


def test_only_members_place_orders(market_client: TestClient, populated: Populated) -> None:
    for role in (populated.operator, populated.auditor):
        headers = sign_in(market_client, role)
        order = wallet_order(_market(market_client, headers), role)
        reply = market_client.post("/v1/market/orders", json=order, headers=headers)
        assert_refused(reply, 403, "members_only")


def test_the_book_shows_price_levels_without_makers(
    market_client: TestClient, populated: Populated
) -> None:
    headers = [sign_in(market_client, m) for m in populated.members[:3]]
    market = _market(market_client, headers[0])
    start = market["next_open_interval"] + 8 * QUARTER_S  # an interval no other test uses
    placed = [
        (0, {"side": "buy", "price": 120_000, "quantity_wh": 300}),
        (1, {"side": "buy", "price": 120_000, "quantity_wh": 200}),
        (2, {"side": "buy", "price": 130_000, "quantity_wh": 100}),
        (2, {"side": "sell", "price": 90_000, "quantity_wh": 700}),
    ]
    for who, fields in placed:
        order = wallet_order(market, populated.members[who], first_interval=start, **fields)
        reply = market_client.post("/v1/market/orders", json=order, headers=headers[who])
        assert reply.status_code == 202, reply.text
    # the book is shown for the first open interval; these orders are for a later one
    shown = market_client.get("/v1/market/book", headers=headers[0]).json()
    assert shown["interval_start"] == NEXT_OPEN
    depth = populated.store.market_depth(populated.community.community_id, start, QUARTER_S)
    assert depth == [("buy", 120_000, 500, 2), ("buy", 130_000, 100, 1), ("sell", 90_000, 700, 1)]
    assert "maker" not in str(shown)


def test_a_member_cancels_their_open_order_and_not_anyone_elses(
    market_client: TestClient, populated: Populated
) -> None:
    me, neighbour = populated.members[1], populated.members[2]
    headers = sign_in(market_client, me)
    order = wallet_order(_market(market_client, headers), me)
    placed = market_client.post("/v1/market/orders", json=order, headers=headers).json()
    path = f"/v1/market/orders/{placed['order_hash']}"
    assert_refused(
        market_client.delete(path, headers=sign_in(market_client, neighbour)), 403, "not_yours"
    )
    assert_refused(
        market_client.delete(path, headers=sign_in(market_client, populated.operator)),
        403,
        "members_only",
    )
    reply = market_client.delete(path, headers=headers)
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "cancel_requested"
    assert_refused(market_client.delete(path, headers=headers), 409, "not_open")
    unknown = "0x" + "ab" * 32
    assert_refused(
        market_client.delete(f"/v1/market/orders/{unknown}", headers=headers), 404, "unknown_order"
    )


def test_the_gate_books_orders_and_never_overwrites_a_racing_cancel(
    market_client: TestClient, populated: Populated
) -> None:
    """The market step reads the pending orders in its transaction; a cancel committed
    meanwhile is kept (the step's change applies only to the status it read)."""
    cid = populated.community.community_id
    me = populated.members[3]
    headers = sign_in(market_client, me)
    market = _market(market_client, headers)
    kept, raced = (
        market_client.post(
            "/v1/market/orders", json=wallet_order(market, me), headers=headers
        ).json()
        for _ in range(2)
    )
    with populated.store.transaction() as tx:
        waiting = {r.order_hash: r for r in tx.market_orders_to_process(cid)}
        assert {kept["order_hash"], raced["order_hash"]} <= set(waiting)
        if populated.store.dialect == "postgresql":  # SQLite: one writer at a time
            cancelled = populated.store.request_market_order_cancel(
                cid, raced["order_hash"], me.address
            )
            assert cancelled is not None
        applied = tx.set_market_order_status(
            cid,
            [
                (h, OrderStatus.PENDING, OrderStatus.BOOKED, "")
                for h in (kept["order_hash"], raced["order_hash"])
            ],
        )
    status = {
        h: populated.store.market_order(cid, h).status  # type: ignore[union-attr]
        for h in (kept["order_hash"], raced["order_hash"])
    }
    if populated.store.dialect == "postgresql":
        assert applied == 1
        assert status == {kept["order_hash"]: "booked", raced["order_hash"]: "cancel_requested"}
    else:
        assert applied == 2
        assert set(status.values()) == {"booked"}


def test_the_last_clearing_is_the_newest_settled_interval(
    market_client: TestClient, populated: Populated
) -> None:
    headers = sign_in(market_client, populated.members[0])
    cid = populated.community.community_id
    if populated.store.last_market_interval(cid) is None:
        assert_refused(
            market_client.get("/v1/market/clearings/last", headers=headers), 404, "no_clearing"
        )
    settled = [
        MarketIntervalRecord(
            community_id=cid,
            interval_start_s=to_unix_seconds(DAY0) + k * QUARTER_S,
            mechanism="uniform",
            orders=2,
            volume_wh=100 * (k + 1),
            buyers_paid_micros=20_000,
            sellers_credited_micros=19_000,
            refunds_micros=0,
            fees_micros=1_000,
            to_fund_micros=1_000,
            trades_root="0x" + "11" * 32,
            settled_on_chain=False,
        )
        for k in (3, 5, 4)
    ]
    with populated.store.transaction() as tx:
        for record in settled:
            tx.write_market_interval(record, [], [])
    reply = market_client.get("/v1/market/clearings/last", headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["interval_start"], body["volume_wh"]) == (
        to_unix_seconds(DAY0) + 5 * QUARTER_S,
        600,
    )
    assert "maker" not in body


def test_a_node_without_a_market_says_so(populated: Populated, tmp_path: Path) -> None:
    app = create_app(
        populated.store, settings_for(populated, tmp_path), chain_id=CHAIN_ID, now=lambda: NOW
    )
    with TestClient(app) as client:
        headers = sign_in(client, populated.members[0])
        assert_refused(client.get("/v1/market", headers=headers), 404, "no_market")


def test_a_recurring_order_carries_its_signed_rule_and_bad_terms_are_refused(
    market_client: TestClient, populated: Populated
) -> None:
    me = populated.members[0]
    headers = sign_in(market_client, me)
    market = _market(market_client, headers)
    rule = {"rule": "recurring", "weekdays": [0, 1, 2, 3, 4], "from": "18:00", "to": "21:00",
            "time_zone": "America/New_York"}  # fmt: skip
    signed_terms = "0x" + terms_hash(rule).hex()
    order = wallet_order(market, me, kind="recurring", intervals=96 * 7, terms=signed_terms)
    reply = market_client.post(
        "/v1/market/orders", json=order | {"offchain_terms": rule}, headers=headers
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["offchain_terms"] == rule
    stored = populated.store.market_order(
        populated.community.community_id, reply.json()["order_hash"]
    )
    assert stored is not None
    assert json.loads(stored.terms_json) == rule
    before = _stored(populated)
    other = rule | {"to": "22:00"}  # not what was signed
    again = wallet_order(market, me, kind="recurring", intervals=96 * 7, terms=signed_terms)
    refused = market_client.post(
        "/v1/market/orders", json=again | {"offchain_terms": other}, headers=headers
    )
    assert_refused(refused, 422, "bad_terms")
    spot_with_rule = wallet_order(market, me, terms=signed_terms)
    refused = market_client.post(
        "/v1/market/orders", json=spot_with_rule | {"offchain_terms": rule}, headers=headers
    )
    assert_refused(refused, 422, "bad_terms")
    assert _stored(populated) == before
