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
from typing import Any

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
from gridshare.units import SECONDS_PER_DAY, WH_PER_KWH


@dataclass
class MarketAudit:
    intervals: int = 0
    orders: int = 0
    settled_on_chain: int = 0
    problems: list[str] = field(default_factory=list)


def _order(row: dict[str, Any]) -> Order:
    return Order(
        bytes.fromhex(str(row["maker"])[2:]),
        Side[str(row["side"]).upper()],
        int(row["first_interval"]),
        int(row["intervals"]),
        int(row["quantity_wh"]),
        int(row["price_micros_per_kwh"]),
        int(row["nonce"]),
        int(row["expiry"]),
        Kind[str(row["kind"]).upper()],
        bytes.fromhex(str(row["terms"])[2:]),
        bytes(row["signature"]),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _by_interval(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    if not len(frame):
        return {}
    return {int(str(k)): g for k, g in frame.groupby("interval_start_s")}


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
    fills_of = _by_interval(fills)
    trades_of = _by_interval(trades)
    for row in _records(intervals):
        start = int(row["interval_start_s"])
        when = f"market interval {start}"
        audit.intervals += 1
        group = fills_of.get(start, fills.iloc[0:0])
        records = _records(group)
        stored_trades = _records(trades_of.get(start, trades.iloc[0:0]))
        clearing = _stored_clearing(start, str(row["mechanism"]), records, stored_trades)
        audit.orders += len(clearing.orders)
        on_chain = bool(row["settled_on_chain"])
        audit.problems += _order_problems(when, clearing, records, on_chain, domain)
        root = trades_root(clearing)
        audit.problems += _trade_problems(when, clearing, root, row["trades_root"])
        delivered_export, problems = _delivered_export(when, clearing, records, exports)
        audit.problems += problems
        s = settle(clearing, delivered_export, rules)
        audit.problems += _settlement_problems(when, s, group, row)
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
    records: list[dict[str, Any]],
    stored_trades: list[dict[str, Any]],
) -> IntervalClearing:
    """The interval's clearing as the store records it: its orders (from their fill rows),
    fills, amounts and trades."""
    clearing = IntervalClearing(start, [_order(r) for r in records], mechanism)
    clearing.filled_wh = [int(r["filled_wh"]) for r in records]
    clearing.amount = [int(r["amount_micros"]) for r in records]
    clearing.trades = [
        TradeRow(
            int(t["buy_position"]),
            int(t["sell_position"]),
            int(t["quantity_wh"]),
            int(t["price_micros_per_kwh"]),
            int(t["seller_price_micros_per_kwh"]),
            str(t["stage"]),
        )
        for t in stored_trades
    ]
    return clearing


def _order_problems(
    when: str,
    clearing: IntervalClearing,
    records: list[dict[str, Any]],
    settled_on_chain: bool,
    domain: bytes,
) -> list[str]:
    """Each order intact (hash; signature, when settled on chain), filled at most its
    quantity, and (unless the mechanism is a scheme, which promises grid bounds instead)
    no buyer above its limit and no seller below it."""
    problems: list[str] = []
    for i, (order, r) in enumerate(zip(clearing.orders, records, strict=True)):
        who = f"{when}, order {i} of {r['maker']}"
        if "0x" + order.struct_hash().hex() != r["order_hash"]:
            problems.append(f"{who}: its fields no longer hash to the stored order hash")
        if settled_on_chain and order.signer(domain) != order.maker:
            problems.append(f"{who}: the signature does not recover the maker")
        filled, amount = int(r["filled_wh"]), int(r["amount_micros"])
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
    when: str, clearing: IntervalClearing, root: bytes, recorded_root: object
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
    records: list[dict[str, Any]],
    exports: Mapping[tuple[str, int], int],
) -> tuple[list[int], list[str]]:
    """Each order's recorded delivery (0 for buys), and the sellers whose recorded
    delivery is not what their metered export shows of what they sold."""
    start = clearing.start_s
    metered = share_deliveries(
        clearing,
        {
            o.maker: exports.get((str(r["participant_id"]), start), 0)
            for o, r in zip(clearing.orders, records, strict=True)
        },
    )
    delivered: list[int] = []
    problems: list[str] = []
    for order, r, expected in zip(clearing.orders, records, metered, strict=True):
        if order.side is Side.SELL:
            if int(r["delivered_wh"]) != expected:
                problems.append(
                    f"{when}: seller {r['maker']} is recorded as delivering "
                    f"{r['delivered_wh']} Wh; its meter shows {expected} Wh of what it sold"
                )
            delivered.append(int(r["delivered_wh"]))
        else:
            delivered.append(0)
    return delivered, problems


def _settlement_problems(
    when: str, s: Settlement, group: pd.DataFrame, row: dict[str, Any]
) -> list[str]:
    """The recomputed settlement conserves money and matches the stored per-order fees,
    refunds and credits and the interval's totals."""
    problems: list[str] = []
    if s.debits != s.credits:
        problems.append(f"{when}: money is not conserved ({s.debits} != {s.credits})")
    for name, ours in (("fee", s.fee), ("refund", s.refund), ("credited", s.credited)):
        if [int(v) for v in group[f"{name}_micros"]] != ours:
            problems.append(f"{when}: the stored {name}s differ from the settlement")
    if int(row["buyers_paid_micros"]) != s.debits or int(row["to_fund_micros"]) != s.to_fund:
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
