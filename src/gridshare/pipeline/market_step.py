"""Pipeline step: the peer-to-peer market, from agents' orders to settlement.

On the close of interval ``t`` the step

1. settles ``t``, cleared one interval earlier: each seller's delivery is its metered
   export in ``t`` (at most what it sold), the clearing is reconciled with it
   (:func:`gridshare.market.settlement.settle`), recorded in the store and, with a
   ledger, settled on the P2PTrading contract (after ``t``'s meter data is committed);
2. lets every member's trading agent place its signed order for ``t + 1`` from a
   persistence forecast (what the member imported or exported in ``t``) and its battery
   state; the book checks each order and records every refusal with its reason;
3. closes the gate for ``t + 1`` and clears it with the chosen mechanism.

Each member's money is accounted per interval, exactly: what it paid and was credited in
the market, plus the grid tariff on whatever its metered exchange differs from what it
traded (unmatched demand and supply fall back to the grid), against what the grid alone
would have cost; the difference is its saving.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridshare.balancing.accounting import ParticipantFlows
from gridshare.market.agents import TradingAgent
from gridshare.market.clearing import GridPrices, Mechanism
from gridshare.market.orders import (
    MarketRules,
    Order,
    OrderBook,
    OrderRejection,
    Reason,
    Side,
    order_of_record,
)
from gridshare.market.session import IntervalClearing, Preferences, clear_interval
from gridshare.market.settlement import (
    DayBatch,
    Settlement,
    day_batch,
    settle,
    share_deliveries,
    trades_root,
)
from gridshare.market.terms import TermsError, parse_terms
from gridshare.metering.merkle import MerkleTree
from gridshare.model import Community
from gridshare.model.assets import Battery
from gridshare.model.community import SOURCES
from gridshare.model.records import (
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketOrderRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    OrderStatus,
)
from gridshare.model.summary import MarketFigures, MarketSummary
from gridshare.pipeline.context import Accounted, Cleared, IntervalContext, Planned
from gridshare.pipeline.ports import GridStatus, MarketStore
from gridshare.units import (
    MICROS_PER_UNIT,
    SECONDS_PER_DAY,
    WH_PER_KWH,
    energy_cost_micros,
    micros_to_currency,
    report_kwh,
)


class MarketChain(Protocol):
    """The P2PTrading contract (``ledger.market.MarketLedger``)."""

    @property
    def domain(self) -> bytes:
        """The EIP-712 domain separator the members sign their orders for."""
        ...

    def settle(self, settled: Sequence[tuple[IntervalClearing, Settlement, bytes]]) -> int:
        """Settle intervals on chain (those with trades); returns transactions sent."""
        ...

    def settle_day(self, batch: DayBatch, fills_root: bytes) -> int:
        """Settle a UTC day's intervals as one batch; returns transactions sent."""
        ...

    def release(self, accounts: Sequence[bytes], epoch: int) -> int:
        """Move the accounts' pending proceeds of ``epoch`` (a UTC day) into escrow."""
        ...

    def escrow(self, account: bytes) -> int:
        """What the contract holds in escrow for ``account`` (micro-units)."""
        ...


def _cost(net_wh: int, grid: GridPrices) -> int:
    """Micro-units the grid charges for a net exchange (> 0 import, < 0 export)."""
    if net_wh >= 0:
        return energy_cost_micros(net_wh, grid.buy, round_up=True)
    return -energy_cost_micros(-net_wh, grid.sell, round_up=False)


@dataclass
class MemberTotals:
    """One member's market results over the run (int Wh and micro-units)."""

    bought_wh: int = 0
    sold_wh: int = 0
    delivered_wh: int = 0
    received_wh: int = 0
    paid_micros: int = 0
    credited_micros: int = 0
    fees_micros: int = 0
    grid_cost_micros: int = 0
    grid_only_cost_micros: int = 0

    @property
    def savings_micros(self) -> int:
        spent = self.paid_micros - self.credited_micros + self.grid_cost_micros
        return self.grid_only_cost_micros - spent


