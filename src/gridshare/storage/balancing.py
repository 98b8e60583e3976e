"""Balancing: monitor figures, alerts, dispatched setpoints, islanding, demand response."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import delete

from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    IslandEventRecord,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase, TransactionBase


class BalancingWrites(TransactionBase):
    """The balancing writes of a unit of work (part of ``SqlTransaction``)."""

    def write_balancing_interval(self, row: BalancingIntervalRecord) -> None:
        """The balance monitor's figures of one interval (replacing an earlier row)."""
        table = t.balancing_intervals
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id,
                table.c.interval_start_s == row.interval_start_s,
            )
        )
        self.connection.execute(table.insert(), {"community_id": community_id, **as_row(row)})

    def write_balancing_alerts(self, alerts: Sequence[BalancingAlertRecord]) -> None:
        """Alerts raised by the balance monitor."""
        if alerts:
            community_id = self.store.community.community_id
            self.connection.execute(
                t.balancing_alerts.insert(),
                [{"community_id": community_id, **as_row(a)} for a in alerts],
            )

    def write_dispatch_setpoints(
        self, interval_start_s: int, meter_ids: Sequence[str], setpoints_wh: Sequence[int]
    ) -> None:
        """The setpoints sent to each device for an interval (replacing earlier ones)."""
        table = t.dispatch_setpoints
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id,
                table.c.interval_start_s == interval_start_s,
            )
        )
        self.connection.execute(
            table.insert(),
            [
                {
                    "community_id": community_id,
                    "interval_start_s": interval_start_s,
                    "position": i,
                    "meter_id": meter_id,
                    "setpoint_wh": int(value),
                }
                for i, (meter_id, value) in enumerate(zip(meter_ids, setpoints_wh, strict=True))
            ],
        )

    def write_island_events(self, events: Sequence[IslandEventRecord]) -> None:
        """Islanding events of a run (replacing events with the same start)."""
        table = t.island_events
        community_id = self.store.community.community_id
        for island in events:
            self.connection.execute(
                delete(table).where(
                    table.c.community_id == community_id, table.c.start_s == island.start_s
                )
            )
            self.connection.execute(
                table.insert(), {"community_id": community_id, **as_row(island)}
            )

    def write_dr_event(self, event: DemandResponseEventRecord) -> None:
        """A demand-response event as called (replacing one with the same id)."""
        table = t.dr_events
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id, table.c.event_id == event.event_id
            )
        )
        self.connection.execute(table.insert(), {"community_id": community_id, **as_row(event)})

    def write_dr_responses(self, rows: Sequence[DemandResponseRecord]) -> None:
        """Measured responses and payments of a settled event."""
        if rows:
            community_id = self.store.community.community_id
            self.connection.execute(
                t.dr_responses.insert(),
                [{"community_id": community_id, **as_row(r)} for r in rows],
            )


class BalancingQueries(StoreBase):
    """The balancing part of ``SqlStore``."""

    def dispatch_setpoints(self, community_id: str) -> pd.DataFrame:
        """Every device setpoint the balancing plan dispatched (net charge, Wh)."""
        table = t.dispatch_setpoints
        return self._frame(table, community_id, table.c.interval_start_s, table.c.position)

    def balancing_intervals(self, community_id: str) -> pd.DataFrame:
        """The balance monitor's figures per interval, with the next plan's hash."""
        table = t.balancing_intervals
        return self._frame(table, community_id, table.c.interval_start_s)

    def balancing_alerts(self, community_id: str) -> pd.DataFrame:
        table = t.balancing_alerts
        return self._frame(table, community_id, table.c.alert_pk)

    def island_events(self, community_id: str) -> pd.DataFrame:
        table = t.island_events
        return self._frame(table, community_id, table.c.start_s)

    def dr_events(self, community_id: str) -> pd.DataFrame:
        table = t.dr_events
        return self._frame(table, community_id, table.c.start_s)

    def dr_responses(self, community_id: str) -> pd.DataFrame:
        table = t.dr_responses
        return self._frame(table, community_id, table.c.event_id, table.c.participant_id)
