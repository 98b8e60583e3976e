"""Orders: the EIP-712 digest and signatures checked against eth_account (an independent
implementation), and the order book's front door, one refusal reason at a time."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.orders import (
    NO_EXPIRY,
    NO_TERMS,
    Kind,
    MarketRules,
    Order,
    OrderBook,
    Reason,
    Side,
    address_of,
    domain_separator,
    order_of_record,
    order_record,
    recover,
    terms_hash,
)
from gridshare.model.records import OrderStatus

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CHAIN_ID = 1337
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
DOMAIN = domain_separator(CHAIN_ID, CONTRACT)
KEY_A = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KEY_B = bytes.fromhex("8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f")
KEY_C = bytes.fromhex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")


def eth_address(key: bytes) -> bytes:
    """The account of ``key`` as eth_account derives it (independently of address_of)."""
    return bytes.fromhex(Account.from_key(key).address[2:])


A, B, C = eth_address(KEY_A), eth_address(KEY_B), eth_address(KEY_C)

EIP712_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Order": [
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
    ],
}


def typed_message(order: Order, chain_id: int, contract: bytes) -> SignableMessage:
    """The order as eth_account's EIP-712 encoder takes it."""
    return encode_typed_data(
        full_message={
            "types": EIP712_TYPES,
            "primaryType": "Order",
            "domain": {
                "name": "gridshare P2PTrading",
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": "0x" + contract.hex(),
            },
            "message": {
                "maker": "0x" + order.maker.hex(),
                "side": int(order.side),
                "first_interval": order.first_interval,
                "intervals": order.intervals,
                "quantity_wh": order.quantity_wh,
                "price": order.price,
                "nonce": order.nonce,
                "expiry": order.expiry,
                "kind": int(order.kind),
                "terms": order.terms,
            },
        }
    )


def eth_digest(order: Order, chain_id: int, contract: bytes) -> bytes:
    """keccak(0x19 ++ version ++ domain separator ++ struct hash), per eth_account."""
    m = typed_message(order, chain_id, contract)
    return bytes(keccak(b"\x19" + m.version + m.header + m.body))


