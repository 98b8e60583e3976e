"""Market: settled intervals, fills, trades, refusals and members' totals."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import delete, select

from gridshare.model.records import (
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase, TransactionBase


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
