"""P2PTrading: EIP-712 signed orders, cleared off-chain, settled on-chain against the
signed limits, with escrow, delivery reconciliation, a dispute window and withdrawals.

Orders are signed here with eth_account, an independent EIP-712 implementation, so the
contract's digest is checked against a reference rather than against itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.ledger.compiled import load_artifact
from gridshare.ledger.deployment import initcode
from tests.contracts.conftest import INTERVAL_S, ROLE_PROSUMER, deploy, transaction_gas

START = 1_735_689_600  # 2025-01-01T00:00:00Z, the first interval of its day
EPOCH = START // 86_400
DAY_S = 86_400
UNIT = 1_000_000  # micro-units per currency unit
DEPOSIT = 50 * UNIT
FAR = 2**40  # an expiry far in the future
ROOT = b"\x5a" * 32
BUY, SELL = 0, 1
SECP256K1N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

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


@dataclass(frozen=True)
class Order:
    maker: str
    side: int
    first_interval: int = START
    intervals: int = 1
    quantity_wh: int = 1_000
    price: int = 200_000
    nonce: int = 0
    expiry: int = FAR
    kind: int = 0
    terms: bytes = bytes(32)

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)


@dataclass(frozen=True)
class Entry:
    """One order in a settlement, its signer and its fill."""

    order: Order
    signer: LocalAccount
    filled_wh: int
    amount: int
    delivered_wh: int = 0

    def with_order(self, **changes: Any) -> Entry:
        return replace(self, order=replace(self.order, **changes))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def domain(trading: Any) -> dict[str, Any]:
    return {
        "name": "gridshare P2PTrading",
        "version": "1",
        "chainId": boa.env.evm.patch.chain_id,
        "verifyingContract": trading.address,
    }


def signed(trading: Any, signer: LocalAccount, order: Order) -> Any:
    message = dict(zip(Order.__dataclass_fields__, order.as_tuple(), strict=True))
    return Account.sign_typed_data(signer.key, domain(trading), {"Order": ORDER_TYPES}, message)


def buy(
    member: LocalAccount, filled_wh: int, amount: int, *, price: int = 300_000, **order: Any
) -> Entry:
    order.setdefault("quantity_wh", max(filled_wh, 1))
    return Entry(Order(member.address, BUY, price=price, **order), member, filled_wh, amount)


def sell(
    member: LocalAccount,
    filled_wh: int,
    amount: int,
    *,
    delivered_wh: int | None = None,
    price: int = 100_000,
    **order: Any,
) -> Entry:
    order.setdefault("quantity_wh", max(filled_wh, 1))
    delivered = filled_wh if delivered_wh is None else delivered_wh
    return Entry(
        Order(member.address, SELL, price=price, **order), member, filled_wh, amount, delivered
    )


def settle(
    trading: Any,
    operator: str,
    entries: Sequence[Entry],
    start: int = START,
    *,
    signatures: Sequence[bytes] | None = None,
    root: bytes = ROOT,
) -> list[Any]:
    """Call settle as the operator; returns the call's logs."""
    if signatures is None:
        signatures = [signed(trading, e.signer, e.order).signature for e in entries]
    trading.settle(
        start,
        [e.order.as_tuple() for e in entries],
        list(signatures),
        [(e.filled_wh, e.amount, e.delivered_wh) for e in entries],
        root,
        sender=operator,
    )
    return list(trading.get_logs())


def commit(monitoring: Any, operator: str, *starts: int) -> None:
    for start in starts:
        monitoring.commit(start, ROOT, ROOT, 0, 0, 0, 0, 1, sender=operator)


def named(logs: list[Any], name: str) -> list[Any]:
    return [log for log in logs if type(log).__name__ == name]


def balances(trading: Any, accounts: Sequence[str]) -> tuple[list[int], list[int]]:
    """Escrow and pending (of START's day) of each account."""
    return (
        [trading.escrow(a) for a in accounts],
        [trading.pending(a, EPOCH) for a in accounts],
    )


@pytest.fixture
def members(registry: Any, credit: Any, trading: Any, operator: str) -> list[LocalAccount]:
    """Six active members with keys; each holds 100 units, 50 of them in escrow."""
    keyed = [Account.from_key(keccak(text=f"p2p-member-{i}")) for i in range(6)]
    registry.register_batch([m.address for m in keyed], [ROLE_PROSUMER] * 6, sender=operator)
    for i, member in enumerate(keyed):
        credit.mint(member.address, 100 * UNIT, bytes([i + 1]) * 32, sender=operator)
        credit.approve(trading.address, 2**256 - 1, sender=member.address)
        trading.deposit(DEPOSIT, sender=member.address)
    return keyed


@pytest.fixture
def committed(monitoring: Any, operator: str) -> list[int]:
    """Four consecutive committed intervals from START."""
    starts = [START + i * INTERVAL_S for i in range(4)]
    commit(monitoring, operator, *starts)
    return starts


