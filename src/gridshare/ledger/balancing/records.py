"""The GridBalancing contract's records as Python values: schedules, demand-response events,
participations and responses, opt-outs, islands, budget moves; the contract's limits, gas
budgets and participant flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from gridshare.errors import GridshareError

CONTRACT = "GridBalancing"
MAX_SCHEDULES_PER_TX = 256
MAX_PARTICIPANTS = 256
"""Participants per event, and responses per ``record_responses`` transaction."""
SCHEDULE_BASE_GAS = 80_000
SCHEDULE_GAS_PER_ENTRY = 120_000
"""Measured (titanoboa, as a node charges): 93 k per schedule in a batch of 96, four fresh
storage slots and a log each; 129-163 k for a single ``record_schedule``."""
OPEN_BASE_GAS = 350_000
OPEN_GAS_PER_PARTICIPANT = 40_000
"""Measured: 215 k for an event of one member, 29 k per further member (its requested
energy shares the member's storage word); 3.06 M for 100."""
RESPONSES_BASE_GAS = 250_000
RESPONSES_GAS_PER_PARTICIPANT = 100_000
"""Measured: 231 k for an event's first response (paid to a fresh balance), then 63 k per
response paid to a member's fresh balance, 29 k once it has one; 6.28 M for 100."""
OPT_OUT_GAS = 120_000
"""Measured: 79 k for a relayed opt-out."""
ISLAND_GAS = 250_000
"""Measured: 165 k."""
FUND_GAS = 150_000

ENROLLED, OPTED_OUT, OPTED_OUT_OFF_CHAIN, RESPONDED, UNMEASURED = 1, 2, 4, 8, 16
"""Bits of the contract's ``participant_flags``."""
NOT_MEASURED = 2**256 - 1
"""The contract's measured_wh for a member without a reading for every interval."""
MAX_REQUESTED_WH = 10**12


class BalancingError(GridshareError):
    """A balancing record is malformed and cannot go on chain."""


class BalancingMismatch(BalancingError):
    """The chain holds a different balancing record than the one being sent."""


class DemandResponseKind(IntEnum):
    CURTAIL = 0
    """Use less in the window."""
    SHIFT = 1
    """Move use out of the window."""


class IslandReason(IntEnum):
    GRID_OUTAGE = 0
    GRID_DISTURBANCE = 1
    """Voltage or frequency out of bounds at the connection point."""
    PLANNED = 2
    TEST = 3
    OTHER = 4


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A dispatch schedule as recorded on chain."""

    interval_start_s: int
    horizon_intervals: int
    schedule_hash: bytes
    cost_micros: int
    """The planned community cost over the horizon (negative: the community earns)."""
    baseline_cost_micros: int
    """The baseline rule's cost over the same horizon."""

    def as_tuple(self) -> tuple[int, int, bytes, int, int]:
        return (
            self.interval_start_s,
            self.horizon_intervals,
            self.schedule_hash,
            self.cost_micros,
            self.baseline_cost_micros,
        )


@dataclass(frozen=True, slots=True)
class DemandResponseEvent:
    """A demand-response event as opened on chain."""

    event_id: bytes
    kind: DemandResponseKind
    start_s: int
    end_s: int
    """Exclusive: the window is ``[start_s, end_s)``."""
    target_wh: int
    rate_micros_per_kwh: int
    participants: tuple[str, ...]
    requested_wh: tuple[int, ...]
    """What each participant (same order) was asked to shed, Wh: its payment's cap."""


@dataclass(frozen=True, slots=True)
class EventState:
    """The contract's running totals of one event."""

    kind: DemandResponseKind
    start_s: int
    end_s: int
    target_wh: int
    rate_micros_per_kwh: int
    enrolled: int
    requested_wh: int
    """The sum of the members' requested energy."""
    opted_out: int
    responded: int
    delivered_wh: int
    paid_micros: int

    def terms(self) -> tuple[int, ...]:
        """What ``open_event`` set: kind, window, target, rate, members, requested total."""
        return (
            int(self.kind),
            self.start_s,
            self.end_s,
            self.target_wh,
            self.rate_micros_per_kwh,
            self.enrolled,
            self.requested_wh,
        )


@dataclass(frozen=True, slots=True)
class Participation:
    """A member's standing in one event, as the contract holds it."""

    flags: int
    """Bits ENROLLED | OPTED_OUT | OPTED_OUT_OFF_CHAIN | RESPONDED | UNMEASURED."""
    requested_wh: int
    delivered_wh: int
    payment_micros: int


@dataclass(frozen=True, slots=True)
class Response:
    """A member's energy over an event window, as the operator measured it."""

    participant: str
    baseline_wh: int
    measured_wh: int | None
    """None: no reading for every interval of the window (nothing is paid)."""


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A response as the contract recorded and paid it."""

    event_id: bytes
    participant: str
    baseline_wh: int
    measured_wh: int | None
    """None: recorded as unmeasured (NOT_MEASURED on chain)."""
    delivered_wh: int
    payment_micros: int


@dataclass(frozen=True, slots=True)
class OptOut:
    event_id: bytes
    participant: str
    off_chain: bool
    """Recorded by the operator for an opt-out that reached it off-chain (OpenADR)."""
    received_at_s: int


@dataclass(frozen=True, slots=True)
class IslandRecord:
    """An islanding episode over the intervals ``start_s..end_s`` (interval starts, end
    inclusive)."""

    start_s: int
    end_s: int
    reason: IslandReason
    shed_wh: int
    unserved_critical_wh: int
    served_critical_wh: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.start_s,
            self.end_s,
            int(self.reason),
            self.shed_wh,
            self.unserved_critical_wh,
            self.served_critical_wh,
        )


@dataclass(frozen=True, slots=True)
class BudgetMove:
    """Credit moved into (``amount_micros > 0``) or out of the flexibility budget pool."""

    account: str
    amount_micros: int
    pool_micros: int


@dataclass
class BalancingHistory:
    """Every GridBalancing event of a block range, decoded, in chain order."""

    schedules: list[ScheduleRecord] = field(default_factory=list)
    events: list[DemandResponseEvent] = field(default_factory=list)
    opt_outs: list[OptOut] = field(default_factory=list)
    responses: list[ResponseRecord] = field(default_factory=list)
    islands: list[IslandRecord] = field(default_factory=list)
    budget: list[BudgetMove] = field(default_factory=list)

    def paid_micros_by_participant(self) -> dict[str, int]:
        paid: dict[str, int] = {}
        for r in self.responses:
            paid[r.participant] = paid.get(r.participant, 0) + r.payment_micros
        return paid