@dataclass
class MarketStep:
    """Clears and settles the community's market every interval."""

    community: Community
    mechanism: Mechanism
    rules: MarketRules
    book: OrderBook
    agents: Mapping[int, TradingAgent]
    """Trading agent per participant position."""
    accounts: Mapping[bytes, int] = field(default_factory=dict)
    """Members' accounts (participant position by address) that trade through the API:
    their signed orders come from the store (``market_orders``) at each gate closure."""
    chain: MarketChain | None = None
    flush_every: int = 1
    preferences: Mapping[bytes, Preferences] = field(default_factory=dict)
    settlement: str = "interval"
    """``interval``: each interval settles on chain once metered, every order checked
    by the contract. ``day``: a UTC day settles as one batch (net per account, Merkle
    root of its fills); the contract checks any fill a member challenges."""
    name: str = "market"
    grid_status: GridStatus | None = None
    """Whether the main grid is connected; while it is not, the island rule applies."""
    requires: tuple[type, ...] = (Accounted,)
    """The interval's metered flows and stored energy. Agents also read the balancing
    plan made one interval earlier (:class:`Planned`, via ``ctx.previous``); without a
    plan they order from the last interval's exchange (persistence)."""
    provides: tuple[type, ...] = (Cleared,)

    def __post_init__(self) -> None:
        c = self.community
        self.interval_s = int(c.interval_length.total_seconds())
        self._participant_of = dict(self.accounts) | {a.maker: i for i, a in self.agents.items()}
        self._rebuilt = False
        self._preferences = dict(self.preferences)  # members' orders add theirs
        self.totals = [MemberTotals() for _ in c.participants]
        self._cleared: dict[int, IntervalClearing] = {}
        self._pending: list[tuple[IntervalClearing, Settlement, bytes]] = []
        self._credited_days: dict[int, set[bytes]] = {}
        self._reliability: dict[bytes, list[int]] = {}  # maker -> [sold, delivered]
        catalogue = c.catalogue
        self._battery_wh = np.zeros(len(c.meters), dtype=np.float64)
        batteries = {a.asset_id: a for a in c.assets if isinstance(a, Battery)}
        for i, meter in enumerate(c.meters):
            if meter.asset_id in batteries:
                self._battery_wh[i] = batteries[meter.asset_id].capacity_kwh * WH_PER_KWH
        n = len(c.participants)
        self._capacity_of = np.bincount(
            catalogue.participant_index, weights=self._battery_wh, minlength=n
        )
        production = np.where(catalogue.source_code >= 0)[0]
        self._source_of: dict[int, str] = {}
        for m in production:
            self._source_of.setdefault(
                int(catalogue.participant_index[m]), SOURCES[catalogue.source_code[m]].value
            )
        if self.settlement not in ("interval", "day"):
            raise ValueError(f"settlement must be 'interval' or 'day', not {self.settlement!r}")
        self._last_start = 0
        self.islanded_intervals: set[int] = set()
        self.intervals = 0
        self.traded_wh = 0
        self.traded_value = 0  # micro-units per kWh x Wh, exact (volume-weighted price)
        self.fees_micros = 0
        self.to_fund_micros = 0
        self.settle_transactions = 0
        self.orders = 0
        self.rejected = 0

    # -- per interval -------------------------------------------------------------------
    def run(self, ctx: IntervalContext, tx: MarketStore) -> None:
        start = ctx.start_s
        accounted = ctx.require(Accounted)
        flows = accounted.flows
        net = flows.grid_import_wh - flows.grid_export_wh
        clearing = self._cleared.pop(start, None)
        if not self._rebuilt:  # the first interval of this process: nothing cleared yet
            clearing = self._restore(start, tx)
        self._last_start = start
        if clearing is not None:
            self._settle(clearing, flows, net, tx)
        else:
            prices = self.prices(start)
            for i, t in enumerate(self.totals):
                cost = _cost(int(net[i]), prices)
                t.grid_cost_micros += cost
                t.grid_only_cost_micros += cost
        following = start + self.interval_s
        planned = ctx.previous(Planned)
        if planned is not None and planned.start_s == following:
            net = planned.net_wh  # the dispatch plan knows what each member will do
        self._place_and_clear(following, net, accounted.stored_wh, tx)
        ctx.provide(Cleared(following, self.sold_wh(following)))
        self.intervals += 1
        if self.intervals % self.flush_every == 0:  # the commitment step's cadence
            self.flush()

    def _settle(
        self,
        clearing: IntervalClearing,
        flows: ParticipantFlows,
        net: np.ndarray,
        tx: MarketStore,
    ) -> None:
        orders = clearing.orders
        exported = {
            maker: int(flows.grid_export_wh[p]) for maker, p in self._participant_of.items()
        }
        s = settle(clearing, share_deliveries(clearing, exported), self.rules)
        root = trades_root(clearing)
        traded = dict.fromkeys(range(len(self.totals)), 0)  # net Wh received via the market
        for i, order in enumerate(orders):
            p = self._participant_of.get(order.maker)
            filled = clearing.filled_wh[i]
            self.book.debit(order.maker, s.paid[i])
            self.book.credit(order.maker, s.credited[i])
            if p is None:
                continue
            t = self.totals[p]
            t.paid_micros += s.paid[i]
            t.credited_micros += s.credited[i]
            t.fees_micros += s.fee[i]
            agent = self.agents.get(p)
            if agent is not None:
                agent.paid(s.paid[i] - s.credited[i])
            if order.side is Side.BUY:
                t.bought_wh += filled
                t.received_wh += s.delivered_wh[i]
                traded[p] += s.delivered_wh[i]
            else:
                t.sold_wh += filled
                t.delivered_wh += s.delivered_wh[i]
                traded[p] -= s.delivered_wh[i]
                record = self._reliability.setdefault(order.maker, [0, 0])
                record[0] += filled
                record[1] += s.delivered_wh[i]
        prices = self.prices(clearing.start_s)
        for p, t in enumerate(self.totals):
            t.grid_cost_micros += _cost(int(net[p]) - traded[p], prices)
            t.grid_only_cost_micros += _cost(int(net[p]), prices)
        volume = clearing.volume_wh
        self.traded_wh += volume
        self.traded_value += sum(r.quantity_wh * r.price for r in clearing.trades)
        self.fees_micros += sum(s.fee)
        self.to_fund_micros += s.to_fund
        cid = self.community.community_id
        start = clearing.start_s
        tx.write_market_interval(
            MarketIntervalRecord(
                community_id=cid,
                interval_start_s=start,
                mechanism=clearing.mechanism,
                orders=len(orders),
                volume_wh=volume,
                buyers_paid_micros=s.debits,
                sellers_credited_micros=sum(
                    s.credited[i] for i, o in enumerate(orders) if o.side is Side.SELL
                ),
                refunds_micros=sum(s.refund),
                fees_micros=sum(s.fee),
                to_fund_micros=s.to_fund,
                trades_root="0x" + root.hex(),
                settled_on_chain=self.chain is not None and volume > 0,
            ),
            [
                MarketFillRecord(
                    community_id=cid,
                    interval_start_s=start,
                    position=i,
                    order_hash="0x" + o.struct_hash().hex(),
                    maker="0x" + o.maker.hex(),
                    participant_id=self._participant_id(o.maker),
                    side=o.side.name.lower(),
                    kind=o.kind.name.lower(),
                    first_interval=o.first_interval,
                    intervals=o.intervals,
                    quantity_wh=o.quantity_wh,
                    price_micros_per_kwh=o.price,
                    nonce=o.nonce,
                    expiry=o.expiry,
                    terms="0x" + o.terms.hex(),
                    signature=o.signature,
                    filled_wh=clearing.filled_wh[i],
                    amount_micros=clearing.amount[i],
                    fee_micros=s.fee[i],
                    delivered_wh=s.delivered_wh[i],
                    refund_micros=s.refund[i],
                    credited_micros=s.credited[i],
                )
                for i, o in enumerate(orders)
            ],
            [
                MarketTradeRecord(
                    community_id=cid,
                    interval_start_s=start,
                    row=k,
                    buy_position=r.buy,
                    sell_position=r.sell,
                    quantity_wh=r.quantity_wh,
                    price_micros_per_kwh=r.price,
                    seller_price_micros_per_kwh=r.seller_price,
                    stage=r.stage,
                )
                for k, r in enumerate(clearing.trades)
            ],
        )
        if volume:
            self._pending.append((clearing, s, root))
            day = self._credited_days.setdefault(start // SECONDS_PER_DAY, set())
            day.update(o.maker for i, o in enumerate(orders) if s.credited[i])

    def prices(self, start_s: int) -> GridPrices:
        """The prices unmatched energy settles at in the interval: the community's tariff
        in that interval (the one the plan optimises), or while islanded the island rule:
        no main grid, so one island price (the midpoint of the interval's tariff) for
        every unmatched Wh, bought or sold among the members."""
        tariff = GridPrices(*self.community.tariff.prices_at(start_s))
        if self.grid_status is None or self.grid_status.is_connected(start_s):
            return tariff
        self.islanded_intervals.add(start_s)
        return tariff.islanded()

    def sold_wh(self, start_s: int) -> NDArray[np.int64]:
        """What each participant sold in the cleared interval at ``start_s`` (int Wh; zeros
        before it is cleared): balancing keeps sellers' exports at least that."""
        sold = np.zeros(len(self.totals), dtype=np.int64)
        clearing = self._cleared.get(start_s)
        if clearing is not None:
            for order, filled in zip(clearing.orders, clearing.filled_wh, strict=True):
                p = self._participant_of.get(order.maker)
                if p is not None and order.side is Side.SELL:
                    sold[p] += filled
        return sold

    def _participant_id(self, maker: bytes) -> str | None:
        p = self._participant_of.get(maker)
        return None if p is None else self.community.participants[p].participant_id

    def reliability(self, maker: bytes) -> float:
        """Share of what the member sold that its meter delivered (1.0 before any sale)."""
        sold, delivered = self._reliability.get(maker, (0, 0))
        return delivered / sold if sold else 1.0

    def _place_and_clear(
        self, start: int, net: NDArray[np.int64], stored: NDArray[np.int64], tx: MarketStore
    ) -> None:
        prices = self.prices(start)
        soc_num = np.bincount(
            self.community.catalogue.participant_index,
            weights=np.where(self._battery_wh > 0, stored, 0),
            minlength=len(self.totals),
        )
        rejections = self._take_members_orders(start, tx)
        for p, agent in self.agents.items():
            cap = self._capacity_of[p]
            soc = float(soc_num[p] / cap) if cap > 0 else None
            order = agent.order_for(start, int(net[p]), prices, self.rules, self.book.domain, soc)
            if order is None:
                continue
            self.orders += 1
            refused = self.book.submit(order)
            if refused is not None:
                rejections.append(self._rejection(start, refused))
        tx.write_market_rejections(rejections)
        orders = self.book.close(start)
        self._cleared[start] = clear_interval(
            start,
            orders,
            self.mechanism,
            prices,
            preferences=self._preferences,
            source_of=self._seller_source,
            reliability_of=self.reliability,
        )

    def _rejection(self, start: int, refused: OrderRejection) -> MarketRejectionRecord:
        self.rejected += 1
        return MarketRejectionRecord(
            community_id=self.community.community_id,
            interval_start_s=start,
            maker="0x" + refused.order.maker.hex(),
            reason=refused.reason.value,
            detail=refused.detail,
            order_json=_json(refused.order),
        )

    def _take_members_orders(self, start: int, tx: MarketStore) -> list[MarketRejectionRecord]:
        """Gate closure for members' own orders (the book was rebuilt from the store by
        :meth:`_restore` on the process's first interval): each order submitted since the
        last gate is booked or refused, and each cancellation asked for is made; the
        statuses change in the interval's transaction."""
        cid = self.community.community_id
        changes: list[tuple[str, OrderStatus, OrderStatus, str]] = []
        rejections: list[MarketRejectionRecord] = []
        # the gate of ``start`` is closing: earlier intervals are closed, also on the
        # first interval of a process, before the book has closed any; an order that
        # expired by now is refused
        self.book.closed_before_s = max(self.book.closed_before_s, start)
        self.book.now_s = max(self.book.now_s, start)
        for record in tx.market_orders_to_process(cid):
            order = order_of_record(record)
            if record.status == OrderStatus.CANCEL_REQUESTED:
                self.book.cancel(order.struct_hash())
                detail = f"cancelled: not traded from the interval at {start} on"
                changes.append(
                    (record.order_hash, OrderStatus.CANCEL_REQUESTED, OrderStatus.CANCELLED, detail)
                )
                continue
            self.orders += 1
            refused = self._book(record)
            if refused is None:
                changes.append((record.order_hash, OrderStatus.PENDING, OrderStatus.BOOKED, ""))
            else:
                rejections.append(self._rejection(start, refused))
                detail = f"{refused.reason.value}: {refused.detail}"
                changes.append(
                    (record.order_hash, OrderStatus.PENDING, OrderStatus.REFUSED, detail)
                )
        if changes:
            tx.set_market_order_status(cid, changes)
        return rejections

    def _restore(self, start: int, tx: MarketStore) -> IntervalClearing | None:
        """After a restart, the clearing of ``start`` (the first interval this process
        closes), lost with the process that cleared it: the book is rebuilt from the store's
        booked orders for their intervals from this one on (an order that cannot be booked
        again is marked refused), and the interval is cleared again from them, so it is
        settled and recorded once (the ledger skips a settlement the chain holds: the
        process may have died after sending it). None when nothing is booked for it.

        Agents' orders were held in memory only and are not restored; nor is the
        sellers' delivery record the clearing weighs (reliability starts at 1.0)."""
        self._rebuilt = True
        changes = []
        for record in tx.booked_market_orders(self.community.community_id):
            refused = self._book(record, after_restart_from=start)
            if refused is not None:
                detail = f"not booked again after a restart: {refused.detail}"
                changes.append((record.order_hash, OrderStatus.BOOKED, OrderStatus.REFUSED, detail))
        if changes:
            tx.set_market_order_status(self.community.community_id, changes)
        orders = self.book.close(start)
        if not orders:
            return None
        return clear_interval(
            start,
            orders,
            self.mechanism,
            self.prices(start),
            preferences=self._preferences,
            source_of=self._seller_source,
            reliability_of=self.reliability,
        )

    def _book(
        self, record: MarketOrderRecord, after_restart_from: int | None = None
    ) -> OrderRejection | None:
        """Book a member's stored order: in every interval of its span, or the ones its
        recurring rule names; after a restart only those from ``after_restart_from`` on
        (none left: it is done, nothing to book). Its preferences apply when it clears."""
        order = order_of_record(record)
        refused = self._check_identity(record, order)
        if refused is not None:
            return refused
        try:
            terms = parse_terms(order, json.loads(record.terms_json) if record.terms_json else {})
        except (TermsError, ValueError) as exc:
            return OrderRejection(order, Reason.MALFORMED, str(exc))
        step = self.interval_s
        end = order.first_interval + order.intervals * step
        starts: Sequence[int] | None = None
        if after_restart_from is not None:
            if end <= after_restart_from:
                return None
            starts = range(max(order.first_interval, after_restart_from), end, step)
        if terms.recurring is not None:
            active = [
                s for s in terms.recurring.starts(order, step) if starts is None or s in starts
            ]
            if not active:
                detail = "the recurring rule names no interval of the order's span still open"
                return OrderRejection(order, Reason.MALFORMED, detail)
            starts = active
        refused = self.book.submit(order, starts=starts)
        if refused is None and not terms.preferences.empty:
            self._preferences[order.terms] = terms.preferences
        return refused

    @staticmethod
    def _check_identity(record: MarketOrderRecord, order: Order) -> OrderRejection | None:
        """The stored hash must be the order's own (a changed row is refused)."""
        if record.order_hash == "0x" + order.struct_hash().hex():
            return None
        return OrderRejection(
            order, Reason.MALFORMED, "the stored order does not hash to its order hash"
        )

    def _seller_source(self, maker: bytes) -> str | None:
        p = self._participant_of.get(maker)
        return None if p is None else self._source_of.get(p)

    # -- chain --------------------------------------------------------------------------
    def flush(self, *, final: bool = False) -> None:
        """Send what is settled off-chain: per interval, or per complete UTC day
        (``settlement="day"``); at the end of a run a day that is not complete (its last
        interval is not metered) goes interval by interval. Then release what the
        contract holds for days that are done."""
        if self.chain is None:
            self._pending = []
            return
        pending, self._pending = self._pending, []
        if self.settlement == "day":
            days: dict[int, list[tuple[IntervalClearing, Settlement, bytes]]] = {}
            for item in pending:
                days.setdefault(item[0].start_s // SECONDS_PER_DAY, []).append(item)
            last_closed = self._last_start
            for day, items in sorted(days.items()):
                complete = last_closed >= (day + 1) * SECONDS_PER_DAY - self.interval_s
                if complete:
                    batch = day_batch(day, [(c, st) for c, st, _ in items], self.book.domain)
                    root = MerkleTree.build(batch.leaves).root
                    self.settle_transactions += self.chain.settle_day(batch, root)
                elif final:
                    self.settle_transactions += self.chain.settle(items)
                else:
                    self._pending += items  # the rest of the day is still to come
        else:
            self.settle_transactions += self.chain.settle(pending)
        open_days = {c.start_s // SECONDS_PER_DAY for c, _, _ in self._pending}
        current = self._last_start // SECONDS_PER_DAY
        for day in sorted(self._credited_days):
            if final or (day < current and day not in open_days):
                self.settle_transactions += self.chain.release(
                    sorted(self._credited_days.pop(day)), day
                )

    def finish(self, run_id: str, tx: MarketStore) -> None:
        self.flush(final=True)
        tx.write_market_member_totals(
            [
                MarketMemberTotalsRecord(
                    run_id=run_id,
                    participant_id=p.participant_id,
                    bought_wh=t.bought_wh,
                    sold_wh=t.sold_wh,
                    delivered_wh=t.delivered_wh,
                    received_wh=t.received_wh,
                    paid_micros=t.paid_micros,
                    credited_micros=t.credited_micros,
                    fees_micros=t.fees_micros,
                    grid_cost_micros=t.grid_cost_micros,
                    grid_only_cost_micros=t.grid_only_cost_micros,
                )
                for p, t in zip(self.community.participants, self.totals, strict=True)
            ]
        )

    def summary(self) -> MarketSummary:
        savings = sum(t.savings_micros for t in self.totals)
        mean_price = self.traded_value / self.traded_wh if self.traded_wh else None
        return MarketSummary(
            market=MarketFigures(
                mechanism=self.mechanism.name,
                orders=self.orders,
                orders_rejected=self.rejected,
                rejections={r.value: n for r, n in sorted(self.book.rejected.items())},
                settlement=self.settlement,
                settle_transactions=self.settle_transactions,
                to_fund=micros_to_currency(self.to_fund_micros),
                islanded_intervals=len(self.islanded_intervals),
            ),
            traded_kwh=report_kwh(self.traded_wh),
            mean_clearing_price=None
            if mean_price is None
            else round(mean_price / MICROS_PER_UNIT, 6),
            member_savings=micros_to_currency(savings),
            fees=micros_to_currency(self.fees_micros),
        )


def _json(order: Order) -> str:
    return json.dumps(order.as_json(), sort_keys=True)