def uniform_trades(m: list[LocalAccount]) -> list[Entry]:
    """Two buyers and two sellers at a uniform 200_000 micros/kWh."""
    return [
        buy(m[0], 1_500, 300_000, price=300_000),
        buy(m[1], 500, 100_000, price=250_000),
        sell(m[2], 1_200, 240_000, price=150_000),
        sell(m[3], 800, 160_000, price=100_000),
    ]


def assert_money_is_held(trading: Any, credit: Any, accounts: Sequence[str]) -> None:
    """The contract holds exactly the escrow and pending credit of the accounts."""
    held = sum(trading.escrow(a) + trading.pending(a, EPOCH) for a in accounts)
    assert credit.balanceOf(trading.address) == held


# --- deployment, parameters, EIP-712 -----------------------------------------------------


def test_deployment_defaults(
    trading: Any, registry: Any, credit: Any, monitoring: Any, operator: str
) -> None:
    assert (trading.registry(), trading.credit(), trading.monitoring()) == (
        registry.address,
        credit.address,
        monitoring.address,
    )
    assert trading.interval_length_s() == INTERVAL_S
    assert trading.fund() == operator
    assert (trading.fee_per_kwh(), trading.fee_bps()) == (0, 0)
    assert (trading.min_price(), trading.max_price()) == (0, 10_000_000)
    assert (trading.dispute_window_s(), trading.withdrawal_delay_s()) == (DAY_S, DAY_S)
    assert credit.trusted(trading.address)


def test_a_zero_fund_is_refused(registry: Any, credit: Any, monitoring: Any, operator: str) -> None:
    zero = "0x" + "00" * 20
    args = (registry.address, credit.address, monitoring.address, zero)
    code = initcode(load_artifact("P2PTrading"), *args)
    _, computation = boa.env.deploy(sender=operator, bytecode=bytes.fromhex(code[2:]))
    assert computation.is_error
    assert b"P2PTrading: zero address" in computation.output


def test_order_digest_is_eip712(trading: Any, members: list[LocalAccount]) -> None:
    order = Order(
        members[0].address,
        SELL,
        first_interval=START - 3 * INTERVAL_S,
        intervals=96,
        quantity_wh=2**64 - 1,
        price=123_456,
        nonce=2**64 - 1,
        expiry=2**64 - 1,
        kind=3,
        terms=b"\xab" * 32,
    )
    signable = encode_typed_data(
        domain(trading),
        {"Order": ORDER_TYPES},
        dict(zip(Order.__dataclass_fields__, order.as_tuple(), strict=True)),
    )
    assert trading.domain_separator() == signable.header
    assert trading.order_digest(order.as_tuple()) == signed(trading, members[0], order).message_hash
    other = replace(order, kind=2)
    assert trading.order_digest(other.as_tuple()) == signed(trading, members[0], other).message_hash
    assert trading.order_digest(other.as_tuple()) != trading.order_digest(order.as_tuple())


def test_operator_sets_parameters(trading: Any, operator: str, members: list[LocalAccount]) -> None:
    trading.set_parameters(10_000, 50, 1_000, 900_000, 3_600, 7_200, sender=operator)
    (event,) = trading.get_logs()
    assert type(event).__name__ == "ParametersChanged"
    assert (event.fee_per_kwh, event.fee_bps, event.withdrawal_delay_s) == (10_000, 50, 7_200)
    assert (trading.min_price(), trading.max_price(), trading.dispute_window_s()) == (
        1_000,
        900_000,
        3_600,
    )
    # ceil(1500 * 10000 / 1000) + ceil(300000 * 50 / 10000) and both roundings up
    assert trading.fee_of(1_500, 300_000) == 15_000 + 1_500
    assert trading.fee_of(1, 1) == 10 + 1
    assert trading.fee_of(1_501, 300_001) == 15_010 + 1_501
    assert trading.fee_of(0, 0) == 0
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.set_parameters(0, 0, 0, 1, 0, 0, sender=members[0].address)
    with boa.reverts("P2PTrading: fee_bps above 1000"):
        trading.set_parameters(0, 1_001, 0, 1, 0, 0, sender=operator)
    trading.set_parameters(0, 1_000, 5, 5, 0, 0, sender=operator)  # the bounds themselves
    with boa.reverts("P2PTrading: min_price above max_price"):
        trading.set_parameters(0, 0, 6, 5, 0, 0, sender=operator)


def test_operator_changes_the_fund(
    trading: Any, operator: str, members: list[LocalAccount]
) -> None:
    new_fund = members[5].address
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.set_fund(new_fund, sender=new_fund)
    with boa.reverts("P2PTrading: zero address"):
        trading.set_fund("0x" + "00" * 20, sender=operator)
    trading.set_fund(new_fund, sender=operator)
    (event,) = trading.get_logs()
    assert (event.previous, event.current) == (operator, new_fund)
    assert trading.fund() == new_fund


# --- escrow ------------------------------------------------------------------------------


