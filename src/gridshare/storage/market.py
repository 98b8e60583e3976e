"""Market: members' submitted orders, settled intervals, fills, trades, refusals and
members' totals; a member's fills and their sums per bucket (the API's queries).

A member's order is written by the API (:meth:`MarketOrderQueries.submit_market_order`,
in a transaction of its own) and read by the market step in the interval's transaction,
which books or refuses it (:meth:`MarketOrderWrites.set_market_order_status`). Status
changes are conditional on the status the changer read, so an API cancel racing the step
is never overwritten: it is taken at the next gate closure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from gridshare.model.records import (
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketOrderRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    MemberFillRecord,
    MemberMarketBucketRecord,
    MemberTradeRecord,
    OrderStatus,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase, TransactionBase, bucket_of, community_of


class MarketWrites(TransactionBase):
    """The market writes of a unit of work (part of ``SqlTransaction``)."""

    def write_market_interval(
        self,
        interval: MarketIntervalRecord,
        fills: Sequence[MarketFillRecord],
        trades: Sequence[MarketTradeRecord],
    ) -> None:
        """Record one settled interval of the market (replacing an earlier record)."""
        key = (interval.community_id, interval.interval_start_s)
        for table in (t.market_intervals, t.market_fills, t.market_trades):
            self.connection.execute(
                delete(table).where(
                    table.c.community_id == key[0], table.c.interval_start_s == key[1]
                )
            )
        self.connection.execute(t.market_intervals.insert(), as_row(interval))
        if fills:
            self.connection.execute(t.market_fills.insert(), [as_row(f) for f in fills])
        if trades:
            self.connection.execute(t.market_trades.insert(), [as_row(r) for r in trades])

    def write_market_rejections(self, rejections: Sequence[MarketRejectionRecord]) -> None:
        """Record refused orders with their reasons."""
        if rejections:
            self.connection.execute(t.market_rejections.insert(), [as_row(r) for r in rejections])

    def write_market_member_totals(self, rows: Sequence[MarketMemberTotalsRecord]) -> None:
        """Per-member market results of a run (replacing earlier rows of the run)."""
        if rows:
            table = t.market_member_totals
            self.connection.execute(delete(table).where(table.c.run_id == rows[0].run_id))
            self.connection.execute(table.insert(), [as_row(r) for r in rows])


_ORDER_COLUMNS = tuple(c.name for c in t.market_orders.columns)
_OPEN = (OrderStatus.PENDING.value, OrderStatus.BOOKED.value)


def _order(row: Any) -> MarketOrderRecord:
    return MarketOrderRecord(**{name: getattr(row, name) for name in _ORDER_COLUMNS})


def _orders_where(connection: Any, *where: ColumnElement[bool]) -> list[MarketOrderRecord]:
    table = t.market_orders
    query = select(table).where(*where).order_by(table.c.submitted_at_s, table.c.order_hash)
    return [_order(row) for row in connection.execute(query)]


class MarketOrderWrites(TransactionBase):
    """What the market step reads and changes of members' orders, in its transaction."""

    def market_orders_to_process(self, community_id: str) -> list[MarketOrderRecord]:
        """Orders waiting for the next gate closure: to book, or to cancel."""
        table = t.market_orders
        waiting = (OrderStatus.PENDING.value, OrderStatus.CANCEL_REQUESTED.value)
        return _orders_where(
            self.connection, table.c.community_id == community_id, table.c.status.in_(waiting)
        )

    def booked_market_orders(self, community_id: str) -> list[MarketOrderRecord]:
        """Orders in the book (to rebuild it after a restart)."""
        table = t.market_orders
        return _orders_where(
            self.connection,
            table.c.community_id == community_id,
            table.c.status == OrderStatus.BOOKED.value,
        )

    def set_market_order_status(
        self, community_id: str, changes: Iterable[tuple[str, OrderStatus, OrderStatus, str]]
    ) -> int:
        """Apply ``(order hash, status read, new status, detail)`` changes, each only if
        the order still has the status read; returns how many applied."""
        table = t.market_orders
        applied = 0
        for order_hash, was, status, detail in changes:
            result = self.connection.execute(
                update(table)
                .where(
                    table.c.community_id == community_id,
                    table.c.order_hash == order_hash,
                    table.c.status == was.value,
                )
                .values(status=status.value, detail=detail)
            )
            applied += result.rowcount
        return applied


