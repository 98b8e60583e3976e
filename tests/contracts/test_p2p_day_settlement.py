"""P2PTrading's daily batch settlement: one transaction moves a day's net debits and
credits and commits to a Merkle root over the day's fills; a fill that breaks its signed
order is caught afterwards with a proof (`challenge_fill`) and freezes the day's release
until the operator resolves it.

Leaves are computed here independently (eth_account's EIP-712 digest, eth_abi, keccak) and
the tree is built with gridshare.metering.merkle, the builder the app uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any

import boa
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.metering.merkle import MerkleTree, verify_proof
from tests.contracts.conftest import INTERVAL_S, ROLE_PROSUMER, deploy, transaction_gas
from tests.contracts.test_p2p_trading import (
    BUY,
    DAY_S,
    DEPOSIT,
    EPOCH,
    ORDER_TYPES,
    SECP256K1N,
    SELL,
    START,
    UNIT,
    Entry,
    Leg,
    Order,
    buy,
    ceil_div,
    commit,
    domain,
    expected_credits,
    markets,
    named,
    sell,
    settle,
    signed,
)

LAST = START + DAY_S - INTERVAL_S  # the day's last interval: settle_day needs it committed
SECOND, THIRD = START + INTERVAL_S, START + 2 * INTERVAL_S
FEES = (10_000, 50)  # fee_per_kwh, fee_bps
BAND = (50_000, 400_000)  # min_price, max_price


@dataclass(frozen=True)
class DayFill:
    """One order's fill in one interval of a batch-settled day (the contract's DayFill)."""

    order: Order
    signature: bytes
    start: int
    filled_wh: int
    amount: int
    fee: int = 0
    delivered_wh: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.order.as_tuple(), *astuple(self)[1:])


def digest_of(trading: Any, order: Order) -> bytes:
    """The order's EIP-712 digest, by eth_account's encoder rather than the contract's."""
    message = dict(zip(Order.__dataclass_fields__, order.as_tuple(), strict=True))
    signable = encode_typed_data(domain(trading), {"Order": ORDER_TYPES}, message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def leaf_of(trading: Any, fill: DayFill) -> bytes:
    """keccak256(abi.encode(digest, start, filled, amount, fee, delivered, keccak(sig)))."""
    return keccak(
        encode(
            ["bytes32", "uint256", "uint64", "uint256", "uint256", "uint64", "bytes32"],
            [
                digest_of(trading, fill.order),
                fill.start,
                fill.filled_wh,
                fill.amount,
                fill.fee,
                fill.delivered_wh,
                keccak(fill.signature),
            ],
        )
    )


def fee_of(filled_wh: int, amount: int, fees: tuple[int, int]) -> int:
    return ceil_div(filled_wh * fees[0], 1000) + ceil_div(amount * fees[1], 10_000)


def fill_of(
    trading: Any, entry: Entry, start: int, fees: tuple[int, int] = (0, 0), **changes: Any
) -> DayFill:
    """The fill of a signed entry as an honest operator records it, then `changes`."""
    is_buy = entry.order.side == BUY
    fill = DayFill(
        entry.order,
        signed(trading, entry.signer, entry.order).signature,
        start,
        entry.filled_wh,
        entry.amount,
        fee_of(entry.filled_wh, entry.amount, fees) if is_buy else 0,
        0 if is_buy else entry.delivered_wh,
    )
    return replace(fill, **changes)


def build_day(
    trading: Any,
    intervals: dict[int, list[Entry]],
    fund: str,
    fees: tuple[int, int] = (0, 0),
) -> tuple[list[DayFill], Counter[str], Counter[str], int]:
    """Fills, debits, credits and volume of a day, by the rules `settle` applies per
    interval: a buyer pays amount + fee, a short seller is paid pro rata to delivery, the
    withheld rest is refunded to the interval's buyers pro rata (rounded down) and every
    remainder goes to the fund."""
    fills: list[DayFill] = []
    debits: Counter[str] = Counter()
    credits: Counter[str] = Counter()
    volume = 0
    for start, entries in intervals.items():
        buys = [e for e in entries if e.order.side == BUY]
        sells = [e for e in entries if e.order.side == SELL]
        buy_total = sum(e.amount for e in buys)
        withheld = 0
        paid_in = 0
        paid_out = 0
        for e in sells:
            paid = e.amount
            if e.delivered_wh < e.filled_wh:
                paid = e.amount * e.delivered_wh // e.filled_wh
            withheld += e.amount - paid
            credits[e.order.maker] += paid
            paid_out += paid
        for e in buys:
            cost = e.amount + fee_of(e.filled_wh, e.amount, fees)
            debits[e.order.maker] += cost
            paid_in += cost
            refund = withheld * e.amount // buy_total if withheld else 0
            credits[e.order.maker] += refund
            paid_out += refund
            volume += e.filled_wh
        credits[fund] += paid_in - paid_out
        fills += [fill_of(trading, e, start, fees) for e in entries]
    return fills, debits, credits, volume


def honest_day(
    trading: Any, m: list[LocalAccount], fund: str, fees: tuple[int, int] = (0, 0)
) -> tuple[list[DayFill], Counter[str], Counter[str], int]:
    """Nine fills in three intervals: a short seller, a standing order filled twice, a
    member both buying and selling, an order in the book that did not trade."""
    standing = {"nonce": 7, "intervals": 2, "first_interval": SECOND, "quantity_wh": 1_000}
    intervals = {
        START: [
            buy(m[0], 1_500, 300_000, price=300_000),
            buy(m[1], 500, 100_000, price=250_000),
            sell(m[2], 1_200, 240_000, price=150_000),
            sell(m[3], 800, 160_000, delivered_wh=600, price=100_000),
        ],
        SECOND: [
            buy(m[4], 1_000, 250_000, price=300_000, **standing),
            sell(m[2], 1_000, 200_000, nonce=1, first_interval=SECOND),
        ],
        THIRD: [
            buy(m[4], 400, 100_000, price=300_000, **standing),
            sell(m[5], 400, 80_000, first_interval=THIRD),
            buy(m[0], 0, 0, nonce=1, first_interval=THIRD),
        ],
    }
    return build_day(trading, intervals, fund, fees)


def tree_of(trading: Any, fills: Iterable[DayFill]) -> MerkleTree:
    return MerkleTree.build([leaf_of(trading, f) for f in fills])


def settle_day(
    trading: Any,
    operator: str,
    debits: Counter[str],
    credits: Counter[str],
    root: bytes,
    volume_wh: int = 0,
    day: int = EPOCH,
) -> list[Any]:
    """Call settle_day with one entry per account (in first-seen order) but the fund (the
    operator), whose share the contract computes as the rest; returns the logs."""
    accounts = [a for a in dict.fromkeys([*debits, *credits]) if a != operator]
    trading.settle_day(
        day,
        accounts,
        [debits[a] for a in accounts],
        [credits[a] for a in accounts],
        root,
        volume_wh,
        sender=operator,
    )
    logs = list(trading.get_logs())
    (done,) = named(logs, "DaySettled")
    assert done.to_fund == credits[operator]
    return logs


def challenge(trading: Any, tree: MerkleTree, fill: DayFill, sender: str) -> list[Any]:
    leaf = leaf_of(trading, fill)
    trading.challenge_fill(EPOCH, fill.as_tuple(), tree.proof(leaf), sender=sender)
    return list(trading.get_logs())


def everyone(members: Sequence[LocalAccount], operator: str) -> list[str]:
    return [*(m.address for m in members), operator]


def assert_money_is_held(trading: Any, credit: Any, accounts: Sequence[str]) -> None:
    held = sum(trading.escrow(a) + trading.pending(a, EPOCH) for a in accounts)
    assert credit.balanceOf(trading.address) == held


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
def committed_day(monitoring: Any, operator: str) -> None:
    """The three traded intervals and the day's last interval are committed."""
    commit(monitoring, operator, START, SECOND, THIRD, LAST)


# --- leaves and the tree ----------------------------------------------------------------


def test_fill_leaf_is_the_abi_encoding_of_the_fill(
    trading: Any, operator: str, members: list[LocalAccount]
) -> None:
    fills, *_ = honest_day(trading, members, operator, FEES)
    extreme = fill_of(
        trading,
        buy(members[0], 2**64 - 1, 2**256 - 1, price=2**64 - 1, quantity_wh=2**64 - 1),
        2**64 - 1,
        fee=2**256 - 1,
        delivered_wh=2**64 - 1,
    )
    for fill in [*fills, extreme]:
        assert trading.fill_leaf(fill.as_tuple()) == leaf_of(trading, fill)
        assert trading.order_digest(fill.order.as_tuple()) == digest_of(trading, fill.order)
    # every field is in the leaf, the signature included
    base = fills[0]
    changed = [
        replace(base, start=base.start + 1),
        replace(base, filled_wh=base.filled_wh + 1),
        replace(base, amount=base.amount + 1),
        replace(base, fee=base.fee + 1),
        replace(base, delivered_wh=1),
        replace(base, order=replace(base.order, terms=b"\x01" * 32)),
        replace(base, signature=fills[1].signature),
    ]
    leaves = {trading.fill_leaf(f.as_tuple()) for f in [base, *changed]}
    assert len(leaves) == len(changed) + 1


# --- settle_day and release ---------------------------------------------------------------


def test_a_day_settles_in_one_batch_and_releases_after_the_window(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
) -> None:
    trading.set_parameters(*FEES, *BAND, DAY_S, DAY_S, sender=operator)
    fills, debits, credits, volume = honest_day(trading, members, operator, FEES)
    tree = tree_of(trading, fills)
    assert len(tree) == 9  # odd: the builder carries the last node up unchanged
    accounts = everyone(members, operator)
    before = [trading.escrow(a) for a in accounts]

    logs = settle_day(trading, operator, debits, credits, tree.root, volume)

    (done,) = named(logs, "DaySettled")
    debited, credited = sum(debits.values()), sum(credits.values()) - credits[operator]
    assert (done.day, done.fills_root, done.volume_wh) == (EPOCH, tree.root, 3_400)
    assert (done.debited, done.credited, done.to_fund) == (
        debited,
        credited,
        credits[operator],
    )
    assert debited == credited + credits[operator]
    release_at = boa.env.evm.patch.timestamp + DAY_S
    assert trading.day_settlements(EPOCH) == (
        tree.root,
        3_400,
        debited,
        release_at,
        False,
        *FEES,
        *BAND,
    )
    assert trading.epoch_release_at(EPOCH) == release_at
    assert not trading.day_has_intervals(EPOCH)
    # buyers are debited at once, credits wait in pending for the window
    assert [b - trading.escrow(a) for a, b in zip(accounts, before, strict=True)] == [
        debits[a] for a in accounts
    ]
    assert [trading.pending(a, EPOCH) for a in accounts] == [credits[a] for a in accounts]
    assert_money_is_held(trading, credit, accounts)

    boa.env.time_travel(seconds=DAY_S - 1)
    with boa.reverts("P2PTrading: dispute window open"):
        trading.release(accounts, EPOCH, sender=members[5].address)
    boa.env.time_travel(seconds=1)
    trading.release(accounts, EPOCH, sender=members[5].address)
    expected = [b - debits[a] + credits[a] for a, b in zip(accounts, before, strict=True)]
    assert [trading.escrow(a) for a in accounts] == expected
    assert [trading.pending(a, EPOCH) for a in accounts] == [0] * 7
    assert sum(trading.escrow(a) for a in accounts) == 6 * DEPOSIT
    assert_money_is_held(trading, credit, accounts)


def test_batch_and_per_interval_settlement_leave_the_same_balances(
    trading: Any, operator: str, members: list[LocalAccount], committed_day: None
) -> None:
    """The net a batch moves is exactly what settling the intervals one by one moves."""
    trading.set_parameters(*FEES, *BAND, DAY_S, DAY_S, sender=operator)
    accounts = everyone(members, operator)
    fills, debits, credits, volume = honest_day(trading, members, operator, FEES)
    with boa.env.anchor():
        settle_day(trading, operator, debits, credits, tree_of(trading, fills).root, volume)
        batch = [(trading.escrow(a), trading.pending(a, EPOCH)) for a in accounts]
    by_start: dict[int, list[DayFill]] = {}
    for fill in fills:
        by_start.setdefault(fill.start, []).append(fill)
    for start, day_fills in by_start.items():
        trading.settle(
            start,
            [f.order.as_tuple() for f in day_fills],
            [f.signature for f in day_fills],
            [(f.filled_wh, f.amount, f.delivered_wh) for f in day_fills],
            b"\x5a" * 32,
            sender=operator,
        )
        assert [f.fee for f in named(trading.get_logs(), "Filled")] == [f.fee for f in day_fills]
    assert [(trading.escrow(a), trading.pending(a, EPOCH)) for a in accounts] == batch


def test_a_day_without_trades_and_a_zero_window(
    trading: Any, operator: str, members: list[LocalAccount], committed_day: None
) -> None:
    trading.set_parameters(0, 0, 0, 10_000_000, 0, DAY_S, sender=operator)
    logs = settle_day(trading, operator, Counter(), Counter(), bytes(32))
    (done,) = named(logs, "DaySettled")
    assert (done.debited, done.credited, done.to_fund) == (0, 0, 0)
    assert trading.day_settlements(EPOCH)[3] == boa.env.evm.patch.timestamp
    trading.release([operator], EPOCH, sender=operator)  # the window is already over
    with boa.reverts("P2PTrading: dispute window closed"):
        trading.dispute_day(EPOCH, "too late", sender=members[0].address)


# --- refusals -----------------------------------------------------------------------------


def test_settle_day_refusals(
    trading: Any,
    monitoring: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
) -> None:
    a, b = members[0].address, members[1].address
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.settle_day(EPOCH, [], [], [], bytes(32), 0, sender=a)
    with boa.reverts("P2PTrading: day not committed"):  # the next day's last interval
        trading.settle_day(EPOCH + 1, [], [], [], bytes(32), 0, sender=operator)
    commit(monitoring, operator, LAST + DAY_S - INTERVAL_S)  # the next day's second last
    with boa.reverts("P2PTrading: day not committed"):
        trading.settle_day(EPOCH + 1, [], [], [], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: length mismatch"):
        trading.settle_day(EPOCH, [a], [1], [], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: length mismatch"):
        trading.settle_day(EPOCH, [a], [], [1], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: credits exceed debits"):
        trading.settle_day(EPOCH, [a, b], [100, 0], [50, 51], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: insufficient escrow"):
        trading.settle_day(EPOCH, [a, b], [DEPOSIT + 1, 0], [0, 1], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: insufficient escrow"):  # a repeated account, in total
        trading.settle_day(EPOCH, [a, a], [DEPOSIT, 1], [0, 0], bytes(32), 0, sender=operator)
    assert trading.escrow(a) == DEPOSIT
    trading.settle_day(EPOCH, [a, b], [100, 0], [50, 50], bytes(32), 0, sender=operator)
    with boa.reverts("P2PTrading: day already settled"):
        trading.settle_day(EPOCH, [], [], [], bytes(32), 0, sender=operator)


def test_a_day_settles_in_one_mode_only(
    trading: Any, operator: str, members: list[LocalAccount], committed_day: None
) -> None:
    entries = [buy(members[0], 1_000, 200_000), sell(members[1], 1_000, 200_000)]
    with boa.env.anchor():
        settle_day(trading, operator, Counter(), Counter(), bytes(32))
        with boa.reverts("P2PTrading: day settled in batch"):
            settle(trading, operator, entries)
        with boa.reverts("P2PTrading: day settled in batch"):
            settle(trading, operator, [], LAST)
    settle(trading, operator, [], LAST)  # an interval without trades marks the day too
    assert trading.day_has_intervals(EPOCH)
    assert not trading.day_has_intervals(EPOCH + 1)
    with boa.reverts("P2PTrading: day has interval settlements"):
        settle_day(trading, operator, Counter(), Counter(), bytes(32))
    settle(trading, operator, entries)  # the day goes on settling per interval
    with boa.reverts("P2PTrading: day not settled in batch"):
        trading.dispute_day(EPOCH, "per interval", sender=members[0].address)


def test_challenge_refusals(
    trading: Any,
    registry: Any,
    operator: str,
    members: list[LocalAccount],
    accounts: list[str],
    committed_day: None,
) -> None:
    fills, debits, credits, volume = honest_day(trading, members, operator)
    tree = tree_of(trading, fills)
    fill, challenger = fills[0], members[5].address
    proof = tree.proof(leaf_of(trading, fill))
    with boa.reverts("P2PTrading: day not settled in batch"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), proof, sender=challenger)
    settle_day(trading, operator, debits, credits, tree.root, volume)
    with boa.reverts("P2PTrading: caller is not an active participant"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), proof, sender=accounts[0])
    registry.set_suspended(challenger, True, sender=operator)
    with boa.reverts("P2PTrading: caller is not an active participant"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), proof, sender=challenger)
    with boa.reverts("P2PTrading: caller is not an active participant"):
        trading.dispute_day(EPOCH, "", sender=challenger)
    registry.set_suspended(challenger, False, sender=operator)
    # a fill that is not in the root, or a proof that does not lead to it
    with boa.reverts("P2PTrading: fill not in the settlement"):
        trading.challenge_fill(EPOCH, replace(fill, amount=1).as_tuple(), proof, sender=challenger)
    with boa.reverts("P2PTrading: fill not in the settlement"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), proof[1:], sender=challenger)
    with boa.reverts("P2PTrading: fill not in the settlement"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), [], sender=challenger)
    with boa.reverts("P2PTrading: day not settled in batch"):
        trading.challenge_fill(EPOCH + 1, fill.as_tuple(), proof, sender=challenger)
    boa.env.time_travel(seconds=DAY_S)
    with boa.reverts("P2PTrading: dispute window closed"):
        trading.challenge_fill(EPOCH, fill.as_tuple(), proof, sender=challenger)
    with boa.reverts("P2PTrading: dispute window closed"):
        trading.dispute_day(EPOCH, "too late", sender=challenger)


def test_valid_fills_cannot_be_challenged_even_after_the_fees_change(
    trading: Any, operator: str, members: list[LocalAccount], committed_day: None
) -> None:
    """Every fill of an honest day proves (the odd leaf carried up included) and passes;
    a failed challenge changes nothing. Fills are checked against the fees and band in
    force at settlement, not against later ones."""
    trading.set_parameters(*FEES, *BAND, DAY_S, DAY_S, sender=operator)
    fills, debits, credits, volume = honest_day(trading, members, operator, FEES)
    tree = tree_of(trading, fills)
    settle_day(trading, operator, debits, credits, tree.root, volume)
    trading.set_parameters(0, 0, 250_000, 260_000, DAY_S, DAY_S, sender=operator)
    for fill in fills:
        proof = tree.proof(leaf_of(trading, fill))
        assert verify_proof(leaf_of(trading, fill), proof, tree.root)
        with boa.reverts("P2PTrading: fill is valid"):
            trading.challenge_fill(EPOCH, fill.as_tuple(), proof, sender=members[5].address)
    assert len(tree.levels) == 5
    assert trading.epoch_disputes(EPOCH) == 0
    assert not trading.day_settlements(EPOCH)[4]


# --- a dishonest operator is caught -----------------------------------------------------

BadFill = Callable[[Any, list[LocalAccount]], DayFill]


def _forged(trading: Any, m: list[LocalAccount]) -> DayFill:
    """m[0]'s order, signed by m[5]."""
    entry = buy(m[0], 1_000, 300_000, price=300_000, nonce=9)
    return fill_of(
        trading, entry, START, FEES, signature=signed(trading, m[5], entry.order).signature
    )


def _malleable(trading: Any, m: list[LocalAccount]) -> DayFill:
    """A valid signature's high-s twin, which ecrecover accepts but the contract must not."""
    fill = fill_of(trading, buy(m[0], 1_000, 300_000, price=300_000, nonce=9), START, FEES)
    r, s, v = fill.signature[:32], int.from_bytes(fill.signature[32:64], "big"), fill.signature[64]
    return replace(fill, signature=r + (SECP256K1N - s).to_bytes(32, "big") + bytes([55 - v]))


def _fill(
    entry: Callable[[list[LocalAccount]], Entry], start: int = START, **changes: Any
) -> BadFill:
    return lambda trading, m: fill_of(trading, entry(m), start, FEES, **changes)


BAD_FILLS: list[tuple[str, BadFill]] = [
    ("overfilled", _fill(lambda m: buy(m[0], 1_200, 240_000, quantity_wh=1_000, nonce=9))),
    ("overfilled", _fill(lambda m: sell(m[2], 1_200, 240_000, quantity_wh=1_000, nonce=9))),
    (
        "buyer pays above its limit",
        _fill(lambda m: buy(m[0], 1_000, 300_001, price=300_000, nonce=9)),
    ),
    ("bad signature", _forged),
    ("bad signature", _malleable),
    ("bad signature", _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9), signature=b"")),
    ("wrong fee", _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9), fee=10_000 + 1_500 + 1)),
    ("wrong fee", _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9), fee=0)),
    ("wrong fee", _fill(lambda m: sell(m[2], 1_000, 100_000, nonce=9), fee=1)),
    (
        "seller receives below its limit",
        _fill(lambda m: sell(m[2], 1_000, 99_999, price=100_000, nonce=9)),
    ),
    (
        "delivery above sale",
        _fill(lambda m: sell(m[2], 1_000, 100_000, nonce=9), delivered_wh=1_001),
    ),
    ("price outside the band", _fill(lambda m: buy(m[0], 1_000, 300_000, price=400_001, nonce=9))),
    ("price outside the band", _fill(lambda m: sell(m[2], 1_000, 100_000, price=49_999, nonce=9))),
    (
        "interval outside the order",
        _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9, first_interval=SECOND)),
    ),
    (
        "interval outside the order",
        _fill(
            lambda m: buy(m[0], 1_000, 300_000, nonce=9, intervals=2), start=START + 2 * INTERVAL_S
        ),
    ),
    (
        "interval outside the day",
        _fill(
            lambda m: buy(m[0], 1_000, 300_000, nonce=9, first_interval=START - INTERVAL_S),
            start=START - INTERVAL_S,
        ),
    ),
    (
        "interval outside the day",
        _fill(
            lambda m: buy(m[0], 1_000, 300_000, nonce=9, first_interval=LAST),
            start=LAST + INTERVAL_S,
        ),
    ),
    (
        "misaligned interval",
        _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9, intervals=2), start=START + 1),
    ),
    ("bad side", _fill(lambda m: buy(m[0], 1_000, 300_000, nonce=9).with_order(side=2))),
]