def test_deposits_fill_the_escrow(
    trading: Any,
    credit: Any,
    registry: Any,
    operator: str,
    members: list[LocalAccount],
    accounts: list[str],
) -> None:
    payer, payee = members[0].address, members[1].address
    assert trading.escrow(payer) == DEPOSIT
    assert credit.balanceOf(payer) == 100 * UNIT - DEPOSIT
    trading.deposit_for(payee, 7, sender=payer)
    (event,) = named(trading.get_logs(), "Deposited")
    assert (event.account, event.payer, event.amount) == (payee, payer, 7)
    assert (trading.escrow(payer), trading.escrow(payee)) == (DEPOSIT, DEPOSIT + 7)
    assert credit.balanceOf(trading.address) == 6 * DEPOSIT + 7
    with boa.reverts("P2PTrading: zero amount"):
        trading.deposit(0, sender=payer)
    with boa.reverts("P2PTrading: zero amount"):
        trading.deposit_for(payee, 0, sender=payer)
    with boa.reverts("P2PTrading: account is not an active participant"):
        trading.deposit_for(accounts[5], 1, sender=payer)
    registry.set_suspended(payee, True, sender=operator)
    with boa.reverts("P2PTrading: account is not an active participant"):
        trading.deposit_for(payee, 1, sender=payer)
    with boa.reverts("CommunityCredit: insufficient balance"):
        trading.deposit(100 * UNIT, sender=payer)


def test_withdrawals_wait_for_the_delay_and_settlement_may_use_the_escrow(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
) -> None:
    member = members[0].address
    with boa.reverts("P2PTrading: no withdrawal requested"):
        trading.withdraw(sender=member)
    with boa.reverts("P2PTrading: zero amount"):
        trading.request_withdrawal(0, sender=member)
    trading.request_withdrawal(30 * UNIT, sender=member)
    (event,) = trading.get_logs()
    due_at = boa.env.evm.patch.timestamp + DAY_S
    assert (event.amount, event.due_at) == (30 * UNIT, due_at)
    assert trading.withdrawals(member) == (30 * UNIT, due_at)
    with boa.reverts("P2PTrading: withdrawal not due"):
        trading.withdraw(sender=member)
    # the escrow still backs orders meanwhile
    settle(trading, operator, [buy(members[0], 1_000, 300_000), sell(members[1], 1_000, 300_000)])
    boa.env.time_travel(seconds=DAY_S - 1)
    with boa.reverts("P2PTrading: withdrawal not due"):
        trading.withdraw(sender=member)
    boa.env.time_travel(seconds=1)
    assert trading.withdraw(sender=member) == 30 * UNIT
    assert trading.escrow(member) == DEPOSIT - 300_000 - 30 * UNIT
    assert credit.balanceOf(member) == 100 * UNIT - DEPOSIT + 30 * UNIT
    assert trading.withdrawals(member) == (0, 0)
    with boa.reverts("P2PTrading: no withdrawal requested"):
        trading.withdraw(sender=member)
    # a request above the escrow pays what is left
    trading.request_withdrawal(100 * UNIT, sender=member)
    boa.env.time_travel(seconds=DAY_S)
    left = DEPOSIT - 300_000 - 30 * UNIT
    assert trading.withdraw(sender=member) == left
    assert trading.escrow(member) == 0
    assert credit.balanceOf(member) == 100 * UNIT - 300_000


# --- settlement ------------------------------------------------------------------------


def test_two_buyers_and_two_sellers_at_a_uniform_price(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
) -> None:
    trades = uniform_trades(members)
    accounts = [m.address for m in members[:4]]
    logs = settle(trading, operator, trades)

    filled = named(logs, "Filled")
    assert [f.maker for f in filled] == accounts
    assert [f.order_hash for f in filled] == [
        signed(trading, e.signer, e.order).message_hash for e in trades
    ]
    assert [(f.start, f.side, f.filled_wh, f.amount, f.fee, f.refund) for f in filled] == [
        (START, BUY, 1_500, 300_000, 0, 0),
        (START, BUY, 500, 100_000, 0, 0),
        (START, SELL, 1_200, 240_000, 0, 0),
        (START, SELL, 800, 160_000, 0, 0),
    ]
    assert [f.delivered_wh for f in filled] == [0, 0, 1_200, 800]
    (done,) = named(logs, "Settled")
    assert (done.start, done.volume_wh, done.buyers_paid, done.sellers_paid) == (
        START,
        2_000,
        400_000,
        400_000,
    )
    assert (done.fees, done.to_fund, done.trades_root) == (0, 0, ROOT)
    assert trading.settled(START)
    assert not trading.settled(START + INTERVAL_S)
    assert trading.settlements(START)[:3] == (ROOT, 2_000, 400_000)
    assert trading.epoch_release_at(EPOCH) == boa.env.evm.patch.timestamp + DAY_S

    # buyers are debited at once, sellers' credit waits for the dispute window
    escrow, pending = balances(trading, [*accounts, operator])
    assert escrow == [DEPOSIT - 300_000, DEPOSIT - 100_000, DEPOSIT, DEPOSIT, 0]
    assert pending == [0, 0, 240_000, 160_000, 0]
    assert_money_is_held(trading, credit, [m.address for m in members] + [operator])
    boa.env.time_travel(seconds=DAY_S - 1)
    with boa.reverts("P2PTrading: dispute window open"):
        trading.release(accounts, EPOCH, sender=members[5].address)

    boa.env.time_travel(seconds=1)
    trading.release(accounts, EPOCH, sender=members[5].address)  # anyone may release
    released = trading.get_logs()
    assert [(r.account, r.epoch, r.amount) for r in released] == [
        (accounts[2], EPOCH, 240_000),
        (accounts[3], EPOCH, 160_000),
    ]
    escrow, pending = balances(trading, accounts)
    assert escrow == [DEPOSIT - 300_000, DEPOSIT - 100_000, DEPOSIT + 240_000, DEPOSIT + 160_000]
    assert pending == [0, 0, 0, 0]
    assert_money_is_held(trading, credit, [m.address for m in members] + [operator])
    trading.release(accounts, EPOCH, sender=operator)  # a second release moves nothing
    assert trading.escrow(accounts[2]) == DEPOSIT + 240_000


