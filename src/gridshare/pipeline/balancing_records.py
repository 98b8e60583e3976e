"""The balancing step's store records, made from what it monitored: one interval's
figures, its alerts and the run's islands (pure: the step writes them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gridshare.balancing.islanding import Island
from gridshare.balancing.monitor import Alert, BalanceSnapshot
from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    IslandEventRecord,
)
from gridshare.units import kw_to_wh_f

__all__ = ["alert_records", "interval_record", "island_event_records"]


def alert_records(alerts: Sequence[Alert]) -> list[BalancingAlertRecord]:
    """One record per alert, value and limit to 6 decimals."""
    return [
        BalancingAlertRecord(
            interval_start_s=a.interval_start_s,
            kind=a.kind.value,
            severity=a.severity.value,
            value=round(a.value, 6),
            limit=round(a.limit, 6),
            message=a.message,
        )
        for a in alerts
    ]


def interval_record(
    snapshot: BalanceSnapshot,
    interval_hours: float,
    *,
    alerts: int,
    next_plan_hash: str | None,
    next_planned_import_wh: int | None,
) -> BalancingIntervalRecord:
    """The interval's record: the snapshot's powers as whole Wh over ``interval_hours``,
    the reserve to 3 decimals, and the plan made for the next interval (if any)."""
    return BalancingIntervalRecord(
        interval_start_s=snapshot.interval_start_s,
        supply_wh=round(kw_to_wh_f(snapshot.supply_kw, interval_hours)),
        demand_wh=round(kw_to_wh_f(snapshot.demand_kw, interval_hours)),
        reserve_kw=round(snapshot.reserve_kw, 3),
        islanded=snapshot.islanded,
        frequency_hz=snapshot.frequency_hz,
        vm_min_pu=snapshot.vm_min_pu,
        vm_max_pu=snapshot.vm_max_pu,
        max_line_loading_percent=snapshot.max_line_loading_percent,
        shed_wh=round(kw_to_wh_f(snapshot.shed_kw, interval_hours)),
        alerts=alerts,
        next_plan_hash=next_plan_hash,
        next_planned_import_wh=next_planned_import_wh,
    )


def island_event_records(islands: Iterable[Island], interval_s: int) -> list[IslandEventRecord]:
    """One record per island, ending after its last interval of ``interval_s``."""
    return [
        IslandEventRecord(
            start_s=i.start_s,
            end_s=i.end_s(interval_s),
            shed_wh=i.shed_wh,
            unserved_critical_wh=i.unserved_critical_wh,
            served_critical_wh=i.served_critical_wh,
        )
        for i in islands
    ]