class MarketOrderQueries(StoreBase):
    """Members' orders as the API writes and reads them (a transaction per call)."""

    def submit_market_order(self, order: MarketOrderRecord) -> bool:
        """Store a submitted order; False (and nothing stored) when the community holds
        an order with the same hash or the same maker and nonce already."""
        try:
            with self.engine.begin() as connection:
                connection.execute(t.market_orders.insert(), as_row(order))
        except IntegrityError:
            return False
        return True

    def market_order(self, community_id: str, order_hash: str) -> MarketOrderRecord | None:
        table = t.market_orders
        with self.engine.connect() as connection:
            found = _orders_where(
                connection,
                table.c.community_id == community_id,
                table.c.order_hash == order_hash.lower(),
            )
        return found[0] if found else None

    def market_orders_of(
        self,
        community_id: str,
        maker: str | None,
        statuses: Sequence[OrderStatus],
        limit: int,
    ) -> list[MarketOrderRecord]:
        """The newest ``limit`` orders (of ``maker``, or everyone's), newest first."""
        table = t.market_orders
        where = [table.c.community_id == community_id]
        if maker is not None:
            where.append(table.c.maker == maker.lower())
        if statuses:
            where.append(table.c.status.in_([s.value for s in statuses]))
        query = (
            select(table)
            .where(*where)
            .order_by(table.c.submitted_at_s.desc(), table.c.order_hash.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_order(row) for row in connection.execute(query)]

    def request_market_order_cancel(
        self, community_id: str, order_hash: str, maker: str
    ) -> MarketOrderRecord | None:
        """Ask the market to cancel an open order of ``maker`` at the next gate closure;
        None when ``maker`` has no open order with that hash."""
        table = t.market_orders
        with self.engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(
                    table.c.community_id == community_id,
                    table.c.order_hash == order_hash.lower(),
                    table.c.maker == maker.lower(),
                    table.c.status.in_(_OPEN),
                )
                .values(status=OrderStatus.CANCEL_REQUESTED.value, detail="cancel requested")
            )
            if result.rowcount == 0:
                return None
            found = _orders_where(
                connection,
                table.c.community_id == community_id,
                table.c.order_hash == order_hash.lower(),
            )
        return found[0]

    def market_depth(
        self, community_id: str, start_s: int, interval_s: int
    ) -> list[tuple[str, int, int, int]]:
        """The book for the interval at ``start_s``: (side, price micros/kWh, Wh, orders)
        per price level of the booked and pending orders covering it."""
        table = t.market_orders
        covers = and_(
            table.c.first_interval <= start_s,
            table.c.first_interval + table.c.intervals * interval_s > start_s,
        )
        query = (
            select(
                table.c.side,
                table.c.price_micros_per_kwh,
                func.sum(table.c.quantity_wh),
                func.count(),
            )
            .where(table.c.community_id == community_id, table.c.status.in_(_OPEN), covers)
            .group_by(table.c.side, table.c.price_micros_per_kwh)
            .order_by(table.c.side, table.c.price_micros_per_kwh)
        )
        with self.engine.connect() as connection:
            return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in connection.execute(query)]

    def last_market_interval(self, community_id: str) -> MarketIntervalRecord | None:
        """The newest settled market interval."""
        table = t.market_intervals
        query = (
            select(table)
            .where(table.c.community_id == community_id)
            .order_by(table.c.interval_start_s.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        names = [c.name for c in table.columns]
        return MarketIntervalRecord(**{name: getattr(row, name) for name in names})


class MarketQueries(StoreBase):
    """The market part of ``SqlStore``."""

    def market_intervals(self, community_id: str) -> pd.DataFrame:
        """Each settled market interval: mechanism, volume, money, trades root."""
        table = t.market_intervals
        return self._frame(table, community_id, table.c.interval_start_s)

    def market_fills(self, community_id: str) -> pd.DataFrame:
        """Every order of every settled interval with its fill and settlement."""
        table = t.market_fills
        return self._frame(table, community_id, table.c.interval_start_s, table.c.position)

    def market_trades(self, community_id: str) -> pd.DataFrame:
        """Every matched stretch between two orders."""
        table = t.market_trades
        return self._frame(table, community_id, table.c.interval_start_s, table.c.row)

    def market_rejections(self, community_id: str) -> pd.DataFrame:
        table = t.market_rejections
        return self._frame(table, community_id, table.c.rejection_pk)

    def market_member_totals(self, run_id: str) -> pd.DataFrame:
        table = t.market_member_totals
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(table).where(table.c.run_id == run_id).order_by(table.c.participant_id),
                conn,
            )

    def _member_trades(
        self, community_id: str, participant_id: str, start_s: int, end_s: int
    ) -> dict[tuple[int, int], list[MemberTradeRecord]]:
        """The stretches the participant's orders matched in ``[start_s, end_s)``, keyed
        by (interval, the order's position), each seen from the participant's side."""
        trades = t.market_trades
        found: dict[tuple[int, int], list[MemberTradeRecord]] = {}
        with self.engine.connect() as conn:
            for own_column, other_column, price in (
                (trades.c.buy_position, trades.c.sell_position, trades.c.price_micros_per_kwh),
                (
                    trades.c.sell_position,
                    trades.c.buy_position,
                    trades.c.seller_price_micros_per_kwh,
                ),
            ):
                own, other = t.market_fills.alias("own"), t.market_fills.alias("other")
                query = (
                    select(
                        trades.c.interval_start_s,
                        own.c.position,
                        trades.c.quantity_wh,
                        price.label("price"),
                        trades.c.stage,
                        other.c.participant_id.label("other_participant"),
                    )
                    .select_from(
                        trades.join(
                            own,
                            and_(
                                own.c.community_id == trades.c.community_id,
                                own.c.interval_start_s == trades.c.interval_start_s,
                                own.c.position == own_column,
                            ),
                        ).join(
                            other,
                            and_(
                                other.c.community_id == trades.c.community_id,
                                other.c.interval_start_s == trades.c.interval_start_s,
                                other.c.position == other_column,
                            ),
                        )
                    )
                    .where(
                        trades.c.community_id == community_id,
                        trades.c.interval_start_s >= start_s,
                        trades.c.interval_start_s < end_s,
                        own.c.participant_id == participant_id,
                    )
                    .order_by(trades.c.interval_start_s, trades.c.row)
                )
                for row in conn.execute(query):
                    found.setdefault((int(row.interval_start_s), int(row.position)), []).append(
                        MemberTradeRecord(
                            quantity_wh=int(row.quantity_wh),
                            price_micros_per_kwh=int(row.price),
                            counterparty_is_member=row.other_participant is not None,
                            stage=str(row.stage),
                        )
                    )
        return found

    def member_fills(
        self, participant_id: str, start_s: int, end_s: int, limit: int
    ) -> list[MemberFillRecord]:
        """The participant's orders settled in ``[start_s, end_s)``, at most ``limit``,
        by interval then position, each with the stretches it matched."""
        fills = t.market_fills
        with self.engine.connect() as conn:
            community_id = community_of(conn, participant_id)
            if community_id is None:
                return []
            rows = conn.execute(
                select(fills)
                .where(
                    fills.c.community_id == community_id,
                    fills.c.interval_start_s >= start_s,
                    fills.c.interval_start_s < end_s,
                    fills.c.participant_id == participant_id,
                )
                .order_by(fills.c.interval_start_s, fills.c.position)
                .limit(limit)
            ).all()
        if not rows:
            return []
        last = int(rows[-1].interval_start_s) + 1
        trades = self._member_trades(community_id, participant_id, start_s, min(end_s, last))
        return [_member_fill(row, trades) for row in rows]

    def member_market_buckets(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MemberMarketBucketRecord]:
        """The participant's settled orders in ``[start_s, end_s)`` summed per bucket,
        ordered by bucket (buckets without an order absent)."""
        f = t.market_fills
        bucket = bucket_of(f.c.interval_start_s, bucket_s)
        buy, sell = f.c.side == "buy", f.c.side == "sell"

        def total(when: Any, value: Any) -> Any:
            return func.sum(case((when, value), else_=0))

        with self.engine.connect() as conn:
            community_id = community_of(conn, participant_id)
            if community_id is None:
                return []
            rows = conn.execute(
                select(
                    bucket.label("bucket_start_s"),
                    func.count().label("orders"),
                    total(buy, f.c.filled_wh).label("bought_wh"),
                    total(sell, f.c.filled_wh).label("sold_wh"),
                    total(buy, f.c.delivered_wh).label("received_wh"),
                    total(sell, f.c.delivered_wh).label("delivered_wh"),
                    total(buy, f.c.amount_micros + f.c.fee_micros).label("paid_micros"),
                    func.sum(f.c.credited_micros).label("credited_micros"),
                    func.sum(f.c.fee_micros).label("fees_micros"),
                )
                .where(
                    f.c.community_id == community_id,
                    f.c.interval_start_s >= start_s,
                    f.c.interval_start_s < end_s,
                    f.c.participant_id == participant_id,
                )
                .group_by(bucket)
                .order_by(bucket)
            ).mappings()
            return [MemberMarketBucketRecord(**{k: int(v) for k, v in r.items()}) for r in rows]


def _member_fill(
    row: Any, trades: dict[tuple[int, int], list[MemberTradeRecord]]
) -> MemberFillRecord:
    start = int(row.interval_start_s)
    return MemberFillRecord(
        interval_start_s=start,
        side=str(row.side),
        kind=str(row.kind),
        quantity_wh=int(row.quantity_wh),
        limit_price_micros_per_kwh=int(row.price_micros_per_kwh),
        filled_wh=int(row.filled_wh),
        amount_micros=int(row.amount_micros),
        fee_micros=int(row.fee_micros),
        delivered_wh=int(row.delivered_wh),
        refund_micros=int(row.refund_micros),
        credited_micros=int(row.credited_micros),
        trades=tuple(trades.get((start, int(row.position)), ())),
    )