u = st.integers
orders = st.builds(
    Order,
    maker=st.binary(min_size=20, max_size=20),
    side=st.sampled_from(Side),
    first_interval=u(0, 2**64 - 1),
    intervals=u(0, 2**32 - 1),
    quantity_wh=u(0, 2**64 - 1),
    price=u(0, 2**64 - 1),
    nonce=u(0, 2**64 - 1),
    expiry=u(0, 2**64 - 1),
    kind=st.sampled_from(Kind),
    terms=st.binary(min_size=32, max_size=32),
)
keys = u(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


# -- EIP-712 ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(orders, u(0, 2**256 - 1), st.binary(min_size=20, max_size=20))
def test_digest_is_the_eip712_hash(order: Order, chain_id: int, contract: bytes) -> None:
    m = typed_message(order, chain_id, contract)
    assert m.header == domain_separator(chain_id, contract)
    assert m.body == order.struct_hash()
    assert order.digest(domain_separator(chain_id, contract)) == eth_digest(
        order, chain_id, contract
    )


@settings(max_examples=60, deadline=None)
@given(orders, keys)
def test_signatures_recover_to_the_signer_with_eth_account(order: Order, key: bytes) -> None:
    maker = eth_address(key)
    assert address_of(key) == maker
    signed = replace(order, maker=maker).signed(key, DOMAIN)
    sig = signed.signature
    assert len(sig) == 65
    assert sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2  # low s (EIP-2)
    digest = eth_digest(signed, CHAIN_ID, CONTRACT)
    expected = Account.from_key(key).address
    assert Account._recover_hash(digest, signature=sig) == expected
    assert Account.recover_message(typed_message(signed, CHAIN_ID, CONTRACT), signature=sig) == (
        expected
    )
    assert signed.signer(DOMAIN) == maker
    assert recover(digest, sig) == maker


def test_signature_matches_eth_accounts_own_signature() -> None:
    """Both sign deterministically (RFC 6979, low s): the same 65 bytes."""
    order = Order(A, Side.SELL, 1_800, 4, 1_500, 210_000, 9, 10**9, Kind.FORWARD, bytes(range(32)))
    ours = order.signed(KEY_A, DOMAIN).signature
    theirs = Account.sign_message(typed_message(order, CHAIN_ID, CONTRACT), KEY_A).signature
    assert ours == bytes(theirs)


def test_recover_refuses_the_high_s_twin() -> None:
    signed = Order(A, Side.BUY, 900, 1, 100, 200_000, 1).signed(KEY_A, DOMAIN)
    digest = signed.digest(DOMAIN)
    sig = signed.signature
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    # the twin is a valid signature by the same key (eth_account recovers it) ...
    assert Account._recover_hash(digest, signature=twin) == Account.from_key(KEY_A).address
    # ... but malleable, so the contract's ecrecover guard and recover() refuse it
    assert recover(digest, twin) is None
    assert replace(signed, signature=twin).signer(DOMAIN) is None


@pytest.mark.parametrize("v", [0, 1, 26, 29, 37, 38, 255])
def test_recover_refuses_a_wrong_v(v: int) -> None:
    signed = Order(A, Side.BUY, 900, 1, 100, 200_000, 1).signed(KEY_A, DOMAIN)
    assert recover(signed.digest(DOMAIN), signed.signature[:64] + bytes([v])) is None


@pytest.mark.parametrize("cut", [0, 1, 64, 66, 130])
def test_recover_refuses_a_wrong_length(cut: int) -> None:
    signed = Order(A, Side.BUY, 900, 1, 100, 200_000, 1).signed(KEY_A, DOMAIN)
    sig = (signed.signature * 2)[:cut]
    assert len(sig) != 65
    assert recover(signed.digest(DOMAIN), sig) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=65, max_size=65))
def test_recover_never_raises_on_garbage(digest: bytes, sig: bytes) -> None:
    got = recover(digest, sig)
    assert got is None or len(got) == 20
    if sig[64] not in (27, 28) or int.from_bytes(sig[32:64], "big") > SECP256K1_N // 2:
        assert got is None


def test_terms_hash_is_keccak_of_sorted_json() -> None:
    assert terms_hash({}) == NO_TERMS == bytes(32)
    expected = keccak(b'{"a":[1,2],"b":"x"}')
    assert terms_hash({"b": "x", "a": [1, 2]}) == expected


# -- the order book --------------------------------------------------------------------

STEP = 900
T0 = 1_700_000_100 - 1_700_000_100 % STEP  # an aligned interval start
RULES = MarketRules(
    interval_s=STEP,
    min_price=10_000,
    max_price=1_000_000,
    fee_per_kwh=5_000,
    fee_bps=50,
    max_quantity_wh=50_000,
)
# 1000 Wh at 200_000/kWh: amount 200_000, fee ceil(1000 * 5000 / 1000) = 5_000
# + ceil(200_000 * 50 / 10_000) = 1_000: 206_000 per interval
COST_1KWH = 206_000
BIG = 10**12


def book(escrow: dict[bytes, int] | None = None) -> OrderBook:
    return OrderBook(
        RULES,
        DOMAIN,
        frozenset({A, B}),
        escrow={A: BIG, B: BIG} if escrow is None else escrow,
        closed_before_s=T0,
        now_s=T0 - 300,
    )


def buy(**kw: object) -> Order:
    fields: dict[str, object] = {
        "maker": A,
        "side": Side.BUY,
        "first_interval": T0,
        "intervals": 1,
        "quantity_wh": 1_000,
        "price": 200_000,
        "nonce": 1,
    }
    fields.update(kw)
    return Order(**fields)  # type: ignore[arg-type]


