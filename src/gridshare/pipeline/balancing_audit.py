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
from typing import Any

import pandas as pd

from gridshare.balancing.schedule import net_setpoints, schedule_hash
from gridshare.ledger.balancing import BalancingHistory, dr_event_id


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


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
    stored_hash = {
        int(r["interval_start_s"]): str(r["next_plan_hash"])
        for r in _records(intervals)
        if isinstance(r["next_plan_hash"], str)
    }
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
    for row in _records(islands):
        audit.islands += 1
        island = chain_islands.get(int(row["start_s"]))
        stored = (
            int(row["shed_wh"]),
            int(row["unserved_critical_wh"]),
            int(row["served_critical_wh"]),
        )
        if island is None:
            audit.problems.append(f"island from {row['start_s']}: not on chain")
        elif (
            island.shed_wh,
            island.unserved_critical_wh,
            island.served_critical_wh,
        ) != stored:
            audit.problems.append(
                f"island from {row['start_s']}: chain records shed/unserved/served "
                f"{(island.shed_wh, island.unserved_critical_wh, island.served_critical_wh)}, "
                f"the store {stored}"
            )

    paid = {(r.event_id, r.participant.lower()): r for r in history.responses}
    for row in _records(responses):
        audit.responses += 1
        account = accounts.get(str(row["participant_id"]), "").lower()
        response = paid.get((dr_event_id(str(row["event_id"])), account))
        if int(row["requested_wh"]) == 0:
            continue  # asked for nothing: never on chain
        if response is None:
            audit.problems.append(
                f"demand response {row['event_id']}, {row['participant_id']}: no response on chain"
            )
        elif (response.delivered_wh, response.payment_micros) != (
            int(row["delivered_wh"]),
            int(row["payment_micros"]),
        ):
            audit.problems.append(
                f"demand response {row['event_id']}, {row['participant_id']}: chain paid "
                f"{response.payment_micros} for {response.delivered_wh} Wh, the store "
                f"{row['payment_micros']} for {row['delivered_wh']} Wh"
            )
    return audit