@pytest.mark.parametrize(("reason", "bad_fill"), BAD_FILLS)
def test_a_bad_fill_is_caught_and_freezes_the_day_until_resolved(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
    reason: str,
    bad_fill: BadFill,
) -> None:
    """The operator slips a fill breaking its order into the day and takes the victim's
    money (a buy: its amount and fee to the fund). Any member proves it; the day stays
    frozen until the operator gives the money back with resolve_day."""
    trading.set_parameters(*FEES, *BAND, DAY_S, DAY_S, sender=operator)
    fills, debits, credits, volume = honest_day(trading, members, operator, FEES)
    bad = bad_fill(trading, members)
    victim = bad.order.maker
    taken = bad.amount + bad.fee if bad.order.side == BUY else 1
    if bad.order.side == BUY:
        debits[victim] += taken
        credits[operator] += taken
    tree = tree_of(trading, [*fills, bad])
    accounts = everyone(members, operator)
    before = [trading.escrow(a) for a in accounts]
    settle_day(trading, operator, debits, credits, tree.root, volume)

    challenger = members[5].address
    with boa.reverts("P2PTrading: fill is valid"):
        challenge(trading, tree, fills[0], challenger)
    logs = challenge(trading, tree, bad, challenger)
    (caught,) = named(logs, "FillChallenged")
    assert (caught.day, caught.leaf, caught.by, caught.reason) == (
        EPOCH,
        leaf_of(trading, bad),
        challenger,
        reason,
    )
    assert trading.epoch_disputes(EPOCH) == 1
    assert trading.day_settlements(EPOCH)[4]  # disputed

    boa.env.time_travel(seconds=DAY_S)
    with boa.reverts("P2PTrading: epoch disputed"):
        trading.release(accounts, EPOCH, sender=challenger)
    trading.resolve_day(
        EPOCH, [operator, victim], [taken, 0], [0, taken], "refund", sender=operator
    )
    (resolved,) = named(trading.get_logs(), "DayResolved")
    assert (resolved.day, resolved.moved, resolved.note) == (EPOCH, taken, "refund")
    assert trading.epoch_disputes(EPOCH) == 0
    assert not trading.day_settlements(EPOCH)[4]
    trading.release(accounts, EPOCH, sender=challenger)
    credits[operator] -= taken
    credits[victim] += taken
    expected = [b - debits[a] + credits[a] for a, b in zip(accounts, before, strict=True)]
    assert [trading.escrow(a) for a in accounts] == expected
    assert sum(expected) == 6 * DEPOSIT
    assert_money_is_held(trading, credit, accounts)


