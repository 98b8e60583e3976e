"""Balancing: monitor figures, alerts, dispatched setpoints, islanding, demand response;
the same read back per time range, bounded (the API's queries)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, select
from sqlalchemy.exc import IntegrityError

from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    DispatchSetpointRecord,
    IslandEventRecord,
    MemberDemandResponseRecord,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase, TransactionBase, community_of


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

    # -- the API's reads: one community, one time range, at most ``limit`` rows ---------
    def _records(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def community_island_events(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[IslandEventRecord]:
        """Islanded stretches overlapping ``[start_s, end_s)``, by start, at most ``limit``."""
        i = t.island_events
        rows = self._records(
            select(i.c.start_s, i.c.end_s, i.c.shed_wh)
            .add_columns(i.c.unserved_critical_wh, i.c.served_critical_wh)
            .where(i.c.community_id == community_id, i.c.start_s < end_s, i.c.end_s > start_s)
            .order_by(i.c.start_s)
            .limit(limit)
        )
        return [IslandEventRecord(**row) for row in rows]

    def community_alerts(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[BalancingAlertRecord]:
        """Alerts of the intervals in ``[start_s, end_s)``, as raised, at most ``limit``."""
        a = t.balancing_alerts
        rows = self._records(
            select(a.c.interval_start_s, a.c.kind, a.c.severity, a.c.value, a.c.limit)
            .add_columns(a.c.message)
            .where(
                a.c.community_id == community_id,
                a.c.interval_start_s >= start_s,
                a.c.interval_start_s < end_s,
            )
            .order_by(a.c.interval_start_s, a.c.alert_pk)
            .limit(limit)
        )
        return [BalancingAlertRecord(**row) for row in rows]

    def community_setpoints(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[DispatchSetpointRecord]:
        """Setpoints dispatched for the intervals in ``[start_s, end_s)``, by interval then
        device, at most ``limit``."""
        d = t.dispatch_setpoints
        rows = self._records(
            select(d.c.interval_start_s, d.c.meter_id, d.c.setpoint_wh)
            .where(
                d.c.community_id == community_id,
                d.c.interval_start_s >= start_s,
                d.c.interval_start_s < end_s,
            )
            .order_by(d.c.interval_start_s, d.c.position)
            .limit(limit)
        )
        return [DispatchSetpointRecord(**row) for row in rows]

    def community_dr_events(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[DemandResponseEventRecord]:
        """Demand-response events starting in ``[start_s, end_s)``, by start, at most
        ``limit``."""
        e = t.dr_events
        rows = self._records(
            select(*(e.c[name] for name in _EVENT_COLUMNS))
            .where(e.c.community_id == community_id, e.c.start_s >= start_s, e.c.start_s < end_s)
            .order_by(e.c.start_s, e.c.event_id)
            .limit(limit)
        )
        return [DemandResponseEventRecord(**row) for row in rows]

    def community_dr_responses(
        self,
        community_id: str,
        start_s: int,
        end_s: int,
        limit: int,
        participant_id: str | None = None,
    ) -> list[MemberDemandResponseRecord]:
        """Responses to the events starting in ``[start_s, end_s)`` (only
        ``participant_id``'s when given), each with its event, by event start then
        participant, at most ``limit``."""
        e, r = t.dr_events, t.dr_responses
        query = (
            select(
                *(e.c[name].label(f"event__{name}") for name in _EVENT_COLUMNS),
                *(r.c[name] for name in _RESPONSE_COLUMNS),
            )
            .select_from(
                r.join(e, and_(e.c.community_id == r.c.community_id, e.c.event_id == r.c.event_id))
            )
            .where(r.c.community_id == community_id, e.c.start_s >= start_s, e.c.start_s < end_s)
            .order_by(e.c.start_s, e.c.event_id, r.c.participant_id)
            .limit(limit)
        )
        if participant_id is not None:
            query = query.where(r.c.participant_id == participant_id)
        records = []
        for row in self._records(query):
            event = {name: row[f"event__{name}"] for name in _EVENT_COLUMNS}
            response = {name: row[name] for name in _RESPONSE_COLUMNS}
            records.append(
                MemberDemandResponseRecord(
                    DemandResponseEventRecord(**event), DemandResponseRecord(**response)
                )
            )
        return records

    def member_dr_responses(
        self, participant_id: str, start_s: int, end_s: int, limit: int
    ) -> list[MemberDemandResponseRecord]:
        """The participant's responses to events starting in ``[start_s, end_s)``."""
        with self.engine.connect() as conn:
            community_id = community_of(conn, participant_id)
        if community_id is None:
            return []
        return self.community_dr_responses(community_id, start_s, end_s, limit, participant_id)

    # -- members' opt-outs of demand-response events, sent through the API ------------
    def dr_event(self, community_id: str, event_id: str) -> DemandResponseEventRecord | None:
        e = t.dr_events
        rows = self._records(
            select(*(e.c[name] for name in _EVENT_COLUMNS)).where(
                e.c.community_id == community_id, e.c.event_id == event_id
            )
        )
        return DemandResponseEventRecord(**rows[0]) if rows else None

    def opt_out_of_event(
        self, community_id: str, event_id: str, participant_id: str, at_s: int
    ) -> bool:
        """Record a member's opt-out; False (nothing changed) when it is recorded already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    t.dr_opt_outs.insert(),
                    {
                        "community_id": community_id,
                        "event_id": event_id,
                        "participant_id": participant_id,
                        "at_s": at_s,
                    },
                )
        except IntegrityError:
            return False
        return True

    def dr_opt_outs(self, community_id: str, event_id: str) -> dict[str, int]:
        """The members who opted out of an event through the API, with when."""
        o = t.dr_opt_outs
        rows = self._records(
            select(o.c.participant_id, o.c.at_s).where(
                o.c.community_id == community_id, o.c.event_id == event_id
            )
        )
        return {str(r["participant_id"]): int(r["at_s"]) for r in rows}


_EVENT_COLUMNS = tuple(f.name for f in fields(DemandResponseEventRecord))
_RESPONSE_COLUMNS = tuple(f.name for f in fields(DemandResponseRecord))
