"""The in-memory twin of the SQL store: the ``Store`` and ``StoreTransaction`` ports kept
in lists and dicts, for fast tests of the steps and the loop.

It behaves as ``SqlStore`` does where the pipeline can see it: readings are idempotent
(an equal reading again is a duplicate, a different one a conflict that keeps the first
value), rows keyed like the tables' primary keys replace earlier ones, and a unit of
work left with an exception leaves nothing behind.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.model import Community, ReadingBatch, WriteReport
from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    CommitmentRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    IslandEventRecord,
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketOrderRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    OrderStatus,
)
from gridshare.storage.base import StorageError
from gridshare.units import Interval

Energy = tuple[int, int, int]
"""(import_wh, export_wh, stored_wh) of one reading; stored_wh NOT_REPORTED if none."""


@dataclass
class MemoryTables:
    """Everything the in-memory store holds, keyed like the SQL tables."""

    readings: dict[tuple[int, int], Energy] = field(default_factory=dict)
    """(interval start, meter position) -> the first value stored."""
    conflicts: list[tuple[int, int, Energy]] = field(default_factory=list)
    """(interval start, meter position, offered value) of each conflicting reading."""
    balances: dict[int, tuple[IntervalBalance, int, int]] = field(default_factory=dict)
    participant_totals: dict[str, ParticipantFlows] = field(default_factory=dict)
    rolled_up_days: set[int] = field(default_factory=set)
    commitments: dict[tuple[str, int], CommitmentRecord] = field(default_factory=dict)
    market_intervals: dict[tuple[str, int], MarketIntervalRecord] = field(default_factory=dict)
    market_fills: dict[tuple[str, int], list[MarketFillRecord]] = field(default_factory=dict)
    market_trades: dict[tuple[str, int], list[MarketTradeRecord]] = field(default_factory=dict)
    market_rejections: list[MarketRejectionRecord] = field(default_factory=list)
    market_orders: dict[str, MarketOrderRecord] = field(default_factory=dict)
    """Order hash -> the member's submission, in submission order."""
    market_member_totals: dict[str, list[MarketMemberTotalsRecord]] = field(default_factory=dict)
    balancing_intervals: dict[int, BalancingIntervalRecord] = field(default_factory=dict)
    balancing_alerts: list[BalancingAlertRecord] = field(default_factory=list)
    dispatch_setpoints: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    island_events: dict[int, IslandEventRecord] = field(default_factory=dict)
    dr_events: dict[str, DemandResponseEventRecord] = field(default_factory=dict)
    dr_responses: list[DemandResponseRecord] = field(default_factory=list)


class InMemoryTransaction:
    """One unit of work on the in-memory tables (implements ``StoreTransaction``)."""

    def __init__(self, tables: MemoryTables) -> None:
        self.tables = tables

    # -- readings -------------------------------------------------------------------
    def write_readings(self, batch: ReadingBatch) -> WriteReport:
        """Store readings idempotently: each one inserted, a duplicate, or a conflict."""
        start = batch.interval.start_s
        inserted = duplicates = conflicts = 0
        columns = zip(
            batch.meter_index.tolist(),
            batch.import_wh.tolist(),
            batch.export_wh.tolist(),
            batch.stored_wh.tolist(),
            strict=True,
        )
        for meter, imported, exported, stored in columns:
            offered = (imported, exported, stored)
            have = self.tables.readings.get((start, meter))
            if have is None:
                self.tables.readings[(start, meter)] = offered
                inserted += 1
            elif have == offered:
                duplicates += 1
            else:
                conflicts += 1
                self.tables.conflicts.append((start, meter, offered))
        return WriteReport(inserted, duplicates, conflicts)

    def read_readings(self, interval: Interval) -> ReadingBatch:
        """The stored readings of ``interval``, ordered by meter position."""
        start = interval.start_s
        rows = sorted((m, v) for (s, m), v in self.tables.readings.items() if s == start)

        def column(values: list[int]) -> np.ndarray:
            return np.array(values, dtype=np.int64)

        return ReadingBatch(
            interval,
            column([m for m, _ in rows]),
            column([v[0] for _, v in rows]),
            column([v[1] for _, v in rows]),
            column([v[2] for _, v in rows]),
        )

    # -- results --------------------------------------------------------------------
    def write_balance(
        self, interval: Interval, balance: IntervalBalance, received: int, expected: int
    ) -> None:
        self.tables.balances[interval.start_s] = (balance, received, expected)

    def write_participant_totals(self, run_id: str, totals: ParticipantFlows) -> None:
        self.tables.participant_totals[run_id] = totals

    def roll_up_day(self, day_start_s: int) -> None:
        """Recorded only: the in-memory store answers no day-long queries."""
        self.tables.rolled_up_days.add(day_start_s)

    def write_commitment(self, commitment: CommitmentRecord) -> None:
        key = (commitment.community_id, commitment.interval_start_s)
        self.tables.commitments[key] = commitment

    # -- market ---------------------------------------------------------------------
    def write_market_interval(
        self,
        interval: MarketIntervalRecord,
        fills: Sequence[MarketFillRecord],
        trades: Sequence[MarketTradeRecord],
    ) -> None:
        key = (interval.community_id, interval.interval_start_s)
        self.tables.market_intervals[key] = interval
        self.tables.market_fills[key] = list(fills)
        self.tables.market_trades[key] = list(trades)

    def write_market_rejections(self, rejections: Sequence[MarketRejectionRecord]) -> None:
        self.tables.market_rejections.extend(rejections)

    def write_market_member_totals(self, rows: Sequence[MarketMemberTotalsRecord]) -> None:
        if rows:
            self.tables.market_member_totals[rows[0].run_id] = list(rows)

    def market_orders_to_process(self, community_id: str) -> list[MarketOrderRecord]:
        waiting = (OrderStatus.PENDING.value, OrderStatus.CANCEL_REQUESTED.value)
        return self._orders(community_id, waiting)

    def booked_market_orders(self, community_id: str) -> list[MarketOrderRecord]:
        return self._orders(community_id, (OrderStatus.BOOKED.value,))

    def set_market_order_status(
        self, community_id: str, changes: Iterable[tuple[str, OrderStatus, OrderStatus, str]]
    ) -> int:
        applied = 0
        orders = self.tables.market_orders
        for order_hash, was, status, detail in changes:
            held = orders.get(order_hash)
            if held is not None and held.community_id == community_id and held.status == was:
                orders[order_hash] = replace(held, status=status.value, detail=detail)
                applied += 1
        return applied

    def _orders(self, community_id: str, statuses: Sequence[str]) -> list[MarketOrderRecord]:
        held = self.tables.market_orders.values()
        found = [o for o in held if o.community_id == community_id and o.status in statuses]
        return sorted(found, key=lambda o: (o.submitted_at_s, o.order_hash))

    # -- balancing ------------------------------------------------------------------
    def write_balancing_interval(self, row: BalancingIntervalRecord) -> None:
        self.tables.balancing_intervals[row.interval_start_s] = row

    def write_balancing_alerts(self, alerts: Sequence[BalancingAlertRecord]) -> None:
        self.tables.balancing_alerts.extend(alerts)

    def write_dispatch_setpoints(
        self, interval_start_s: int, meter_ids: Sequence[str], setpoints_wh: Sequence[int]
    ) -> None:
        self.tables.dispatch_setpoints[interval_start_s] = [
            (meter_id, int(value)) for meter_id, value in zip(meter_ids, setpoints_wh, strict=True)
        ]

    def write_island_events(self, events: Sequence[IslandEventRecord]) -> None:
        for island in events:
            self.tables.island_events[island.start_s] = island

    def write_dr_event(self, event: DemandResponseEventRecord) -> None:
        self.tables.dr_events[event.event_id] = event

    def write_dr_responses(self, rows: Sequence[DemandResponseRecord]) -> None:
        self.tables.dr_responses.extend(rows)