def test_a_day_is_counted_disputed_once_however_often_it_is_challenged(
    trading: Any, operator: str, members: list[LocalAccount], committed_day: None
) -> None:
    fills, debits, credits, volume = honest_day(trading, members, operator)
    overfilled = fill_of(
        trading, buy(members[0], 2_000, 200_000, quantity_wh=1_000, nonce=9), START
    )
    forged = replace(fills[2], signature=signed(trading, members[5], fills[2].order).signature)
    tree = tree_of(trading, [*fills, overfilled, forged])
    settle_day(trading, operator, debits, credits, tree.root, volume)
    challenge(trading, tree, overfilled, members[1].address)
    with boa.reverts("P2PTrading: already disputed"):
        trading.dispute_day(EPOCH, "me too", sender=members[2].address)
    (again,) = challenge(trading, tree, forged, members[2].address)
    assert (again.reason, again.by) == ("bad signature", members[2].address)
    (twice,) = challenge(trading, tree, overfilled, members[3].address)  # logged again
    assert twice.reason == "overfilled"
    assert trading.epoch_disputes(EPOCH) == 1
    trading.resolve_day(EPOCH, [], [], [], "nothing was paid for them", sender=operator)
    assert trading.epoch_disputes(EPOCH) == 0
    # still within the window: a fill can be challenged again, and the day refreezes
    challenge(trading, tree, forged, members[4].address)
    assert trading.epoch_disputes(EPOCH) == 1
    boa.env.time_travel(seconds=DAY_S)
    with boa.reverts("P2PTrading: epoch disputed"):
        trading.release([operator], EPOCH, sender=operator)


