"""Settling a cleared interval after delivery: the same integer rules as the contract.

The P2PTrading contract settles each interval once its meter data is committed, and this
module computes, off-chain and exactly, what it will do, so the store and the chain hold
the same numbers and ``gridshare verify`` can compare them:

- each buyer pays its fill's ``amount`` plus the fee
  (:func:`gridshare.market.orders.fee_micros`) from escrow;
- each seller is paid for what its meter delivered: ``amount * delivered // filled``;
  the rest of its proceeds is withheld;
- the withheld money is refunded to the buyers pro rata to what they paid
  (``W * amount_b // total``);
- fees, the buyers' surplus over the sellers' receipts (rounding, McAfee's reduced
  trades) and what the refunds round away go to the community fund.

Money is conserved to the micro: buyers' debits = sellers' credits + refunds + fund.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridshare.evm import keccak256, uint_words
from gridshare.market.orders import MarketRules, Side
from gridshare.market.session import IntervalClearing


@dataclass(frozen=True, slots=True)
class Settlement:
    """Per order (aligned with the clearing's orders) and the interval's totals."""

    start_s: int
    delivered_wh: list[int]
    """Sellers: Wh their meter delivered, at most what they sold. Buyers: Wh received
    (their fill less their pro-rata share of the sellers' shortfall)."""
    fee: list[int]
    refund: list[int]
    paid: list[int]
    """Micro-units the order's maker paid (buyers, fee included, before refunds)."""
    credited: list[int]
    """Micro-units the order's maker is credited (sellers' proceeds, buyers' refunds)."""
    to_fund: int

    @property
    def debits(self) -> int:
        return sum(self.paid)

    @property
    def credits(self) -> int:
        return sum(self.credited) + self.to_fund


def share_deliveries(clearing: IntervalClearing, exported_wh: Mapping[bytes, int]) -> list[int]:
    """Each sell order's delivery: its maker's metered export (``exported_wh`` by maker),
    given out over the maker's sell orders in clearing order, at most each one's fill.
    Buy orders get 0."""
    left = dict(exported_wh)
    delivered = []
    for order, filled in zip(clearing.orders, clearing.filled_wh, strict=True):
        if order.side is Side.SELL:
            got = min(filled, left.get(order.maker, 0))
            left[order.maker] = left.get(order.maker, 0) - got
            delivered.append(got)
        else:
            delivered.append(0)
    return delivered


def chain_delivered(clearing: IntervalClearing, settlement: Settlement, i: int) -> int:
    """What the contract is told order ``i`` delivered: a seller's delivery, 0 for a buy."""
    return settlement.delivered_wh[i] if clearing.orders[i].side is Side.SELL else 0


def settle(
    clearing: IntervalClearing, delivered_export_wh: Sequence[int], rules: MarketRules
) -> Settlement:
    """Reconcile ``clearing`` with what each sell order's maker delivered.

    ``delivered_export_wh[i]`` is, for a sell order ``i``, the Wh its maker's meter
    exported in the interval that belong to this order (ignored for buys).
    """
    orders = clearing.orders
    n = len(orders)
    delivered = [0] * n
    fee = [0] * n
    refund = [0] * n
    paid = [0] * n
    credited = [0] * n
    withheld = 0
    buy_total = 0
    for i, order in enumerate(orders):
        filled, amount = clearing.filled_wh[i], clearing.amount[i]
        if order.side is Side.BUY:
            fee[i] = rules.fee(filled, amount)
            paid[i] = amount + fee[i]
            buy_total += amount
        else:
            got = min(filled, max(int(delivered_export_wh[i]), 0))
            delivered[i] = got
            credited[i] = amount * got // filled if filled else 0
            withheld += amount - credited[i]
    sold = sum(clearing.filled_wh[i] for i in range(n) if orders[i].side is Side.SELL)
    shortfall = sold - sum(delivered[i] for i in range(n) if orders[i].side is Side.SELL)
    buys = [i for i in range(n) if orders[i].side is Side.BUY and clearing.filled_wh[i]]
    if buy_total:
        for i in buys:
            refund[i] = withheld * clearing.amount[i] // buy_total
            credited[i] = refund[i]
    # energy a buyer did not receive: its share of the shortfall (largest remainder)
    if buys:
        weights = [clearing.filled_wh[i] for i in buys]
        shares = _largest_remainder(shortfall, weights)
        for i, short in zip(buys, shares, strict=True):
            delivered[i] = clearing.filled_wh[i] - short
    to_fund = sum(paid) - sum(credited)
    return Settlement(clearing.start_s, delivered, fee, refund, paid, credited, to_fund)


def _largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def trades_root(clearing: IntervalClearing) -> bytes:
    """keccak256 over the interval's trades, each ``abi.encode(buy order hash, sell order
    hash, quantity_wh, price, seller_price)`` in clearing order: settled on chain with the
    fills, so the stored trades can be shown to be the ones settled."""
    hashes = [o.struct_hash() for o in clearing.orders]
    parts = [
        hashes[r.buy] + hashes[r.sell] + uint_words((r.quantity_wh, r.price, r.seller_price))
        for r in clearing.trades
    ]
    return keccak256(b"".join(parts))


def fill_leaf(
    digest: bytes,
    start_s: int,
    filled_wh: int,
    amount: int,
    fee: int,
    delivered_wh: int,
    signature: bytes,
) -> bytes:
    """The leaf of one order's fill in one interval, in a day's batch settlement:
    keccak256(abi.encode(order's EIP-712 digest, start, filled, amount, fee, delivered,
    keccak256(signature))), as the P2PTrading contract's ``fill_leaf`` computes it. The
    signature's hash binds the operator to the signature it settled with, so a challenge
    can prove a forged one."""
    words = uint_words((start_s, filled_wh, amount, fee, delivered_wh))
    return keccak256(digest + words + keccak256(signature))


@dataclass(frozen=True, slots=True)
class DayBatch:
    """A UTC day's settled intervals as one batch: each account's debit from escrow and
    credit to pending, the fills' leaves (for the Merkle root) and the volume."""

    day: int
    accounts: list[bytes]
    debits: list[int]
    credits: list[int]
    leaves: list[bytes]
    volume_wh: int

    @property
    def to_fund(self) -> int:
        return sum(self.debits) - sum(self.credits)


def day_batch(
    day: int, settled: Sequence[tuple[IntervalClearing, Settlement]], domain: bytes
) -> DayBatch:
    """Net the day's settled intervals per account; one leaf per order that traded."""
    debit: dict[bytes, int] = {}
    credit: dict[bytes, int] = {}
    leaves = []
    volume = 0
    for clearing, s in settled:
        volume += clearing.volume_wh
        for i, order in enumerate(clearing.orders):
            if not clearing.filled_wh[i]:
                continue
            if s.paid[i]:
                debit[order.maker] = debit.get(order.maker, 0) + s.paid[i]
            if s.credited[i]:
                credit[order.maker] = credit.get(order.maker, 0) + s.credited[i]
            leaves.append(
                fill_leaf(
                    order.digest(domain),
                    clearing.start_s,
                    clearing.filled_wh[i],
                    clearing.amount[i],
                    s.fee[i],
                    chain_delivered(clearing, s, i),
                    order.signature,
                )
            )
    accounts = sorted(set(debit) | set(credit))
    return DayBatch(
        day,
        accounts,
        [debit.get(a, 0) for a in accounts],
        [credit.get(a, 0) for a in accounts],
        leaves,
        volume,
    )