def test_the_limits_round_in_the_members_favour(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    """1 Wh at 1_500 micros/kWh: the buyer pays at most ceil(1.5) = 2 and the seller gets
    at least floor(1.5) = 1; the micro-unit between them goes to the fund."""
    now = boa.env.evm.patch.timestamp
    trades = [
        buy(members[0], 1, 2, price=1_500, expiry=now),  # the expiry itself still counts
        sell(members[1], 1, 1, price=1_500),
    ]
    settle(trading, operator, trades)
    assert trading.pending(operator, EPOCH) == 1
    later = {"price": 1_500, "nonce": 1, "first_interval": committed[1]}
    over = [buy(members[0], 1, 3, **later), sell(members[1], 1, 1, **later)]
    with boa.reverts("P2PTrading: buyer pays above its limit"):
        settle(trading, operator, over, committed[1])
    under = [buy(members[0], 1, 2, **later), sell(members[1], 1, 0, **later)]
    with boa.reverts("P2PTrading: seller receives below its limit"):
        settle(trading, operator, under, committed[1])


def test_a_short_seller_is_paid_for_what_it_delivered_and_buyers_are_refunded_pro_rata(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
) -> None:
    trades = [
        buy(members[0], 1_500, 300_000),
        buy(members[1], 700, 140_000),
        sell(members[2], 1_200, 240_000, delivered_wh=1_000),  # paid 200_000
        sell(members[3], 1_000, 200_000, delivered_wh=333),  # paid 66_600
    ]
    logs = settle(trading, operator, trades)
    # withheld 40_000 + 133_400 = 173_400, refunded by 300_000 : 140_000, rounded down
    assert [f.refund for f in named(logs, "Filled")] == [118_227, 55_172, 0, 0]
    (done,) = named(logs, "Settled")
    assert (done.buyers_paid, done.sellers_paid, done.to_fund) == (440_000, 266_600, 1)
    accounts = [m.address for m in members[:4]] + [operator]
    escrow, pending = balances(trading, accounts)
    assert escrow[:2] == [DEPOSIT - 300_000, DEPOSIT - 140_000]
    assert pending == [118_227, 55_172, 200_000, 66_600, 1]
    assert sum(pending) == 440_000
    assert_money_is_held(trading, credit, [m.address for m in members] + [operator])


def test_fees_and_the_spread_go_to_the_fund(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
) -> None:
    trading.set_parameters(10_000, 50, 0, 10_000_000, DAY_S, DAY_S, sender=operator)
    trades = [
        buy(members[0], 1_500, 300_000, price=300_000),  # fee 15_000 + 1_500
        buy(members[1], 500, 125_000, price=250_000),  # pays its limit; fee 5_000 + 625
        sell(members[2], 1_200, 240_000, price=150_000),
        sell(members[3], 800, 160_000, price=100_000),
    ]
    logs = settle(trading, operator, trades)
    assert [f.fee for f in named(logs, "Filled")] == [16_500, 5_625, 0, 0]
    (done,) = named(logs, "Settled")
    assert (done.fees, done.buyers_paid, done.sellers_paid) == (22_125, 447_125, 400_000)
    assert done.to_fund == 22_125 + 25_000
    assert trading.escrow(members[0].address) == DEPOSIT - 316_500
    assert trading.escrow(members[1].address) == DEPOSIT - 130_625
    assert trading.pending(operator, EPOCH) == 47_125
    # a fund named later receives the next settlement's remainder
    trading.set_fund(members[5].address, sender=operator)
    settle(
        trading,
        operator,
        [
            buy(members[0], 1_000, 300_000, nonce=1, first_interval=committed[1]),
            sell(members[2], 1_000, 200_000, nonce=1, first_interval=committed[1]),
        ],
        committed[1],
    )
    assert trading.pending(members[5].address, EPOCH) == 100_000 + 10_000 + 1_500
    assert trading.pending(operator, EPOCH) == 47_125
    boa.env.time_travel(seconds=DAY_S)
    trading.release([operator, members[5].address], EPOCH, sender=operator)
    assert trading.escrow(operator) == 47_125
    assert_money_is_held(trading, credit, [m.address for m in members] + [operator])


def test_buyers_may_fill_less_than_their_order(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    trades = [
        buy(members[0], 400, 80_000, quantity_wh=1_000),
        sell(members[1], 400, 80_000, quantity_wh=2_000),
        buy(members[2], 0, 0, nonce=5),  # in the book, did not trade: its nonce is spent
    ]
    settle(trading, operator, trades)
    assert trading.is_nonce_used(members[2].address, 5)
    assert not trading.is_nonce_used(members[2].address, 4)
    assert trading.escrow(members[2].address) == DEPOSIT


# --- refusals ----------------------------------------------------------------------------


def base(m: list[LocalAccount]) -> list[Entry]:
    """A valid settlement: 1 kWh at 0.20 from m[1] to m[0]."""
    return [buy(m[0], 1_000, 200_000), sell(m[1], 1_000, 200_000)]


Mutation = Callable[[Entry, Entry], list[Entry]]

REFUSED: list[tuple[str, Mutation]] = [
    ("order expired", lambda b, s: [b, s.with_order(expiry=boa.env.evm.patch.timestamp - 1)]),
    ("zero quantity", lambda b, s: [b.with_order(quantity_wh=0), s]),
    ("zero quantity", lambda b, s: [b, s.with_order(intervals=0)]),
    ("interval outside the order", lambda b, s: [b.with_order(first_interval=START + 900), s]),
    ("interval outside the order", lambda b, s: [b.with_order(first_interval=START - 900), s]),
    (
        "interval outside the order",
        lambda b, s: [b, s.with_order(first_interval=START - 1_800, intervals=2)],
    ),
    ("price outside the band", lambda b, s: [b.with_order(price=10_000_001), s]),
    ("bad side", lambda b, s: [b, s.with_order(side=2)]),
    ("overfilled", lambda b, s: [b.with_order(quantity_wh=999), s]),
    ("overfilled", lambda b, s: [b, s.with_order(quantity_wh=999)]),
    ("buyer pays above its limit", lambda b, s: [replace(b, amount=300_001), s]),
    (
        "insufficient escrow",
        lambda b, s: [
            replace(b.with_order(quantity_wh=200_000), filled_wh=200_000, amount=DEPOSIT + 1),
            s,
        ],
    ),
    ("seller receives below its limit", lambda b, s: [b, replace(s, amount=99_999)]),
    ("delivery above sale", lambda b, s: [b, replace(s, delivered_wh=1_001)]),
    ("energy not balanced", lambda b, s: [b, replace(s, filled_wh=999, delivered_wh=999)]),
    ("buyers pay less than sellers receive", lambda b, s: [b, replace(s, amount=200_001)]),
    ("nonce already used", lambda b, s: [b, s, s]),
    ("duplicate order", lambda b, s: [b, s.with_order(intervals=4), s.with_order(intervals=4)]),
]


@pytest.mark.parametrize(("reason", "mutate"), REFUSED)
def test_fills_beyond_the_signed_orders_are_refused(
    trading: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
    reason: str,
    mutate: Mutation,
) -> None:
    entries = mutate(*base(members))
    with boa.reverts(f"P2PTrading: {reason}"):
        settle(trading, operator, entries)
    assert not trading.settled(START)
    assert trading.escrow(members[0].address) == DEPOSIT
    settle(trading, operator, base(members))  # the unmutated settlement goes through
    assert trading.escrow(members[0].address) == DEPOSIT - 200_000


def test_the_price_band_bounds_both_sides(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    trading.set_parameters(0, 0, 100_001, 200_000, DAY_S, DAY_S, sender=operator)
    bid = buy(members[0], 1_000, 200_000, price=200_000)
    with boa.reverts("P2PTrading: price outside the band"):  # the sell at 100_000
        settle(trading, operator, [bid, sell(members[1], 1_000, 200_000, price=100_000)])
    with boa.reverts("P2PTrading: price outside the band"):  # the buy at 200_001
        settle(
            trading,
            operator,
            [bid.with_order(price=200_001), sell(members[1], 1_000, 200_000, price=100_001)],
        )
    settle(trading, operator, [bid, sell(members[1], 1_000, 200_000, price=100_001)])


def test_bad_signatures_are_refused(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    b, s = base(members)
    good = signed(trading, b.signer, b.order).signature
    r, s_value, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    high_s = r + (SECP256K1N - s_value).to_bytes(32, "big") + bytes([55 - v])
    other = signed(trading, members[2], b.order).signature
    sell_signature = signed(trading, s.signer, s.order).signature
    cases: list[tuple[Entry, bytes]] = [
        (b, other),  # signed by someone else
        (b, high_s),  # the malleable twin of a valid signature
        (b, good[:64] + bytes([v - 27])),  # v as 0/1
        (b, good[:64]),  # 64 bytes
        (b, b""),
        (b.with_order(price=300_001), good),  # changed after signing
        (b.with_order(maker="0x" + "00" * 20), bytes(64) + b"\x1b"),  # ecrecover fails
    ]
    for entry, signature in cases:
        with boa.reverts("P2PTrading: bad signature"):
            settle(trading, operator, [entry, s], signatures=[signature, sell_signature])
    settle(trading, operator, [b, s], signatures=[good, sell_signature])


def test_inactive_makers_are_refused(
    trading: Any, registry: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    registry.set_suspended(members[1].address, True, sender=operator)
    with boa.reverts("P2PTrading: maker is not an active participant"):
        settle(trading, operator, base(members))
    registry.set_suspended(members[1].address, False, sender=operator)
    settle(trading, operator, base(members))


def test_interval_checks(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.settle(START, [], [], [], ROOT, sender=members[0].address)
    with boa.reverts("P2PTrading: misaligned interval"):
        settle(trading, operator, [], START + 1)
    with boa.reverts("P2PTrading: interval not committed"):
        settle(trading, operator, [], START + 4 * INTERVAL_S)
    entries = base(members)
    signatures = [signed(trading, e.signer, e.order).signature for e in entries]
    with boa.reverts("P2PTrading: length mismatch"):
        settle(trading, operator, entries, signatures=signatures[:1])
    with boa.reverts("P2PTrading: length mismatch"):
        trading.settle(
            START,
            [e.order.as_tuple() for e in entries],
            signatures,
            [(1_000, 200_000, 0)],
            ROOT,
            sender=operator,
        )
    settle(trading, operator, [])  # an interval without trades settles too
    with boa.reverts("P2PTrading: interval already settled"):
        settle(trading, operator, entries)


# --- nonces, standing orders, cancellation ---------------------------------------------


def test_a_standing_order_fills_in_several_intervals_but_its_nonce_in_no_other_order(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    buyer, seller = members[0], members[1]
    standing = buy(buyer, 500, 100_000, nonce=7, intervals=3, quantity_wh=1_000, kind=2)
    digest = signed(trading, buyer, standing.order).message_hash
    settle(trading, operator, [standing, sell(seller, 500, 100_000, nonce=1)], committed[0])
    assert trading.order_of_nonce(buyer.address, 7) == digest
    assert trading.is_nonce_used(buyer.address, 7)
    full = replace(standing, filled_wh=1_000, amount=200_000)
    second = sell(seller, 1_000, 200_000, nonce=2, first_interval=committed[1])
    settle(trading, operator, [full, second], committed[1])
    assert trading.escrow(buyer.address) == DEPOSIT - 300_000
    # the same nonce in a different order (another price), standing or spot
    third = sell(seller, 1_000, 200_000, nonce=3, first_interval=committed[2])
    spot = full.with_order(intervals=1, first_interval=committed[2])
    for other in (full.with_order(price=300_001), spot):
        with boa.reverts("P2PTrading: nonce already used"):
            settle(trading, operator, [other, third], committed[2])
    # beyond its three intervals
    late = [full, sell(seller, 1_000, 200_000, nonce=3, first_interval=committed[3])]
    with boa.reverts("P2PTrading: interval outside the order"):
        settle(trading, operator, late, committed[3])
    # a standing order cannot take a nonce a spot order used
    spot_then_standing = buy(seller, 0, 0, nonce=1, first_interval=committed[2], intervals=2)
    with boa.reverts("P2PTrading: nonce already used"):
        settle(trading, operator, [spot_then_standing], committed[2])


def test_cancelled_orders_never_settle(
    trading: Any, operator: str, members: list[LocalAccount], committed: list[int]
) -> None:
    buyer, seller = members[0], members[1]
    standing = buy(buyer, 500, 100_000, nonce=7, intervals=4)
    settle(trading, operator, [standing, sell(seller, 500, 100_000, nonce=1)], committed[0])
    assert not trading.is_nonce_used(buyer.address, 3)
    trading.cancel([3, 7, 300], sender=buyer.address)
    cancelled = trading.get_logs()
    assert [(c.maker, c.nonce) for c in cancelled] == [(buyer.address, n) for n in (3, 7, 300)]
    assert trading.is_nonce_used(buyer.address, 3)
    assert trading.is_nonce_used(buyer.address, 300)
    assert trading.cancelled(buyer.address, 7)
    later = {"first_interval": committed[1]}
    matched = sell(seller, 500, 100_000, nonce=2, **later)
    spot = buy(buyer, 500, 100_000, nonce=3, **later)
    unused_standing = buy(buyer, 500, 100_000, nonce=300, intervals=2, **later)
    for order in (standing, spot, unused_standing):
        with boa.reverts("P2PTrading: order cancelled"):
            settle(trading, operator, [order, matched], committed[1])
    # another member's orders with the same nonces are unaffected
    settle(
        trading, operator, [buy(members[2], 500, 100_000, nonce=3, **later), matched], committed[1]
    )


# --- disputes ---------------------------------------------------------------------------


def test_a_dispute_freezes_the_day_until_the_operator_resolves_it(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    accounts: list[str],
    committed: list[int],
) -> None:
    settle(trading, operator, uniform_trades(members))
    buyer, seller = members[1].address, members[2].address
    with boa.reverts("P2PTrading: caller is not an active participant"):
        trading.dispute(START, "not a member", sender=accounts[5])
    with boa.reverts("P2PTrading: not settled"):
        trading.dispute(START + INTERVAL_S, "never settled", sender=buyer)
    with boa.reverts("P2PTrading: not disputed"):
        trading.resolve(START, [], [], [], "nothing", sender=operator)
    trading.dispute(START, "my meter shows 300 Wh", sender=buyer)
    (event,) = trading.get_logs()
    assert (event.start, event.by, event.reason) == (START, buyer, "my meter shows 300 Wh")
    assert trading.epoch_disputes(EPOCH) == 1
    assert trading.settlements(START)[4]  # disputed
    with boa.reverts("P2PTrading: already disputed"):
        trading.dispute(START, "again", sender=members[0].address)

    boa.env.time_travel(seconds=DAY_S)
    with boa.reverts("P2PTrading: epoch disputed"):
        trading.release([seller], EPOCH, sender=operator)
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.resolve(START, [], [], [], "", sender=buyer)
    with boa.reverts("P2PTrading: length mismatch"):
        trading.resolve(START, [seller], [1], [], "", sender=operator)
    with boa.reverts("P2PTrading: resolution must conserve money"):
        trading.resolve(START, [seller, buyer], [40_000, 0], [0, 40_001], "", sender=operator)
    with boa.reverts("P2PTrading: debit above pending"):
        trading.resolve(START, [buyer, seller], [1, 0], [0, 1], "", sender=operator)
    trading.resolve(
        START, [seller, buyer], [40_000, 0], [0, 40_000], "refund 200 Wh", sender=operator
    )
    (event,) = trading.get_logs()
    assert (event.start, event.moved, event.note) == (START, 40_000, "refund 200 Wh")
    assert trading.epoch_disputes(EPOCH) == 0
    assert not trading.settlements(START)[4]
    trading.release([buyer, seller], EPOCH, sender=operator)
    assert trading.escrow(buyer) == DEPOSIT - 100_000 + 40_000
    assert trading.escrow(seller) == DEPOSIT + 200_000
    with boa.reverts("P2PTrading: dispute window closed"):
        trading.dispute(START, "too late", sender=buyer)
    assert_money_is_held(trading, credit, [m.address for m in members] + [operator])


# --- money conservation -----------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    side: int
    member: int
    price: int
    quantity_wh: int
    filled_wh: int
    amount: int
    delivered_wh: int


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[Leg], int, int]:
    """Fills a clearing at `price` could produce: every buyer at or below, every seller at
    or above its limit, energy balanced, sellers delivering any part of their sale."""
    price = draw(st.integers(0, 1_000_000))
    member = st.integers(0, 5)
    sells_wh = draw(st.lists(st.integers(0, 2_500), min_size=1, max_size=4))
    total = sum(sells_wh)
    n_buys = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=n_buys - 1, max_size=n_buys - 1)))
    buys_wh = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    legs = []
    for wh in buys_wh:
        limit = draw(st.integers(price, 1_500_000))
        amount = draw(st.integers(ceil_div(wh * price, 1000), ceil_div(wh * limit, 1000)))
        quantity = wh + draw(st.integers(0 if wh else 1, 100))
        legs.append(Leg(BUY, draw(member), limit, quantity, wh, amount, 0))
    for wh in sells_wh:
        limit = draw(st.integers(0, price))
        amount = draw(st.integers(wh * limit // 1000, wh * price // 1000))
        quantity = wh + draw(st.integers(0 if wh else 1, 100))
        legs.append(Leg(SELL, draw(member), limit, quantity, wh, amount, draw(st.integers(0, wh))))
    fee_per_kwh = draw(st.integers(0, 50_000))
    fee_bps = draw(st.integers(0, 1_000))
    return draw(st.permutations(legs)), fee_per_kwh, fee_bps


def expected_credits(
    legs: list[Leg], fee_per_kwh: int, fee_bps: int, members: list[str], fund: str
) -> tuple[Counter[str], Counter[str]]:
    """Debits and pending credits per account, by the rules written out in the contract."""
    debits: Counter[str] = Counter()
    credits: Counter[str] = Counter()
    buy_total = sum(leg.amount for leg in legs if leg.side == BUY)
    withheld = 0
    for leg in legs:
        if leg.side == SELL:
            paid = leg.amount
            if leg.delivered_wh < leg.filled_wh:
                paid = leg.amount * leg.delivered_wh // leg.filled_wh
            withheld += leg.amount - paid
            credits[members[leg.member]] += paid
    for leg in legs:
        if leg.side == BUY:
            fee = ceil_div(leg.filled_wh * fee_per_kwh, 1000) + ceil_div(
                leg.amount * fee_bps, 10_000
            )
            debits[members[leg.member]] += leg.amount + fee
            credits[members[leg.member]] += withheld * leg.amount // buy_total if withheld else 0
    credits[fund] += sum(debits.values()) - sum(credits.values())
    return debits, credits


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(market=markets())
def test_fuzz_settlement_conserves_money(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed: list[int],
    market: tuple[list[Leg], int, int],
) -> None:
    """Whatever the fills, every micro-unit debited from buyers is credited to someone."""
    legs, fee_per_kwh, fee_bps = market
    addresses = [m.address for m in members]
    everyone = [*addresses, operator]
    with boa.env.anchor():
        trading.set_parameters(fee_per_kwh, fee_bps, 0, 10_000_000, DAY_S, DAY_S, sender=operator)
        entries = [
            Entry(
                Order(
                    addresses[leg.member],
                    leg.side,
                    quantity_wh=leg.quantity_wh,
                    price=leg.price,
                    nonce=n,
                ),
                members[leg.member],
                leg.filled_wh,
                leg.amount,
                leg.delivered_wh,
            )
            for n, leg in enumerate(legs)
        ]
        before = [trading.escrow(a) for a in everyone]
        logs = settle(trading, operator, entries)
        escrow, pending = balances(trading, everyone)
        debited = sum(before) - sum(escrow)
        (done,) = named(logs, "Settled")
        # conservation: debits from escrow == credits to pending, exactly
        assert debited == sum(pending) == done.buyers_paid
        assert (
            done.buyers_paid
            == done.sellers_paid + sum(f.refund for f in named(logs, "Filled")) + done.to_fund
        )
        assert_money_is_held(trading, credit, everyone)
        # and each account's share is what the rules say
        debits, credits = expected_credits(legs, fee_per_kwh, fee_bps, addresses, operator)
        assert [b - e for b, e in zip(before, escrow, strict=True)] == [debits[a] for a in everyone]
        assert pending == [credits[a] for a in everyone]
        # no buyer pays above, no seller receives below its limit
        for leg in legs:
            if leg.side == BUY:
                assert leg.amount <= ceil_div(leg.filled_wh * leg.price, 1000)
            else:
                assert leg.amount >= leg.filled_wh * leg.price // 1000
        boa.env.time_travel(seconds=DAY_S)
        trading.release(everyone, EPOCH, sender=operator)
        assert sum(trading.escrow(a) for a in everyone) == 6 * DEPOSIT


# --- gas ----------------------------------------------------------------------------------


def test_gas_of_settlement() -> None:
    """Gas of settling 100 buy and 100 sell spot orders by 200 members, in the first
    interval of a day (fresh pending slots) and in the next one."""
    count = 100
    with boa.swap_env(boa.Env()):
        operator = str(boa.env.generate_address("operator"))
        registry = deploy("ParticipantRegistry", sender=operator)
        credit = deploy("CommunityCredit", registry.address, sender=operator)
        monitoring = deploy("EnergyMonitoring", registry.address, INTERVAL_S, sender=operator)
        trading = deploy(
            "P2PTrading",
            registry.address,
            credit.address,
            monitoring.address,
            operator,
            sender=operator,
        )
        credit.set_trusted(trading.address, True, sender=operator)
        keyed = [Account.from_key(keccak(text=f"gas-member-{i}")) for i in range(2 * count)]
        registry.register_batch(
            [m.address for m in keyed], [ROLE_PROSUMER] * 2 * count, sender=operator
        )
        buyers, sellers = keyed[:count], keyed[count:]
        for i, member in enumerate(buyers):
            credit.mint(member.address, 10 * UNIT, i.to_bytes(32, "big"), sender=operator)
            credit.approve(trading.address, 2**256 - 1, sender=member.address)
            trading.deposit(10 * UNIT, sender=member.address)
        commit(monitoring, operator, START, START + INTERVAL_S)
        gas = []
        for n, start in enumerate((START, START + INTERVAL_S)):
            spot = {"nonce": n, "first_interval": start}
            entries = [buy(b, 1_000 + i, 200_000 + 200 * i, **spot) for i, b in enumerate(buyers)]
            entries += [
                sell(s, 1_000 + i, 200_000 + 200 * i, **spot) for i, s in enumerate(sellers)
            ]
            signatures = [signed(trading, e.signer, e.order).signature for e in entries]
            gas.append(
                transaction_gas(
                    trading.settle,
                    start,
                    [e.order.as_tuple() for e in entries],
                    signatures,
                    [(e.filled_wh, e.amount, e.delivered_wh) for e in entries],
                    ROOT,
                    sender=operator,
                )
            )
        assert trading.settled(START + INTERVAL_S)
        assert trading.pending(sellers[-1].address, EPOCH) == 2 * (200_000 + 200 * (count - 1))
    print(
        f"\ngas: settle of {count} buys + {count} sells: {gas[0]} in the first interval of a "
        f"day ({gas[0] // (2 * count)}/order), {gas[1]} in the next ({gas[1] // (2 * count)}/order)"
    )
    assert max(gas) < 30_000_000