def test_a_member_disputes_a_day_and_the_operator_resolves_it(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
) -> None:
    """A debit no fill explains is disputed with dispute_day (it cannot be proven from a
    single fill) and repaid through pending by resolve_day."""
    fills, debits, credits, volume = honest_day(trading, members, operator)
    debits[members[1].address] += 5_000  # no fill for it
    credits[operator] += 5_000
    settle_day(trading, operator, debits, credits, tree_of(trading, fills).root, volume)
    victim = members[1].address
    with boa.reverts("P2PTrading: not disputed"):
        trading.resolve_day(EPOCH, [], [], [], "", sender=operator)
    trading.dispute_day(EPOCH, "debited 5000 too much", sender=victim)
    (event,) = trading.get_logs()
    assert (type(event).__name__, event.day, event.by, event.reason) == (
        "DayDisputed",
        EPOCH,
        victim,
        "debited 5000 too much",
    )
    assert trading.epoch_disputes(EPOCH) == 1
    with boa.reverts("P2PTrading: already disputed"):
        trading.dispute_day(EPOCH, "again", sender=members[0].address)
    with boa.reverts("P2PTrading: caller is not the operator"):
        trading.resolve_day(EPOCH, [], [], [], "", sender=victim)
    with boa.reverts("P2PTrading: length mismatch"):
        trading.resolve_day(EPOCH, [operator], [5_000], [], "", sender=operator)
    with boa.reverts("P2PTrading: resolution must conserve money"):
        trading.resolve_day(EPOCH, [operator, victim], [5_000, 0], [0, 5_001], "", sender=operator)
    idle = members[4].address  # only bought, in intervals without short sellers
    assert trading.pending(idle, EPOCH) == 0
    with boa.reverts("P2PTrading: debit above pending"):
        trading.resolve_day(EPOCH, [idle, operator], [1, 0], [0, 1], "", sender=operator)
    before = trading.escrow(victim)
    trading.resolve_day(
        EPOCH, [operator, victim], [5_000, 0], [0, 5_000], "repaid", sender=operator
    )
    assert trading.pending(victim, EPOCH) == credits[victim] + 5_000
    boa.env.time_travel(seconds=DAY_S)
    accounts = everyone(members, operator)
    trading.release(accounts, EPOCH, sender=operator)
    assert trading.escrow(victim) == before + credits[victim] + 5_000
    assert sum(trading.escrow(a) for a in accounts) == 6 * DEPOSIT
    assert_money_is_held(trading, credit, accounts)


