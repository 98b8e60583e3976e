"""What the API's live stream tails: closed intervals in order, with what the market and
balancing recorded for each, and islanding events.

An interval's balance, market result and alerts are written in the interval's one
transaction, and the setpoints dispatched for it in the transaction of the interval before,
so once its balance is visible everything the stream reads for it is too, and reading it
again gives the same rows: the stream's cursor (an interval start) resumes exactly. Every
query is a range on the leading columns of a primary key or index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from gridshare.model.records import (
    BalancingAlertRecord,
    ClearingRecord,
    ClosedIntervalRecord,
    DispatchSetpointRecord,
    IslandEventRecord,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase

_PRODUCTION = ("solar_wh", "wind_wh", "hydro_wh", "biomass_wh")


def _clearings(
    conn: Connection, community_id: str, first_s: int, last_s: int
) -> dict[int, ClearingRecord]:
    m, tr = t.market_intervals, t.market_trades
    trades = {
        int(row.interval_start_s): (int(row.trades), int(row.volume_wh), int(row.value))
        for row in conn.execute(
            select(
                tr.c.interval_start_s,
                func.count().label("trades"),
                func.sum(tr.c.quantity_wh).label("volume_wh"),
                func.sum(tr.c.quantity_wh * tr.c.price_micros_per_kwh).label("value"),
            )
            .where(
                tr.c.community_id == community_id,
                tr.c.interval_start_s >= first_s,
                tr.c.interval_start_s <= last_s,
            )
            .group_by(tr.c.interval_start_s)
        )
    }
    found = {}
    for row in conn.execute(
        select(m).where(
            m.c.community_id == community_id,
            m.c.interval_start_s >= first_s,
            m.c.interval_start_s <= last_s,
        )
    ):
        count, traded_wh, value = trades.get(int(row.interval_start_s), (0, 0, 0))
        found[int(row.interval_start_s)] = ClearingRecord(
            mechanism=str(row.mechanism),
            orders=int(row.orders),
            trades=count,
            volume_wh=int(row.volume_wh),
            buyers_paid_micros=int(row.buyers_paid_micros),
            sellers_credited_micros=int(row.sellers_credited_micros),
            mean_price_micros_per_kwh=value // traded_wh if traded_wh > 0 else None,
        )
    return found


def _alerts(
    conn: Connection, community_id: str, first_s: int, last_s: int
) -> dict[int, list[BalancingAlertRecord]]:
    a = t.balancing_alerts
    found: dict[int, list[BalancingAlertRecord]] = {}
    for row in conn.execute(
        select(a)
        .where(
            a.c.community_id == community_id,
            a.c.interval_start_s >= first_s,
            a.c.interval_start_s <= last_s,
        )
        .order_by(a.c.interval_start_s, a.c.alert_pk)
    ):
        found.setdefault(int(row.interval_start_s), []).append(
            BalancingAlertRecord(
                interval_start_s=int(row.interval_start_s),
                kind=str(row.kind),
                severity=str(row.severity),
                value=float(row.value),
                limit=float(row.limit),
                message=str(row.message),
            )
        )
    return found


def _setpoints(
    conn: Connection, community_id: str, first_s: int, last_s: int
) -> dict[int, list[DispatchSetpointRecord]]:
    d = t.dispatch_setpoints
    found: dict[int, list[DispatchSetpointRecord]] = {}
    for row in conn.execute(
        select(d.c.interval_start_s, d.c.meter_id, d.c.setpoint_wh)
        .where(
            d.c.community_id == community_id,
            d.c.interval_start_s >= first_s,
            d.c.interval_start_s <= last_s,
        )
        .order_by(d.c.interval_start_s, d.c.position)
    ):
        found.setdefault(int(row.interval_start_s), []).append(
            DispatchSetpointRecord(
                int(row.interval_start_s), str(row.meter_id), int(row.setpoint_wh)
            )
        )
    return found


def _interval(
    row: Any,
    clearing: ClearingRecord | None,
    alerts: Sequence[BalancingAlertRecord],
    setpoints: Sequence[DispatchSetpointRecord],
) -> ClosedIntervalRecord:
    return ClosedIntervalRecord(
        interval_start_s=int(row.interval_start_s),
        length_s=int(row.length_s),
        received=int(row.received),
        expected=int(row.expected),
        quality=int(row.quality),
        production_wh=sum(int(row._mapping[name]) for name in _PRODUCTION),
        consumption_wh=int(row.consumption_wh),
        import_wh=int(row.pcc_import_wh),
        export_wh=int(row.pcc_export_wh),
        member_import_wh=int(row.member_import_wh),
        member_export_wh=int(row.member_export_wh),
        clearing=clearing,
        alerts=tuple(alerts),
        setpoints=tuple(setpoints),
    )


class StreamQueries(StoreBase):
    """The live stream's part of ``SqlStore`` (the API's tailing queries)."""

    def closed_intervals(
        self, community_id: str, from_s: int, limit: int
    ) -> list[ClosedIntervalRecord]:
        """The community's closed intervals starting at ``from_s`` or later, oldest first,
        at most ``limit``, each with its market result, alerts and setpoints."""
        if limit < 1:
            raise StorageError(f"ask for at least one interval, not {limit}")
        b = t.interval_balances
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(b)
                .where(b.c.community_id == community_id, b.c.interval_start_s >= from_s)
                .order_by(b.c.interval_start_s)
                .limit(limit)
            ).all()
            if not rows:
                return []
            first_s, last_s = int(rows[0].interval_start_s), int(rows[-1].interval_start_s)
            clearings = _clearings(conn, community_id, first_s, last_s)
            alerts = _alerts(conn, community_id, first_s, last_s)
            setpoints = _setpoints(conn, community_id, first_s, last_s)
        records: list[ClosedIntervalRecord] = []
        for row in rows:
            start = int(row.interval_start_s)
            records.append(
                _interval(
                    row, clearings.get(start), alerts.get(start, ()), setpoints.get(start, ())
                )
            )
        return records

    def latest_closed_interval_s(self, community_id: str) -> int | None:
        """The start of the community's latest closed interval, None before the first."""
        b = t.interval_balances
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(b.c.interval_start_s)).where(b.c.community_id == community_id)
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def island_events_after(
        self, community_id: str, after_s: int, limit: int
    ) -> list[IslandEventRecord]:
        """The community's islanding events that started after ``after_s``, oldest first,
        at most ``limit`` (a run records them when the island ends or the run does)."""
        i = t.island_events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(i)
                .where(i.c.community_id == community_id, i.c.start_s > after_s)
                .order_by(i.c.start_s)
                .limit(limit)
            ).all()
        return [
            IslandEventRecord(
                start_s=int(row.start_s),
                end_s=int(row.end_s),
                shed_wh=int(row.shed_wh),
                unserved_critical_wh=int(row.unserved_critical_wh),
                served_critical_wh=int(row.served_critical_wh),
            )
            for row in rows
        ]

    def latest_island_start_s(self, community_id: str) -> int | None:
        """The start of the community's latest recorded islanding event, or None."""
        i = t.island_events
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(i.c.start_s)).where(i.c.community_id == community_id)
            ).scalar_one_or_none()
        return None if value is None else int(value)