class InMemoryStore:
    """The ``Store`` port in memory: one community, its readings and the steps' records."""

    def __init__(self) -> None:
        self.tables = MemoryTables()
        self._community: Community | None = None

    @property
    def community(self) -> Community:
        if self._community is None:
            raise StorageError("no community registered with this store")
        return self._community

    def register_community(self, community: Community) -> None:
        """Hold ``community`` (again: it must keep its interval length and time zone)."""
        held = self._community
        if held is not None and (
            held.community_id != community.community_id
            or held.interval_length != community.interval_length
            or held.time_zone != community.time_zone
        ):
            raise StorageError(
                f"the store holds community {held.community_id!r}; use another store"
            )
        self._community = community

    @contextmanager
    def transaction(self) -> Iterator[InMemoryTransaction]:
        """A unit of work: an exception inside restores the tables as they were."""
        before = copy.deepcopy(self.tables)
        try:
            yield InMemoryTransaction(self.tables)
        except BaseException:
            self.tables = before
            raise

    # -- members' orders, as the API submits and cancels them ---------------------------
    def submit_market_order(self, order: MarketOrderRecord) -> bool:
        """Hold a submitted order; False when its hash or its maker's nonce is taken."""
        held = self.tables.market_orders
        if order.order_hash in held or any(
            (o.community_id, o.maker, o.nonce) == (order.community_id, order.maker, order.nonce)
            for o in held.values()
        ):
            return False
        held[order.order_hash] = order
        return True

    def request_market_order_cancel(
        self, community_id: str, order_hash: str, maker: str
    ) -> MarketOrderRecord | None:
        held = self.tables.market_orders.get(order_hash)
        open_ = (OrderStatus.PENDING.value, OrderStatus.BOOKED.value)
        if held is None or (held.community_id, held.maker) != (community_id, maker):
            return None
        if held.status not in open_:
            return None
        changed = replace(
            held, status=OrderStatus.CANCEL_REQUESTED.value, detail="cancel requested"
        )
        self.tables.market_orders[order_hash] = changed
        return changed

    # -- queries (records in the order the SQL store's queries give) -----------------
    def market_intervals(self) -> list[MarketIntervalRecord]:
        return [self.tables.market_intervals[k] for k in sorted(self.tables.market_intervals)]

    def market_fills(self) -> list[MarketFillRecord]:
        return [f for k in sorted(self.tables.market_fills) for f in self.tables.market_fills[k]]

    def market_trades(self) -> list[MarketTradeRecord]:
        trades = self.tables.market_trades
        return [r for k in sorted(trades) for r in trades[k]]

    def commitments(self) -> list[CommitmentRecord]:
        return [self.tables.commitments[k] for k in sorted(self.tables.commitments)]

    def balancing_intervals(self) -> list[BalancingIntervalRecord]:
        rows = self.tables.balancing_intervals
        return [rows[k] for k in sorted(rows)]