# --- money conservation -----------------------------------------------------------------


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """(account, debit, credit) rows, accounts 0-5 members and 6 the fund, repeats allowed;
    no member is debited more than its escrow, credits sum to at most the debits."""
    rows = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, DEPOSIT // 12)), max_size=12))
    budget = sum(debit for account, debit in rows if account < 6)
    result = []
    for account, debit in rows:
        credit_ = draw(st.integers(0, budget))
        budget -= credit_
        result.append((account, debit if account < 6 else 0, credit_))
    return result


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=batches())
def test_fuzz_settle_day_conserves_money(
    trading: Any,
    credit: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
    rows: list[tuple[int, int, int]],
) -> None:
    """debited == credited + to the fund, exactly; each account moves by its own rows."""
    accounts = everyone(members, operator)
    with boa.env.anchor():
        before = [trading.escrow(a) for a in accounts]
        trading.settle_day(
            EPOCH,
            [accounts[i] for i, _, _ in rows],
            [d for _, d, _ in rows],
            [c for _, _, c in rows],
            bytes(32),
            0,
            sender=operator,
        )
        (done,) = named(trading.get_logs(), "DaySettled")
        debits = Counter({accounts[i]: 0 for i in range(7)})
        credits = Counter({accounts[i]: 0 for i in range(7)})
        for i, d, c in rows:
            debits[accounts[i]] += d
            credits[accounts[i]] += c
        assert done.debited == sum(debits.values()) == done.credited + done.to_fund
        assert done.credited == sum(credits.values())
        assert [b - trading.escrow(a) for a, b in zip(accounts, before, strict=True)] == [
            debits[a] for a in accounts
        ]
        credits[operator] += done.to_fund
        assert [trading.pending(a, EPOCH) for a in accounts] == [credits[a] for a in accounts]
        assert_money_is_held(trading, credit, accounts)
        boa.env.time_travel(seconds=DAY_S)
        trading.release(accounts, EPOCH, sender=operator)
        assert sum(trading.escrow(a) for a in accounts) == 6 * DEPOSIT
        assert_money_is_held(trading, credit, accounts)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(market=markets())