def fields_of(order: Order) -> dict[str, object]:
    """The order's signed fields (what a fresh Order is built from)."""
    names = "maker side first_interval intervals quantity_wh price nonce expiry kind terms"
    return {name: getattr(order, name) for name in names.split()}


def sign(order: Order, key: bytes = KEY_A, domain: bytes = DOMAIN) -> Order:
    return order.signed(key, domain)


def test_max_cost_by_hand() -> None:
    assert RULES.max_cost(1_000, 200_000) == COST_1KWH
    # 333 Wh at 100_001: amount ceil(33_300.333) = 33_301; fee ceil(1_665 / 1) = 1_665
    # + ceil(33_301 * 50 / 10_000 = 166.505) = 167
    assert RULES.max_cost(333, 100_001) == 33_301 + 1_665 + 167


def assert_refused(b: OrderBook, order: Order, reason: Reason, **kw: object) -> None:
    before = sum(b.rejected.values())
    got = b.submit(order, **kw)  # type: ignore[arg-type]
    assert got is not None, f"expected {reason}, the order was booked"
    assert got.reason is reason
    assert got.order is order
    assert got.detail  # something a person can act on
    assert b.rejected[reason] == 1
    assert sum(b.rejected.values()) == before + 1
    assert all(order not in b.orders_for(s) for s in range(T0 - STEP, T0 + 10 * STEP, STEP))


def test_a_good_order_is_booked_in_every_interval_it_covers() -> None:
    b = book()
    first = sign(buy(intervals=3))
    second = sign(buy(nonce=2, first_interval=T0 + STEP, quantity_wh=500))
    assert b.submit(first) is None
    assert b.submit(second) is None
    assert b.orders_for(T0) == [first]
    assert b.orders_for(T0 + STEP) == [first, second]  # arrival order
    assert b.orders_for(T0 + 2 * STEP) == [first]
    assert b.orders_for(T0 + 3 * STEP) == []
    assert b.orders_for(T0 - STEP) == []
    assert b.reserved(A, T0) == COST_1KWH
    assert b.reserved(A, T0 + STEP) == COST_1KWH + RULES.max_cost(500, 200_000)
    assert not b.rejected


@pytest.mark.parametrize(
    "bad",
    [
        {"maker": bytes(19)},
        {"maker": bytes(21)},
        {"terms": bytes(31)},
        {"price": 2**64},
        {"nonce": 2**64},
        {"nonce": -1},
        {"first_interval": -STEP},
        {"expiry": 2**64},
        {"intervals": 2**32},
        {"quantity_wh": 2**64},
    ],
)
def test_malformed(bad: dict[str, object]) -> None:
    order = replace(buy(**bad), signature=b"\x01" * 65)
    # starts given: the book then does not enumerate the order's span (see the next test)
    assert_refused(book(), order, Reason.MALFORMED, starts=[T0])


def test_refusing_an_order_does_not_walk_its_claimed_span() -> None:
    """An order claiming 2**20 intervals (more than a year) is refused as malformed
    without the book materialising its million interval starts first (at the uint32
    limit, 2**32 - 1 intervals, that list takes tens of GB: any sender could exhaust the
    book's memory)."""
    b = book()
    order = buy(intervals=2**20)
    tracemalloc.start()
    try:
        got = b.submit(order)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got is not None
    assert got.reason is Reason.MALFORMED
    assert "spans 1048576 intervals" in got.detail
    assert peak < 1_000_000, f"refusing one order allocated {peak} bytes"


def test_unsigned() -> None:
    assert_refused(book(), buy(), Reason.UNSIGNED)


def test_bad_signature_another_key() -> None:
    assert_refused(book(), sign(buy(maker=A), KEY_B), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "domain",
    [domain_separator(1, CONTRACT), domain_separator(CHAIN_ID, bytes(19) + b"\x01")],
    ids=["another chain", "another contract"],
)
def test_bad_signature_another_domain(domain: bytes) -> None:
    assert_refused(book(), sign(buy(), KEY_A, domain), Reason.BAD_SIGNATURE)


