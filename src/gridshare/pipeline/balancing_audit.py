"""The balancing part of ``gridshare verify``: stored balancing actions against the chain.

For every community it checks that

- every dispatched schedule's stored setpoints hash to the hash the store recorded for
  it and to the ``ScheduleRecorded`` hash on the GridBalancing contract, and that the
  chain holds no schedule the store does not;
- every stored islanding event is on chain with the same window, shed and critical
  energy;
- every stored demand-response event is on chain, and each member's stored response
  (delivered energy and payment, opted out or not) equals the ``ResponseRecorded``
  event that paid it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from gridshare.balancing.schedule import net_setpoints, schedule_hash
from gridshare.ledger.balancing import BalancingHistory, dr_event_id
from gridshare.model.records import DemandResponseRecord, IslandEventRecord
from gridshare.pipeline.frames import records_of


def _plan_hashes(intervals: pd.DataFrame) -> dict[int, str]:
    """Interval start -> the hash of the plan stored with it (``balancing_intervals``)."""
    return {
        int(r["interval_start_s"]): str(r["next_plan_hash"])
        for r in intervals.to_dict("records")
        if isinstance(r["next_plan_hash"], str)
    }


def _island_records(frame: pd.DataFrame) -> list[IslandEventRecord]:
    """The stored islanding events (``island_events`` rows) as records."""
    return records_of(frame, IslandEventRecord)


def _response_records(frame: pd.DataFrame) -> list[DemandResponseRecord]:
    """The stored demand responses (``dr_responses`` rows) as records."""
    return records_of(frame, DemandResponseRecord)


@dataclass
class BalancingAudit:
    schedules: int = 0
    islands: int = 0
    responses: int = 0
    problems: list[str] = field(default_factory=list)


def audit_balancing(
    setpoints: pd.DataFrame,
    intervals: pd.DataFrame,
    islands: pd.DataFrame,
    responses: pd.DataFrame,
    history: BalancingHistory,
    accounts: Mapping[str, str],
    interval_s: int,
) -> BalancingAudit:
    """``accounts``: each participant id's chain account; ``interval_s``: the interval
    length (a plan stored with interval ``s`` is the dispatch of ``s + interval_s``)."""
    audit = BalancingAudit()
    stored_hash = _plan_hashes(intervals)
    planned = {start + interval_s: digest for start, digest in stored_hash.items()}
    on_chain = {s.interval_start_s: s for s in history.schedules}
    for key, group in setpoints.groupby("interval_start_s", sort=True):
        start = int(str(key))
        audit.schedules += 1
        rows = net_setpoints(
            [str(m) for m in group["meter_id"]], [int(v) for v in group["setpoint_wh"]]
        )
        digest = "0x" + schedule_hash(start, [rows]).hex()
        if planned.get(start) != digest:
            audit.problems.append(
                f"schedule {start}: the stored setpoints hash to {digest}, the store recorded "
                f"{planned.get(start)}"
            )
        record = on_chain.pop(start, None)
        if record is None:
            audit.problems.append(f"schedule {start}: dispatched, but not on chain")
        elif "0x" + record.schedule_hash.hex() != digest:
            audit.problems.append(
                f"schedule {start}: chain hash 0x{record.schedule_hash.hex()} differs from "
                f"the stored setpoints' {digest}"
            )
    for start in sorted(on_chain):
        audit.problems.append(f"schedule {start}: on chain, but the store has no setpoints")

    chain_islands = {i.start_s: i for i in history.islands}
    for row in _island_records(islands):
        audit.islands += 1
        island = chain_islands.get(row.start_s)
        stored = (row.shed_wh, row.unserved_critical_wh, row.served_critical_wh)
        if island is None:
            audit.problems.append(f"island from {row.start_s}: not on chain")
        elif (
            island.shed_wh,
            island.unserved_critical_wh,
            island.served_critical_wh,
        ) != stored:
            audit.problems.append(
                f"island from {row.start_s}: chain records shed/unserved/served "
                f"{(island.shed_wh, island.unserved_critical_wh, island.served_critical_wh)}, "
                f"the store {stored}"
            )

    paid = {(r.event_id, r.participant.lower()): r for r in history.responses}
    for r in _response_records(responses):
        audit.responses += 1
        account = accounts.get(r.participant_id, "").lower()
        response = paid.get((dr_event_id(r.event_id), account))
        if r.requested_wh == 0:
            continue  # asked for nothing: never on chain
        if response is None:
            audit.problems.append(
                f"demand response {r.event_id}, {r.participant_id}: no response on chain"
            )
        elif (response.delivered_wh, response.payment_micros) != (
            r.delivered_wh,
            r.payment_micros,
        ):
            audit.problems.append(
                f"demand response {r.event_id}, {r.participant_id}: chain paid "
                f"{response.payment_micros} for {response.delivered_wh} Wh, the store "
                f"{r.payment_micros} for {r.delivered_wh} Wh"
            )
    return audit