def test_fuzz_honest_clearings_settle_in_batch_and_pass_every_challenge(
    trading: Any,
    operator: str,
    members: list[LocalAccount],
    committed_day: None,
    market: tuple[list[Leg], int, int],
) -> None:
    """Whatever an honest clearing produces (limits met exactly, rounding at the edges,
    zero fills, fees), its batch moves what per-interval settlement would and none of its
    fills can be challenged."""
    legs, fee_per_kwh, fee_bps = market
    fees = (fee_per_kwh, fee_bps)
    addresses = [m.address for m in members]
    with boa.env.anchor():
        trading.set_parameters(*fees, 0, 10_000_000, DAY_S, DAY_S, sender=operator)
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
        fills, debits, credits, volume = build_day(trading, {START: entries}, operator, fees)
        expected_debits, expected = expected_credits(legs, *fees, addresses, operator)
        assert +debits == +expected_debits
        assert +credits == +expected
        tree = tree_of(trading, fills)
        settle_day(trading, operator, debits, credits, tree.root, volume)
        for fill in fills:
            with boa.reverts("P2PTrading: fill is valid"):
                challenge(trading, tree, fill, addresses[0])
        assert [trading.pending(a, EPOCH) for a in [*addresses, operator]] == [
            credits[a] for a in [*addresses, operator]
        ]