TAMPERINGS: list[dict[str, object]] = [
    {"price": 200_001},
    {"quantity_wh": 1_001},
    {"nonce": 2},
    {"intervals": 2},
    {"first_interval": T0 + STEP},
    {"terms": b"\x01" * 32},
    {"side": Side.SELL},
]


def test_bad_signature_tampered_order() -> None:
    """A signed order changed afterwards (here with dataclasses.replace, as any code
    holding an order would) no longer carries its maker's signature."""
    signed = sign(buy())
    for change in TAMPERINGS:
        tampered = replace(signed, **change)  # type: ignore[arg-type]
        fresh = Order(**{**fields_of(signed), **change})  # type: ignore[arg-type]
        assert tampered.struct_hash() == fresh.struct_hash(), change
        assert tampered.digest(DOMAIN) != signed.digest(DOMAIN), change
        b = book()
        got = b.submit(tampered)
        assert got is not None, f"{change}: a tampered order was booked"
        assert got.reason is Reason.BAD_SIGNATURE


def test_unknown_participant() -> None:
    assert_refused(book(), sign(buy(maker=C), KEY_C), Reason.UNKNOWN_PARTICIPANT)


def test_expired() -> None:
    b = book()
    assert_refused(b, sign(buy(expiry=b.now_s - 1)), Reason.EXPIRED)
    assert b.submit(sign(buy(nonce=2, expiry=b.now_s))) is None  # valid up to its expiry


def test_interval_closed() -> None:
    b = book()
    assert_refused(b, sign(buy(first_interval=T0 - STEP, intervals=3)), Reason.INTERVAL_CLOSED)
    assert b.submit(sign(buy(nonce=2, first_interval=T0))) is None


def test_misaligned_interval() -> None:
    assert_refused(book(), sign(buy(first_interval=T0 + 1)), Reason.MISALIGNED_INTERVAL)


@pytest.mark.parametrize(
    "bad",
    [{"quantity_wh": 0}, {"intervals": 0}, {"quantity_wh": RULES.max_quantity_wh + 1}],
    ids=["zero", "no intervals", "above max"],
)
def test_non_positive_quantity(bad: dict[str, object]) -> None:
    assert_refused(book(), sign(buy(**bad)), Reason.NON_POSITIVE_QUANTITY)


def test_non_positive_quantity_negative() -> None:
    """A negative quantity must be refused, not crash the book (the order cannot be
    signed, so it arrives with whatever signature bytes the sender attached)."""
    order = replace(buy(quantity_wh=-5), signature=sign(buy()).signature)
    assert_refused(book(), order, Reason.NON_POSITIVE_QUANTITY)


def test_the_quantity_limit_itself_is_allowed() -> None:
    assert book().submit(sign(buy(quantity_wh=RULES.max_quantity_wh))) is None


@pytest.mark.parametrize("price", [RULES.min_price - 1, RULES.max_price + 1, 0])
def test_price_out_of_band(price: int) -> None:
    assert_refused(book(), sign(buy(price=price)), Reason.PRICE_OUT_OF_BAND)


@pytest.mark.parametrize("price", [RULES.min_price, RULES.max_price])
def test_the_band_edges_are_allowed(price: int) -> None:
    assert book().submit(sign(buy(price=price))) is None


def test_insufficient_escrow_single_order() -> None:
    b = book({A: COST_1KWH - 1})
    assert_refused(b, sign(buy()), Reason.INSUFFICIENT_ESCROW)
    b.credit(A, 1)
    assert b.submit(sign(buy(nonce=2))) is None  # exactly enough


def test_sells_need_no_escrow() -> None:
    assert book({}).submit(sign(replace(buy(), side=Side.SELL))) is None


