"""The P2PTrading contract through the app's market adapter, on the embedded chain and on
anvil: signed orders cleared off-chain settle on chain with the same money the
off-chain settlement computed, once, and a tampered order is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_tester.exceptions import TransactionFailed
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.market import MarketLedger
from gridshare.ledger.metering import MeteringLedger
from gridshare.ledger.transactions import TransactionReverted
from gridshare.market.clearing import MECHANISMS, GridPrices
from gridshare.market.orders import MarketRules, Order, Side, address_of
from gridshare.market.session import clear_interval
from gridshare.market.settlement import day_batch, settle, trades_root
from gridshare.metering.commitment import IntervalCommitment
from gridshare.metering.merkle import MerkleTree

T0 = 1_748_822_400
KEYS = [bytes([i + 1]) * 32 for i in range(4)]
MAKERS = [address_of(k) for k in KEYS]
CALL_REVERTED = (ContractLogicError, TransactionFailed)
"""A reverted eth_call: web3's error on a node, eth-tester's on the embedded chain."""
RULES = MarketRules(interval_s=900, fee_per_kwh=2_000, fee_bps=50)
GRID = GridPrices(280_000, 70_000)


@pytest.fixture
def markets(chain: ChainConnection) -> tuple[MeteringLedger, MarketLedger]:
    deployment = chain.deploy()
    metering = MeteringLedger(chain.transactions, deployment)
    metering.register([("0x" + m.hex(), 4) for m in MAKERS], [], [])
    market = MarketLedger(chain.transactions, deployment)
    market.configure(RULES, dispute_window_s=0, withdrawal_delay_s=86_400)
    market.fund({"0x" + m.hex(): 5_000_000 for m in MAKERS}, reference="test/escrow")
    metering.commit([IntervalCommitment(T0, b"\x01" * 32, b"\x02" * 32, 900, 800, 0, 0, 4)])
    return metering, market


def _orders(domain: bytes) -> list[Order]:
    spec = [(Side.BUY, 600, 250_000), (Side.BUY, 500, 200_000)]
    spec += [(Side.SELL, 700, 90_000), (Side.SELL, 500, 150_000)]
    return [
        Order(MAKERS[i], side, T0, 1, q, p, nonce=i + 1).signed(KEYS[i], domain)
        for i, (side, q, p) in enumerate(spec)
    ]


def test_an_interval_settles_on_chain_as_computed_off_chain(
    markets: tuple[MeteringLedger, MarketLedger],
) -> None:
    _, market = markets
    orders = _orders(market.domain)
    clearing = clear_interval(T0, orders, MECHANISMS["pay-as-clear"], GRID)
    assert clearing.volume_wh == 1_100
    # the second seller delivered only 300 of the 400 Wh it sold
    delivered = [0, 0, 700, 300]
    s = settle(clearing, delivered, RULES)
    assert market.settle([(clearing, s, trades_root(clearing))]) == 1
    # settling again sends nothing: the chain has it
    assert market.settle([(clearing, s, trades_root(clearing))]) == 0
    market.release(MAKERS, T0 // 86_400)
    for i, maker in enumerate(MAKERS):
        expected = 5_000_000 - s.paid[i] + s.credited[i]
        assert market.escrow_of("0x" + maker.hex()) == expected
    # the shortfall came back to the buyers
    assert s.refund[0] > 0
    assert s.refund[1] > 0
    assert s.debits == s.credits


def test_a_tampered_order_is_refused_by_the_contract(
    markets: tuple[MeteringLedger, MarketLedger],
) -> None:
    _, market = markets
    orders = _orders(market.domain)
    # the buyer signed 250_000/kWh; the operator tries to fill it at a higher limit
    orders[0] = replace(orders[0], price=300_000, signature=orders[0].signature)
    clearing = clear_interval(T0, orders, MECHANISMS["pay-as-bid"], GRID)
    s = settle(clearing, [0, 0, 700, 500], RULES)
    with pytest.raises(TransactionReverted, match="bad signature"):
        market.settle([(clearing, s, trades_root(clearing))])


def test_a_day_settles_as_one_batch_and_its_fills_can_be_proven(
    chain: ChainConnection, markets: tuple[MeteringLedger, MarketLedger]
) -> None:
    """Python's leaves and tree are the contract's: a fill proven against the settled root
    is judged valid by `challenge_fill`; a fill the operator did not settle is refused."""
    metering, market = markets
    day = T0 // 86_400
    last = (day + 1) * 86_400 - 900
    metering.commit([IntervalCommitment(last, b"\x03" * 32, b"\x04" * 32, 900, 800, 0, 0, 4)])
    orders = _orders(market.domain)
    clearing = clear_interval(T0, orders, MECHANISMS["pay-as-clear"], GRID)
    s = settle(clearing, [0, 0, 700, 500], RULES)
    batch = day_batch(day, [(clearing, s)], market.domain)
    tree = MerkleTree.build(batch.leaves)
    market.configure(RULES, dispute_window_s=3_600, withdrawal_delay_s=86_400)
    assert market.settle_day(batch, tree.root) == 1
    assert market.settle_day(batch, tree.root) == 0  # already on chain
    for i, maker in enumerate(MAKERS):
        account = to_checksum_address("0x" + maker.hex())
        assert market.escrow_of(account) == 5_000_000 - s.paid[i]
        assert market.p2p.functions.pending(account, day).call() == s.credited[i]

    i = 0  # the first buyer's fill
    fill = (
        orders[i].as_tuple(),
        orders[i].signature,
        T0,
        clearing.filled_wh[i],
        clearing.amount[i],
        s.fee[i],
        0,
    )
    leaf = market.p2p.functions.fill_leaf(fill).call()
    assert bytes(leaf) in batch.leaves
    member = chain.transactions.signer.address  # the operator is an active participant
    with pytest.raises(CALL_REVERTED, match="fill is valid"):
        market.p2p.functions.challenge_fill(day, fill, tree.proof(bytes(leaf))).call(
            {"from": member}
        )
    forged = (fill[0], fill[1], T0, fill[3] + 1, fill[4], fill[5], 0)
    with pytest.raises(CALL_REVERTED, match="fill not in the settlement"):
        market.p2p.functions.challenge_fill(day, forged, tree.proof(bytes(leaf))).call(
            {"from": member}
        )