# --- gas ----------------------------------------------------------------------------------


def test_gas_of_day_settlement() -> None:
    """Gas of settle_day for a community of 266 members, each debited and credited (the
    worst case: every escrow written, every pending slot fresh), and for 133 buyers and
    133 sellers; and of a challenge with a 14-level proof."""
    count = 266
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
        keyed = [Account.from_key(keccak(text=f"day-gas-member-{i}")) for i in range(count)]
        addresses = [m.address for m in keyed]
        for first in range(0, count, 256):
            chunk = addresses[first : first + 256]
            registry.register_batch(chunk, [ROLE_PROSUMER] * len(chunk), sender=operator)
        credit.mint(operator, count * UNIT, bytes(32), sender=operator)
        credit.approve(trading.address, 2**256 - 1, sender=operator)
        for address in addresses:
            trading.deposit_for(address, UNIT, sender=operator)
        days = [EPOCH, EPOCH + 1]
        commit(monitoring, operator, *(day * DAY_S + DAY_S - INTERVAL_S for day in days))
        root = b"\x11" * 32
        both = transaction_gas(
            trading.settle_day,
            days[0],
            addresses,
            [300_000 + i for i in range(count)],
            [200_000 + i for i in range(count)],
            root,
            count * 4_000,
            sender=operator,
        )
        half = count // 2
        split = transaction_gas(
            trading.settle_day,
            days[1],
            addresses,
            [300_000 + i if i < half else 0 for i in range(count)],
            [0 if i < half else 250_000 + i for i in range(count)],
            root,
            count * 2_000,
            sender=operator,
        )
        assert trading.day_settlements(days[1])[0] == root

        # challenges against a day of 16_384 fills: proofs of 14 siblings
        day, start = EPOCH + 2, (EPOCH + 2) * DAY_S
        valid = fill_of(trading, buy(keyed[0], 1_000, 300_000, first_interval=start), start)
        bad = fill_of(trading, buy(keyed[0], 1_000, 300_001, nonce=1, first_interval=start), start)
        filler = [keccak(i.to_bytes(32, "big")) for i in range(16_382)]
        tree = MerkleTree.build([leaf_of(trading, valid), leaf_of(trading, bad), *filler])
        commit(monitoring, operator, start + DAY_S - INTERVAL_S)
        trading.settle_day(day, [], [], [], tree.root, 0, sender=operator)
        proofs = [tree.proof(leaf_of(trading, f)) for f in (valid, bad)]
        assert [len(p) for p in proofs] == [14, 14]
        with boa.reverts("P2PTrading: fill is valid"):
            trading.challenge_fill(day, valid.as_tuple(), proofs[0], sender=addresses[1])
        caught = transaction_gas(
            trading.challenge_fill, day, bad.as_tuple(), proofs[1], sender=addresses[1]
        )
        assert trading.epoch_disputes(day) == 1
    print(
        f"\ngas: settle_day of {count} accounts each debited and credited: {both} "
        f"({both // count}/account); {half} buyers + {half} sellers: {split} "
        f"({split // count}/account); a successful challenge_fill (14-level proof): {caught}"
    )
    assert max(both, split) < 30_000_000