def test_insufficient_escrow_counts_reservations_across_open_intervals() -> None:
    b = book({A: 2 * COST_1KWH + COST_1KWH // 2})
    assert b.submit(sign(buy(intervals=2))) is None  # reserves 2 * 206_000
    assert b.reserved(A, T0) == b.reserved(A, T0 + STEP) == COST_1KWH
    later = sign(buy(nonce=2, first_interval=T0 + 5 * STEP))
    assert_refused(b, later, Reason.INSUFFICIENT_ESCROW)  # 3 * 206_000 > 515_000
    # another member's escrow is its own
    assert book({A: 0, B: COST_1KWH}).submit(sign(buy(maker=B), KEY_B)) is None


def test_a_multi_interval_order_needs_escrow_for_every_interval() -> None:
    b = book({A: 3 * COST_1KWH - 1})
    assert_refused(b, sign(buy(intervals=3)), Reason.INSUFFICIENT_ESCROW)
    assert b.submit(sign(buy(nonce=2, intervals=2))) is None


def test_close_releases_the_reservation() -> None:
    b = book({A: 2 * COST_1KWH})
    first = sign(buy(intervals=2))
    assert b.submit(first) is None
    blocked = sign(buy(nonce=2, first_interval=T0 + 2 * STEP))
    assert b.submit(blocked) is not None
    assert b.close(T0) == [first]
    assert b.orders_for(T0) == []
    assert b.orders_for(T0 + STEP) == [first]
    assert b.reserved(A, T0) == 0
    assert b.reserved(A, T0 + STEP) == COST_1KWH
    assert b.closed_before_s == T0 + STEP
    # the released 206_000 now backs a new order (a fresh nonce: refused ones used none)
    assert b.submit(sign(buy(nonce=2, first_interval=T0 + 2 * STEP))) is None
    # and the closed interval takes no new orders
    assert b.submit(sign(buy(nonce=3, first_interval=T0))).reason is Reason.INTERVAL_CLOSED  # type: ignore[union-attr]


def test_replayed_nonce() -> None:
    b = book()
    assert b.submit(sign(buy(nonce=7))) is None
    assert_refused(b, sign(buy(nonce=7, quantity_wh=10)), Reason.REPLAYED_NONCE)
    # nonces are per maker
    assert b.submit(sign(buy(maker=B, nonce=7), KEY_B)) is None


def test_a_refused_order_does_not_use_its_nonce() -> None:
    b = book({A: 0})
    assert b.submit(sign(buy(nonce=4))).reason is Reason.INSUFFICIENT_ESCROW  # type: ignore[union-attr]
    b.credit(A, COST_1KWH)
    assert b.submit(sign(buy(nonce=4))) is None


def test_submit_with_starts_books_only_the_covered_given_starts() -> None:
    b = book()
    order = sign(buy(intervals=8, kind=Kind.RECURRING))
    given_starts = [T0 + STEP, T0 + 3 * STEP, T0 + 3 * STEP + 1, T0 + 8 * STEP, T0 - STEP]
    assert b.submit(order, starts=given_starts) is None
    booked = [s for s in range(T0 - STEP, T0 + 10 * STEP, STEP) if order in b.orders_for(s)]
    assert booked == [T0 + STEP, T0 + 3 * STEP]
    assert b.orders_for(T0 + 3 * STEP + 1) == []
    assert b.reserved(A, T0) == 0
    assert b.reserved(A, T0 + STEP) == b.reserved(A, T0 + 3 * STEP) == COST_1KWH


def test_submit_with_starts_reserves_only_for_the_given_starts() -> None:
    b = book({A: 2 * COST_1KWH})  # the order's 8 intervals would need 8x that
    order = sign(buy(intervals=8, kind=Kind.RECURRING))
    assert b.submit(order, starts=[T0, T0 + 7 * STEP]) is None


def test_submit_with_a_repeated_start_books_the_order_once() -> None:
    """A start listed twice must not book the order twice in one interval (clearing would
    then see it twice and could fill it beyond its signed quantity) nor reserve twice."""
    b = book()
    order = sign(buy(intervals=2))
    assert b.submit(order, starts=[T0, T0, T0 + STEP]) is None
    assert b.orders_for(T0) == [order]
    assert b.reserved(A, T0) == COST_1KWH


def test_an_order_with_no_valid_side_is_refused() -> None:
    """The contract refuses ``side > 1`` ("P2PTrading: bad side"); the book must too,
    rather than book an order that clearing treats as neither a buy nor a sell."""
    order = sign(replace(buy(), side=2))  # type: ignore[arg-type]
    b = book()
    got = b.submit(order)
    assert got is not None, "an order with side 2 was booked"
    assert b.orders_for(T0) == []


def test_submit_with_no_covered_start_is_refused() -> None:
    order = sign(buy(intervals=2))
    assert_refused(book(), order, Reason.NON_POSITIVE_QUANTITY, starts=[T0 + 5 * STEP])


def test_submit_all_returns_only_the_refusals() -> None:
    b = book()
    good, bad = sign(buy(nonce=1)), buy(nonce=2)
    refused = b.submit_all([good, bad])
    assert [r.order for r in refused] == [bad]
    assert b.orders_for(T0) == [good]


def test_debit_and_credit_move_escrow() -> None:
    b = book({A: 100})
    b.debit(A, 30)
    b.credit(A, 5)
    b.credit(C, 7)
    assert b.escrow == {A: 75, C: 7}


def test_covers_and_as_tuple() -> None:
    o = buy(intervals=2)
    assert [o.covers(T0 + k * STEP, STEP) for k in (-1, 0, 1, 2)] == [False, True, True, False]
    maker = to_checksum_address("0x" + A.hex())  # web3 takes checksummed addresses only
    assert o.as_tuple() == (maker, 0, T0, 2, 1_000, 200_000, 1, NO_EXPIRY, 0, NO_TERMS)
    assert o.as_json()["side"] == "buy"


def test_cancel_takes_an_order_out_and_releases_its_reservation() -> None:
    key = bytes(range(1, 33))
    maker = address_of(key)
    rules = MarketRules(interval_s=900)
    domain = domain_separator(1, bytes(20))
    book = OrderBook(rules, domain, frozenset({maker}), {maker: 10**9})
    order = Order(maker, Side.BUY, 900, 3, 500, 200_000, nonce=1).signed(key, domain)
    other = Order(maker, Side.BUY, 900, 1, 100, 200_000, nonce=2).signed(key, domain)
    assert book.submit(order) is None
    assert book.submit(other) is None
    assert book.reserved(maker, 1800) == rules.max_cost(500, 200_000)
    assert book.cancel(order.struct_hash())
    assert book.orders_for(900) == [other]
    assert book.orders_for(1800) == []
    assert book.reserved(maker, 1800) == 0
    assert book.reserved(maker, 900) == rules.max_cost(100, 200_000)
    assert not book.cancel(order.struct_hash())  # not held any more
    # its nonce stays used: the same signed order cannot come back
    refused = book.submit(order)
    assert refused is not None
    assert refused.reason is Reason.REPLAYED_NONCE


def test_an_order_survives_the_store_record_round_trip() -> None:
    key = bytes(range(1, 33))
    domain = domain_separator(1, bytes(20))
    order = Order(
        address_of(key), Side.SELL, 1800, 4, 250, 90_000, nonce=7, expiry=10**9,
        kind=Kind.FORWARD, terms=bytes(range(32)),
    ).signed(key, domain)  # fmt: skip
    record = order_record(order, "c", 5, OrderStatus.PENDING)
    assert record.order_hash == "0x" + order.struct_hash().hex()
    back = order_of_record(record)
    assert back == order
    assert back.signer(domain) == order.maker
