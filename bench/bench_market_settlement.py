"""On-chain market settlement throughput: P2PTrading.settle through MarketLedger.

    .venv/bin/python bench/bench_market_settlement.py                      # both backends
    .venv/bin/python bench/bench_market_settlement.py --backend embedded --members 200
    .venv/bin/python bench/bench_market_settlement.py --backend anvil --intervals 16

Registers ``--members`` accounts (deterministic keys) on a fresh chain, configures the
market and funds every member's escrow, then for each of ``--intervals`` consecutive
15-minute intervals: commits the interval on EnergyMonitoring, lets half the members
place signed buy orders and half signed sell orders (random quantities and crossing
prices), clears them pay-as-clear, reconciles them with full delivery and settles them
with ``MarketLedger.settle``. Only that call is timed. The intervals straddle a UTC
midnight by default, so the first settlement of the run, the first of the next day and
later ones can be told apart: the first settlement in a day writes every seller's (and
the fund's) ``pending[account][day]`` slot from zero; the first of the run also spends
each maker's first nonce word. anvil is started from ``.tools`` on a free port and
stopped at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account import Account
from eth_utils.crypto import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ledger.conftest import Anvil  # the tests' own anvil launcher

from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.market import MarketLedger
from gridshare.ledger.metering import MeteringLedger
from gridshare.market.clearing import MECHANISMS, GridPrices
from gridshare.market.orders import MarketRules, Order, Side, address_of
from gridshare.market.session import IntervalClearing, clear_interval
from gridshare.market.settlement import (
    Settlement,
    day_batch,
    settle,
    trades_root,
)
from gridshare.metering.commitment import IntervalCommitment
from gridshare.metering.merkle import MerkleTree

INTERVAL_S = 900
DAY_S = 86_400
MIDNIGHT = 1_767_225_600  # 2026-01-01T00:00:00Z
GRID = GridPrices(280_000, 70_000)
RULES = MarketRules(interval_s=INTERVAL_S)
QUANTITY_WH = (100, 5_000)
BUY_PRICE = (120_000, 280_000)  # micro-units per kWh
SELL_PRICE = (70_000, 230_000)
PRODUCER, CONSUMER, PROSUMER = 2, 3, 4
OPERATOR_KEY = keccak(b"gridshare bench_market_settlement operator")


@dataclass(frozen=True, slots=True)
class Member:
    key: bytes
    account: bytes
    side: Side
    role: int

    @property
    def address(self) -> str:
        return "0x" + self.account.hex()


def members_of(n: int) -> list[Member]:
    """Deterministic keys; even positions buy (consumers, prosumers), odd sell
    (producers, prosumers)."""
    out = []
    for i in range(n):
        key = keccak(b"gridshare bench member %d" % i)
        side = Side.BUY if i % 2 == 0 else Side.SELL
        if side is Side.BUY:
            role = CONSUMER if i % 4 == 0 else PROSUMER
        else:
            role = PRODUCER if i % 4 == 1 else PROSUMER
        out.append(Member(key, address_of(key), side, role))
    return out


@dataclass
class IntervalResult:
    start_s: int
    orders: int
    """Orders placed."""
    settled_orders: int
    """Orders that traded (the ones a settlement carries)."""
    trade_rows: int
    volume_wh: int
    settle_s: float
    gas_used: int
    first_of_run: bool
    first_of_day: bool


@dataclass
class BackendResult:
    backend: str
    members: int
    setup_s: float
    prepare_s: float
    """Signing, clearing and reconciling, all intervals (not in the rates)."""
    intervals: list[IntervalResult] = field(default_factory=list)

    @property
    def settle_s(self) -> float:
        return sum(r.settle_s for r in self.intervals)

    @property
    def settled_orders(self) -> int:
        return sum(r.settled_orders for r in self.intervals)

    @property
    def trade_rows(self) -> int:
        return sum(r.trade_rows for r in self.intervals)

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.intervals)


def place_orders(
    members: list[Member], start_s: int, nonce: int, domain: bytes, rng: np.random.Generator
) -> list[Order]:
    quantities = rng.integers(*QUANTITY_WH, size=len(members), endpoint=True)
    buy_prices = rng.integers(*BUY_PRICE, size=len(members), endpoint=True)
    sell_prices = rng.integers(*SELL_PRICE, size=len(members), endpoint=True)
    orders = []
    for i, m in enumerate(members):
        price = buy_prices[i] if m.side is Side.BUY else sell_prices[i]
        order = Order(
            maker=m.account,
            side=m.side,
            first_interval=start_s,
            intervals=1,
            quantity_wh=int(quantities[i]),
            price=int(price),
            nonce=nonce,
        )
        orders.append(order.signed(m.key, domain))
    return orders


def run(
    connection: ChainConnection,
    n_members: int,
    n_intervals: int,
    first_start: int,
    seed: int,
    mode: str = "interval",
) -> BackendResult:
    started = time.perf_counter()
    deployment = connection.deploy()
    tm = connection.transactions
    metering = MeteringLedger(tm, deployment)
    market = MarketLedger(tm, deployment)
    members = members_of(n_members)
    metering.register([(m.address, m.role) for m in members], [], [])
    market.configure(RULES, dispute_window_s=0, withdrawal_delay_s=DAY_S)
    per_member = n_intervals * RULES.max_cost(QUANTITY_WH[1], BUY_PRICE[1])
    market.fund({m.address: per_member for m in members}, f"bench funding {seed}")
    backend = "embedded" if connection.embedded is not None else "anvil"
    result = BackendResult(backend, n_members, time.perf_counter() - started, 0.0)

    rng = np.random.default_rng(seed)
    mechanism = MECHANISMS["pay-as-clear"]
    day_items: list[tuple[IntervalClearing, Settlement]] = []
    paid: dict[bytes, int] = {}
    days_seen: set[int] = set()
    for k in range(n_intervals):
        start = first_start + k * INTERVAL_S
        metering.commit(
            [
                IntervalCommitment(
                    start, keccak(b"p%d" % start), keccak(b"c%d" % start), 1, 1, 1, 1, n_members
                )
            ]
        )
        prepared = time.perf_counter()
        orders = place_orders(members, start, k, market.domain, rng)
        clearing = clear_interval(start, orders, mechanism, GRID)
        delivered = [
            f if o.side is Side.SELL else 0
            for o, f in zip(clearing.orders, clearing.filled_wh, strict=True)
        ]
        settlement = settle(clearing, delivered, RULES)
        root = trades_root(clearing)
        result.prepare_s += time.perf_counter() - prepared
        for o, p in zip(orders, settlement.paid, strict=True):
            paid[o.maker] = paid.get(o.maker, 0) + p

        if mode == "day":
            day_items.append((clearing, settlement))
            continue
        before = len(market.sent)
        timed = time.perf_counter()
        sent = market.settle([(clearing, settlement, root)])
        elapsed = time.perf_counter() - timed
        assert sent == 1, f"interval {start}: {sent} settle transactions"
        assert market.p2p.functions.settled(start).call()
        day = start // DAY_S
        result.intervals.append(
            IntervalResult(
                start_s=start,
                orders=len(orders),
                settled_orders=sum(1 for f in clearing.filled_wh if f > 0),
                trade_rows=len(clearing.trades),
                volume_wh=clearing.volume_wh,
                settle_s=elapsed,
                gas_used=sum(s.gas_used for s in market.sent[before:]),
                first_of_run=k == 0,
                first_of_day=day not in days_seen,
            )
        )
        days_seen.add(day)

    if mode == "day":
        _settle_day(metering, market, day_items, first_start, result)
    # The chain debited exactly what the off-chain settlement computed (proceeds wait in
    # `pending`: nothing was released, so sellers' escrow is untouched).
    for m in members:
        assert market.escrow_of(m.address) == per_member - paid.get(m.account, 0), m.address
    return result


def _settle_day(
    metering: MeteringLedger,
    market: MarketLedger,
    items: list[tuple[IntervalClearing, Settlement]],
    first_start: int,
    result: BackendResult,
) -> None:
    """One ``settle_day`` for all intervals (they lie in one UTC day): net per account,
    the Merkle root of the fills; timed with the tree (the chain is what it waits for)."""
    day = first_start // DAY_S
    last = (day + 1) * DAY_S - INTERVAL_S
    if not any(c.start_s == last for c, _ in items):
        commitment = IntervalCommitment(last, keccak(b"last"), keccak(b"c"), 1, 1, 1, 1, 1)
        metering.commit([commitment])
    before = len(market.sent)
    timed = time.perf_counter()
    batch = day_batch(day, items, market.domain)
    root = MerkleTree.build(batch.leaves).root
    built = time.perf_counter()
    assert market.settle_day(batch, root) == 1
    elapsed = time.perf_counter() - timed
    result.intervals.append(
        IntervalResult(
            start_s=first_start,
            orders=sum(len(c.orders) for c, _ in items),
            settled_orders=sum(1 for c, _ in items for f in c.filled_wh if f > 0),
            trade_rows=sum(len(c.trades) for c, _ in items),
            volume_wh=sum(c.volume_wh for c, _ in items),
            settle_s=elapsed,
            gas_used=sum(s.gas_used for s in market.sent[before:]),
            first_of_run=True,
            first_of_day=True,
        )
    )
    print(
        f"day batch: {len(batch.accounts)} accounts, {len(batch.leaves)} fills; tree "
        f"{(built - timed) * 1000:.0f} ms, settle_day {(elapsed - (built - timed)) * 1000:.0f} ms"
    )


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def report(r: BackendResult) -> None:
    print(f"\n== {r.backend}: {r.members} members, {len(r.intervals)} intervals ==")
    print(
        f"setup (deploy, register, configure, fund) {r.setup_s:.1f} s; "
        f"signing + clearing + reconciling {r.prepare_s * 1000 / len(r.intervals):.0f} ms "
        "per interval (not timed below)"
    )
    print(
        f"{'interval start (UTC)':<22}{'day':>6}{'orders':>8}{'settled':>9}{'trades':>8}"
        f"{'kWh':>7}{'settle ms':>11}{'gas':>12}{'gas/order':>11}"
    )
    for i in r.intervals:
        label = "first*" if i.first_of_run else ("first" if i.first_of_day else "")
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(i.start_s))
        print(
            f"{stamp:<22}{label:>6}{i.orders:>8}{i.settled_orders:>9}{i.trade_rows:>8}"
            f"{i.volume_wh / 1e3:>7.0f}{i.settle_s * 1000:>11.0f}{i.gas_used:>12,}"
            f"{i.gas_used / i.settled_orders:>11,.0f}"
        )
    print(
        f"orders settled: {r.settled_orders / r.settle_s:,.0f}/s "
        f"({r.settled_orders} in {r.settle_s:.2f} s); "
        f"trade rows: {r.trade_rows / r.settle_s:,.0f}/s ({r.trade_rows})"
    )
    print(
        f"gas per settle transaction {r.gas_used / len(r.intervals):,.0f}, "
        f"per settled order {r.gas_used / r.settled_orders:,.0f}"
    )
    groups = {
        "first of run (first*)": [i for i in r.intervals if i.first_of_run],
        "first of a later day": [i for i in r.intervals if i.first_of_day and not i.first_of_run],
        "later in a day": [i for i in r.intervals if not i.first_of_day],
    }
    for name, rows in groups.items():
        if rows:
            per_tx = _mean([i.gas_used for i in rows])
            per_order = sum(i.gas_used for i in rows) / sum(i.settled_orders for i in rows)
            print(f"  {name:<24} {len(rows)} tx: {per_tx:,.0f} gas/tx, {per_order:,.0f} gas/order")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--intervals", type=int, default=8)
    parser.add_argument("--backend", choices=("embedded", "anvil", "both"), default="both")
    parser.add_argument(
        "--start",
        type=int,
        default=None,
        help="first interval's start, unix s (default: half the intervals before 2026-01-01)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--mode",
        choices=("interval", "day"),
        default="interval",
        help="settle each interval, or all intervals as one day batch (they start at a "
        "UTC midnight unless --start is given)",
    )
    args = parser.parse_args()
    if args.members < 2 or args.intervals < 1:
        parser.error("need at least 2 members and 1 interval")
    first_start = args.start
    if first_start is None:
        first_start = (
            MIDNIGHT if args.mode == "day" else MIDNIGHT - (args.intervals // 2) * INTERVAL_S
        )
    if (
        args.mode == "day"
        and first_start // DAY_S != (first_start + (args.intervals - 1) * INTERVAL_S) // DAY_S
    ):
        parser.error("--mode day: the intervals must lie in one UTC day")
    if first_start % INTERVAL_S:
        parser.error(f"--start must be a multiple of {INTERVAL_S}")
    backends = ["embedded", "anvil"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        signer = LocalSigner(Account.from_key(OPERATOR_KEY))
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            if backend == "anvil":
                node = Anvil(directory)
                try:
                    node.fund(signer.address, 10**24)
                    connection = open_chain(directory, signer, node.url, poll_latency_s=0.001)
                    results.append(
                        run(
                            connection,
                            args.members,
                            args.intervals,
                            first_start,
                            args.seed,
                            args.mode,
                        )
                    )
                finally:
                    node.stop()
            else:
                connection = open_chain(directory, signer)
                try:
                    results.append(
                        run(
                            connection,
                            args.members,
                            args.intervals,
                            first_start,
                            args.seed,
                            args.mode,
                        )
                    )
                finally:
                    connection.close()
        report(results[-1])
    if len(results) > 1:
        print("\nbackend     orders/s  trade rows/s  gas/tx  gas/order")
        for r in results:
            print(
                f"{r.backend:<10}{r.settled_orders / r.settle_s:>9,.0f}"
                f"{r.trade_rows / r.settle_s:>14,.0f}{r.gas_used / len(r.intervals):>10,.0f}"
                f"{r.gas_used / r.settled_orders:>11,.0f}"
            )


if __name__ == "__main__":
    main()
