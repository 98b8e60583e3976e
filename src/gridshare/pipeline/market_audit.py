"""The market's part of ``gridshare verify``: stored trades and fills against the chain.

For every market interval the store records, it checks that

- every stored order is intact: its fields hash to the stored order hash and its
  signature recovers its maker for this chain's P2PTrading contract;
- no order is filled beyond its quantity, no buyer pays above its limit and no seller
  receives below it (for mechanisms that promise limits), energy bought = sold;
- the stored trades hash to the stored trades root, and an interval settled on chain has
  a ``Settled`` event with the same root, volume and buyers' payments;
- what a seller is recorded as delivering is what its metered grid export shows (at
  most what it sold), so refunds for shortfalls are owed where they were paid;
- the settlement recomputed from the stored fills conserves money to the micro and
  matches the stored per-order fees, refunds and credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from gridshare.market.community import SCHEMES
from gridshare.market.orders import Kind, MarketRules, Order, Side
from gridshare.market.session import IntervalClearing, TradeRow
from gridshare.market.settlement import (
    Settlement,
    day_batch,
    settle,
    share_deliveries,
    trades_root,
)
from gridshare.metering.merkle import MerkleTree
from gridshare.model.records import MarketFillRecord, MarketIntervalRecord, MarketTradeRecord
from gridshare.pipeline.frames import records_of
from gridshare.units import SECONDS_PER_DAY, WH_PER_KWH


@dataclass
class MarketAudit:
    intervals: int = 0
    orders: int = 0
    settled_on_chain: int = 0
    problems: list[str] = field(default_factory=list)


def _order(fill: MarketFillRecord) -> Order:
    return Order(
        bytes.fromhex(fill.maker[2:]),
        Side[fill.side.upper()],
        fill.first_interval,
        fill.intervals,
        fill.quantity_wh,
        fill.price_micros_per_kwh,
        fill.nonce,
        fill.expiry,
        Kind[fill.kind.upper()],
        bytes.fromhex(fill.terms[2:]),
        fill.signature,
    )


def _interval_records(frame: pd.DataFrame) -> list[MarketIntervalRecord]:
    """The stored market intervals (``market_intervals`` rows) as records."""
    return records_of(frame, MarketIntervalRecord)


def _fill_records(frame: pd.DataFrame) -> dict[int, list[MarketFillRecord]]:
    """The stored fills (``market_fills`` rows, in position order) of each interval."""
    out: dict[int, list[MarketFillRecord]] = {}
    for fill in records_of(frame, MarketFillRecord):
        out.setdefault(fill.interval_start_s, []).append(fill)
    return out


def _trade_records(frame: pd.DataFrame) -> dict[int, list[MarketTradeRecord]]:
    """The stored trades (``market_trades`` rows, in row order) of each interval."""
    out: dict[int, list[MarketTradeRecord]] = {}
    for trade in records_of(frame, MarketTradeRecord):
        out.setdefault(trade.interval_start_s, []).append(trade)
    return out


def audit_market(
    intervals: pd.DataFrame,
    fills: pd.DataFrame,
    trades: pd.DataFrame,
    exports: Mapping[tuple[str, int], int],
    settled: Mapping[int, Mapping[str, object]],
    domain: bytes,
    rules: MarketRules,
    day_settled: Mapping[int, Mapping[str, object]] | None = None,
) -> MarketAudit:
    """Check the stored market against itself, the meters and the chain's ``Settled``
    events (``settled``: interval start -> event arguments) and ``DaySettled`` events
    (``day_settled``: UTC day -> event arguments)."""
    audit = MarketAudit()
    day_settled = day_settled or {}
    days: dict[int, list[tuple[IntervalClearing, Settlement]]] = {}
    fills_of = _fill_records(fills)
    trades_of = _trade_records(trades)
    for row in _interval_records(intervals):
        start = row.interval_start_s
        when = f"market interval {start}"
        audit.intervals += 1
        records = fills_of.get(start, [])
        clearing = _stored_clearing(start, row.mechanism, records, trades_of.get(start, []))
        audit.orders += len(clearing.orders)
        on_chain = row.settled_on_chain
        audit.problems += _order_problems(when, clearing, records, on_chain, domain)
        root = trades_root(clearing)
        audit.problems += _trade_problems(when, clearing, root, row.trades_root)
        delivered_export, problems = _delivered_export(when, clearing, records, exports)
        audit.problems += problems
        s = settle(clearing, delivered_export, rules)
        audit.problems += _settlement_problems(when, s, records, row)
        if not on_chain:
            continue
        event = settled.get(start)
        if event is None and start // SECONDS_PER_DAY in day_settled:
            days.setdefault(start // SECONDS_PER_DAY, []).append((clearing, s))
            continue
        if event is None:
            audit.problems.append(f"{when}: recorded as settled, the chain has no settlement")
            continue
        audit.settled_on_chain += 1
        audit.problems += _settled_event_problems(when, event, clearing, root, s)
    for day, items in sorted(days.items()):
        audit.settled_on_chain += len(items)
        audit.problems += _day_problems(day, items, day_settled[day], domain)
    audit.problems += _unrecorded_settlements(intervals, settled, day_settled)
    return audit


def _stored_clearing(
    start: int,
    mechanism: str,
    records: list[MarketFillRecord],
    stored_trades: list[MarketTradeRecord],
) -> IntervalClearing:
    """The interval's clearing as the store records it: its orders (from their fill rows),
    fills, amounts and trades."""
    clearing = IntervalClearing(start, [_order(r) for r in records], mechanism)
    clearing.filled_wh = [r.filled_wh for r in records]
    clearing.amount = [r.amount_micros for r in records]
    clearing.trades = [
        TradeRow(
            t.buy_position,
            t.sell_position,
            t.quantity_wh,
            t.price_micros_per_kwh,
            t.seller_price_micros_per_kwh,
            t.stage,
        )
        for t in stored_trades
    ]
    return clearing


def _order_problems(
    when: str,
    clearing: IntervalClearing,
    records: list[MarketFillRecord],
    settled_on_chain: bool,
    domain: bytes,
) -> list[str]:
    """Each order intact (hash; signature, when settled on chain), filled at most its
    quantity, and (unless the mechanism is a scheme, which promises grid bounds instead)
    no buyer above its limit and no seller below it."""
    problems: list[str] = []
    for i, (order, r) in enumerate(zip(clearing.orders, records, strict=True)):
        who = f"{when}, order {i} of {r.maker}"
        if "0x" + order.struct_hash().hex() != r.order_hash:
            problems.append(f"{who}: its fields no longer hash to the stored order hash")
        if settled_on_chain and order.signer(domain) != order.maker:
            problems.append(f"{who}: the signature does not recover the maker")
        filled, amount = r.filled_wh, r.amount_micros
        if filled > order.quantity_wh:
            problems.append(f"{who}: filled {filled} Wh of {order.quantity_wh} Wh")
        if clearing.mechanism not in SCHEMES:  # schemes promise grid bounds, not limits
            if (
                order.side is Side.BUY
                and amount * WH_PER_KWH > filled * order.price + WH_PER_KWH - 1
            ):
                problems.append(f"{who}: pays {amount} for {filled} Wh, above its limit")
            if order.side is Side.SELL and amount < filled * order.price // WH_PER_KWH:
                problems.append(f"{who}: receives {amount}, below its limit")
    return problems


def _trade_problems(
    when: str, clearing: IntervalClearing, root: bytes, recorded_root: str
) -> list[str]:
    """Energy bought = sold, and the stored trades hash to the recorded root."""
    problems: list[str] = []
    bought, sold = clearing.sides()
    if bought != sold:
        problems.append(f"{when}: {bought} Wh bought but {sold} Wh sold")
    if "0x" + root.hex() != recorded_root:
        problems.append(
            f"{when}: the stored trades hash to 0x{root.hex()}, not to the recorded root "
            f"{recorded_root}: a trade was changed, added or removed"
        )
    return problems


def _delivered_export(
    when: str,
    clearing: IntervalClearing,
    records: list[MarketFillRecord],
    exports: Mapping[tuple[str, int], int],
) -> tuple[list[int], list[str]]:
    """Each order's recorded delivery (0 for buys), and the sellers whose recorded
    delivery is not what their metered export shows of what they sold."""
    start = clearing.start_s
    metered = share_deliveries(
        clearing,
        {
            o.maker: exports.get((str(r.participant_id), start), 0)
            for o, r in zip(clearing.orders, records, strict=True)
        },
    )
    delivered: list[int] = []
    problems: list[str] = []
    for order, r, expected in zip(clearing.orders, records, metered, strict=True):
        if order.side is Side.SELL:
            if r.delivered_wh != expected:
                problems.append(
                    f"{when}: seller {r.maker} is recorded as delivering "
                    f"{r.delivered_wh} Wh; its meter shows {expected} Wh of what it sold"
                )
            delivered.append(r.delivered_wh)
        else:
            delivered.append(0)
    return delivered, problems


def _settlement_problems(
    when: str, s: Settlement, fills: list[MarketFillRecord], row: MarketIntervalRecord
) -> list[str]:
    """The recomputed settlement conserves money and matches the stored per-order fees,
    refunds and credits and the interval's totals."""
    problems: list[str] = []
    if s.debits != s.credits:
        problems.append(f"{when}: money is not conserved ({s.debits} != {s.credits})")
    stored = {
        "fee": [f.fee_micros for f in fills],
        "refund": [f.refund_micros for f in fills],
        "credited": [f.credited_micros for f in fills],
    }
    for name, ours in (("fee", s.fee), ("refund", s.refund), ("credited", s.credited)):
        if stored[name] != ours:
            problems.append(f"{when}: the stored {name}s differ from the settlement")
    if row.buyers_paid_micros != s.debits or row.to_fund_micros != s.to_fund:
        problems.append(f"{when}: the stored totals differ from the settlement")
    return problems


