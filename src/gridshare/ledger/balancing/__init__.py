"""The GridBalancing contract from Python: schedules, demand response, islanding, audit.

The package's modules, along its seams:

* :mod:`~gridshare.ledger.balancing.records`: the contract's records, limits and flags;
* :mod:`~gridshare.ledger.balancing.ledger`: :class:`BalancingLedger` (schedules, the
  flexibility budget, islands), built on
* :mod:`~gridshare.ledger.balancing.demand_response`: events, opt-outs, responses and
  payments, and :mod:`~gridshare.ledger.balancing.contract`, the calls' shared plumbing;
* :mod:`~gridshare.ledger.balancing.audit`: the contract's events decoded
  (:func:`decode_balancing_events`).

Callers import the public names from this package.

The schedule hash is :func:`gridshare.balancing.schedule.schedule_hash` (its encoding is
written out there); the contract's ``schedule_hash`` view computes the same.

Sends are idempotent across restarts: a schedule, event, response or island the chain
holds already is skipped when identical and refused with :class:`BalancingMismatch`
when the chain holds other values.

Demand response: :meth:`BalancingLedger.open_dr_event` and
:meth:`BalancingLedger.record_dr_settlement` put an event of
:mod:`gridshare.balancing.demand_response` and its settlement on chain, so that the
contract pays every member exactly ``ParticipantSettlement.payment_micros``: the contract
caps each member's delivered energy at the energy requested of it, as ``settle_event``
does.
"""

from gridshare.ledger.balancing.audit import (
    decode_balancing_events,
)
from gridshare.ledger.balancing.demand_response import (
    DemandResponseLedger,
    delivered_wh,
    dr_event_id,
    dr_kind,
    dr_target_wh,
)
from gridshare.ledger.balancing.ledger import (
    BalancingLedger,
)
from gridshare.ledger.balancing.records import (
    CONTRACT,
    ENROLLED,
    FUND_GAS,
    ISLAND_GAS,
    MAX_PARTICIPANTS,
    MAX_REQUESTED_WH,
    MAX_SCHEDULES_PER_TX,
    NOT_MEASURED,
    OPEN_BASE_GAS,
    OPEN_GAS_PER_PARTICIPANT,
    OPT_OUT_GAS,
    OPTED_OUT,
    OPTED_OUT_OFF_CHAIN,
    RESPONDED,
    RESPONSES_BASE_GAS,
    RESPONSES_GAS_PER_PARTICIPANT,
    SCHEDULE_BASE_GAS,
    SCHEDULE_GAS_PER_ENTRY,
    UNMEASURED,
    BalancingError,
    BalancingHistory,
    BalancingMismatch,
    BudgetMove,
    DemandResponseEvent,
    DemandResponseKind,
    EventState,
    IslandReason,
    IslandRecord,
    OptOut,
    Participation,
    Response,
    ResponseRecord,
    ScheduleRecord,
)

__all__ = [
    "decode_balancing_events",
    "DemandResponseLedger",
    "delivered_wh",
    "dr_event_id",
    "dr_kind",
    "dr_target_wh",
    "BalancingLedger",
    "CONTRACT",
    "MAX_SCHEDULES_PER_TX",
    "MAX_PARTICIPANTS",
    "SCHEDULE_BASE_GAS",
    "SCHEDULE_GAS_PER_ENTRY",
    "OPEN_BASE_GAS",
    "OPEN_GAS_PER_PARTICIPANT",
    "RESPONSES_BASE_GAS",
    "RESPONSES_GAS_PER_PARTICIPANT",
    "OPT_OUT_GAS",
    "ISLAND_GAS",
    "FUND_GAS",
    "ENROLLED",
    "OPTED_OUT",
    "OPTED_OUT_OFF_CHAIN",
    "RESPONDED",
    "UNMEASURED",
    "NOT_MEASURED",
    "MAX_REQUESTED_WH",
    "BalancingError",
    "BalancingMismatch",
    "DemandResponseKind",
    "IslandReason",
    "ScheduleRecord",
    "DemandResponseEvent",
    "EventState",
    "Participation",
    "Response",
    "ResponseRecord",
    "OptOut",
    "IslandRecord",
    "BudgetMove",
    "BalancingHistory",
]