def _settled_event_problems(
    when: str,
    event: Mapping[str, object],
    clearing: IntervalClearing,
    root: bytes,
    s: Settlement,
) -> list[str]:
    """The chain's ``Settled`` event has the stored trades root, volume and payments."""
    problems: list[str] = []
    chain_root = event["trades_root"]
    chain_root_hex = chain_root.hex() if isinstance(chain_root, bytes) else str(chain_root)
    if chain_root_hex.removeprefix("0x") != root.hex():
        problems.append(f"{when}: the chain settled trades root 0x{chain_root_hex}")
    if int(str(event["volume_wh"])) != clearing.volume_wh:
        problems.append(f"{when}: the chain settled {event['volume_wh']} Wh")
    if int(str(event["buyers_paid"])) != s.debits:
        problems.append(f"{when}: the chain took {event['buyers_paid']} from buyers")
    return problems


def _day_problems(
    day: int,
    items: list[tuple[IntervalClearing, Settlement]],
    event: Mapping[str, object],
    domain: bytes,
) -> list[str]:
    """The chain's ``DaySettled`` event has the root, volume and debits of the day's
    stored fills."""
    problems: list[str] = []
    batch = day_batch(day, items, domain)
    root = MerkleTree.build(batch.leaves).root
    theirs = event["fills_root"]
    theirs_hex = (theirs.hex() if isinstance(theirs, bytes) else str(theirs)).removeprefix("0x")
    if theirs_hex != root.hex():
        problems.append(
            f"market day {day}: the stored fills hash to 0x{root.hex()}, the chain settled "
            f"0x{theirs_hex}: a fill was changed, added or removed"
        )
    totals = {"volume_wh": batch.volume_wh, "debited": sum(batch.debits)}
    for name, total in totals.items():
        if int(str(event[name])) != total:
            problems.append(
                f"market day {day}: {name} is {total} in the store, {event[name]} on chain"
            )
    return problems


def _unrecorded_settlements(
    intervals: pd.DataFrame,
    settled: Mapping[int, Mapping[str, object]],
    day_settled: Mapping[int, Mapping[str, object]],
) -> list[str]:
    """Days and intervals settled on chain that the store has no record of."""
    starts = [int(s) for s in intervals["interval_start_s"]]
    problems = [
        f"market day {day}: settled on chain, the store has no record"
        for day in sorted(set(day_settled) - {s // SECONDS_PER_DAY for s in starts})
    ]
    problems += [
        f"market interval {start}: settled on chain, the store has no record"
        for start in sorted(set(settled) - set(starts))
    ]
    return problems
