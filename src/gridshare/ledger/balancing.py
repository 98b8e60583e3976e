"""The GridBalancing contract from Python: schedules, demand response, islanding, audit.

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

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract

from gridshare.balancing import demand_response as dr
from gridshare.balancing.schedule import schedule_hash
from gridshare.errors import GridshareError
from gridshare.ledger.calls import calldata
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.events import EventReader
from gridshare.ledger.transactions import SentTransaction, TransactionManager
from gridshare.model.chain import ChainEvent, JsonScalar
from gridshare.units import power_kw_to_energy_wh

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


def _where(event: ChainEvent) -> str:
    return f"block {event.block_number} log {event.log_index}: {event.event}"


def _int(event: ChainEvent, name: str) -> int:
    value = event.arg(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not an integer")
    return value


def _bytes32(event: ChainEvent, name: str) -> bytes:
    value = str(event.arg(name))
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not 32 bytes")
    return bytes.fromhex(value[2:])


def _address(event: ChainEvent, name: str) -> str:
    value = str(event.arg(name))
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not an address")
    return str(to_checksum_address(value))


def _addresses(value: JsonScalar) -> tuple[str, ...]:
    """An address array argument: the indexer stores arrays as their text."""
    return tuple(str(to_checksum_address(a)) for a in re.findall(r"0x[0-9a-fA-F]{40}", str(value)))


def _uints(value: JsonScalar) -> tuple[int, ...]:
    """A uint array argument, from its text (e.g. ``(4000, 2500)`` or ``[4000, 2500]``)."""
    return tuple(int(v) for v in re.findall(r"\d+", str(value)))


def decode_balancing_events(events: Iterable[ChainEvent]) -> BalancingHistory:
    """The GridBalancing events among ``events`` (from the chain or the store's index),
    decoded into typed records."""
    history = BalancingHistory()
    for e in events:
        if e.contract != CONTRACT:
            continue
        if e.event == "ScheduleRecorded":
            history.schedules.append(
                ScheduleRecord(
                    _int(e, "interval_start"),
                    _int(e, "horizon_intervals"),
                    _bytes32(e, "schedule_hash"),
                    _int(e, "cost_micros"),
                    _int(e, "baseline_cost_micros"),
                )
            )
        elif e.event == "EventOpened":
            history.events.append(
                DemandResponseEvent(
                    _bytes32(e, "event_id"),
                    DemandResponseKind(_int(e, "kind")),
                    _int(e, "start"),
                    _int(e, "end"),
                    _int(e, "target_wh"),
                    _int(e, "rate_micros_per_kwh"),
                    _addresses(e.arg("participants")),
                    _uints(e.arg("requested_wh")),
                )
            )
        elif e.event == "OptedOut":
            off_chain = e.arg("off_chain")
            history.opt_outs.append(
                OptOut(
                    _bytes32(e, "event_id"),
                    _address(e, "participant"),
                    off_chain is True or str(off_chain).lower() == "true",
                    _int(e, "received_at"),
                )
            )
        elif e.event == "ResponseRecorded":
            measured = _int(e, "measured_wh")
            history.responses.append(
                ResponseRecord(
                    _bytes32(e, "event_id"),
                    _address(e, "participant"),
                    _int(e, "baseline_wh"),
                    None if measured == NOT_MEASURED else measured,
                    _int(e, "delivered_wh"),
                    _int(e, "payment_micros"),
                )
            )
        elif e.event == "IslandRecorded":
            history.islands.append(
                IslandRecord(
                    _int(e, "start"),
                    _int(e, "end"),
                    IslandReason(_int(e, "reason")),
                    _int(e, "shed_wh"),
                    _int(e, "unserved_critical_wh"),
                    _int(e, "served_critical_wh"),
                )
            )
        elif e.event == "BudgetFunded":
            history.budget.append(
                BudgetMove(_address(e, "payer"), _int(e, "amount"), _int(e, "pool"))
            )
        elif e.event == "BudgetWithdrawn":
            history.budget.append(
                BudgetMove(_address(e, "receiver"), -_int(e, "amount"), _int(e, "pool"))
            )
    return history


def dr_event_id(name: str) -> bytes:
    """The on-chain id of a demand-response event: keccak256 of its (OpenADR) id."""
    return bytes(keccak(text=name))


def dr_kind(kind: dr.EventKind) -> DemandResponseKind:
    """The contract's kind of a demand-response event kind."""
    return DemandResponseKind.SHIFT if kind is dr.EventKind.SHIFT else DemandResponseKind.CURTAIL


def dr_target_wh(event: dr.DemandResponseEvent) -> int:
    """The event's target power held over its window, nearest Wh (halves to even)."""
    return round(power_kw_to_energy_wh(event.target_kw, event.duration))


def _account(accounts: Mapping[int, str], participant_index: int, name: str) -> str:
    try:
        return str(to_checksum_address(accounts[participant_index]))
    except KeyError:
        raise BalancingError(
            f"event {name!r}: no account for participant {participant_index}; pass every "
            "called participant's account"
        ) from None


def delivered_wh(record: Participation, response: Response) -> int:
    """What the contract credits ``response`` of a member standing as ``record``."""
    if record.flags & OPTED_OUT or response.measured_wh is None:
        return 0
    reduction = max(0, response.baseline_wh - response.measured_wh)
    return min(reduction, record.requested_wh)


def _schedule(start_s: int, row: Sequence[Any]) -> ScheduleRecord | None:
    """A schedule from the contract's struct (None where the hash is empty: none made)."""
    if bytes(row[0]) == bytes(32):
        return None
    return ScheduleRecord(start_s, int(row[1]), bytes(row[0]), int(row[2]), int(row[3]))


def _called(event: dr.DemandResponseEvent, accounts: Mapping[int, str]) -> dict[int, str]:
    """The event's participants asked for at least 1 Wh, with their accounts, in order."""
    return {
        p: _account(accounts, p, event.event_id)
        for p in event.participants
        if event.requested_wh(p) > 0
    }


class BalancingLedger:
    """The community's GridBalancing contract, driven by the operator's key."""

    schedule_hash = staticmethod(schedule_hash)

    def __init__(self, tm: TransactionManager, deployment: Deployment) -> None:
        self.tm = tm
        self.web3 = tm.web3
        self.deployment = deployment
        self.address = to_checksum_address(deployment.address(CONTRACT))
        self.balancing: Contract = contract(self.web3, deployment, CONTRACT)
        self.credit: Contract = contract(self.web3, deployment, "CommunityCredit")
        self.sent: list[SentTransaction] = []

    def _send(self, contract_name: str, to: str, function: str, *args: Any, gas: int) -> None:
        data = calldata(contract_name, function, *args)
        self.sent.append(self.tm.send({"to": to, "data": data}, gas=gas))

    # -- schedules --------------------------------------------------------------------
    def record_schedules(
        self, schedules: Sequence[ScheduleRecord | tuple[int, int, bytes, int, int]]
    ) -> int:
        """Record schedules the chain does not hold yet, up to 256 per transaction;
        returns the transactions sent. A schedule is a :class:`ScheduleRecord` or its
        tuple (interval start, horizon intervals, hash, planned cost, baseline cost)."""
        records = [s if isinstance(s, ScheduleRecord) else ScheduleRecord(*s) for s in schedules]
        fresh = []
        onchain = self.schedules([s.interval_start_s for s in records])
        for ours, theirs in zip(records, onchain, strict=True):
            if theirs is None:
                fresh.append(ours)
            elif theirs != ours:
                raise BalancingMismatch(
                    f"interval {ours.interval_start_s}: the chain holds the schedule {theirs}, "
                    f"not {ours}; a recorded schedule is never rewritten"
                )
        sent = 0
        for first in range(0, len(fresh), MAX_SCHEDULES_PER_TX):
            part = fresh[first : first + MAX_SCHEDULES_PER_TX]
            self._send(
                CONTRACT,
                self.address,
                "record_schedules",
                [s.as_tuple() for s in part],
                gas=SCHEDULE_BASE_GAS + SCHEDULE_GAS_PER_ENTRY * len(part),
            )
            sent += 1
        return sent

    def schedule(self, interval_start_s: int) -> ScheduleRecord | None:
        """The schedule recorded for an interval, or None."""
        row = self.balancing.functions.schedules(interval_start_s).call()
        return _schedule(interval_start_s, row)

    def schedules(self, starts: Sequence[int]) -> list[ScheduleRecord | None]:
        """The schedules of many intervals (one call per 256)."""
        found: list[ScheduleRecord | None] = []
        for first in range(0, len(starts), MAX_SCHEDULES_PER_TX):
            part = list(starts[first : first + MAX_SCHEDULES_PER_TX])
            rows = self.balancing.functions.schedules_of(part).call()
            found += [_schedule(s, row) for s, row in zip(part, rows, strict=True)]
        return found

    # -- the flexibility budget -------------------------------------------------------
    def fund(self, amount_micros: int, *, reference: str | None = None) -> None:
        """Move ``amount_micros`` of the operator's credit into the budget pool.

        With ``reference``, the operator first mints the amount to itself against that
        deposit reference (money the community fund received off-chain); a reference
        minted before means the whole top-up was done, and nothing is sent.
        """
        if amount_micros <= 0:
            raise BalancingError(f"fund a positive amount of micro-units, not {amount_micros}")
        credit = to_checksum_address(self.deployment.address("CommunityCredit"))
        operator = self.tm.signer.address
        if reference is not None:
            ref = keccak(text=reference)
            if self.credit.functions.deposit_used(ref).call():
                return
            self._send("CommunityCredit", credit, "mint", operator, amount_micros, ref, gas=150_000)
        self._send("CommunityCredit", credit, "approve", self.address, amount_micros, gas=80_000)
        self._send(CONTRACT, self.address, "fund", amount_micros, gas=FUND_GAS)

    def withdraw_budget(self, amount_micros: int, receiver: str | None = None) -> None:
        """Return unspent budget to ``receiver`` (the operator by default)."""
        to = to_checksum_address(receiver or self.tm.signer.address)
        self._send(CONTRACT, self.address, "withdraw_budget", to, amount_micros, gas=FUND_GAS)

    def pool_micros(self) -> int:
        return int(self.balancing.functions.pool_micros().call())

    def total_paid_micros(self) -> int:
        return int(self.balancing.functions.total_paid_micros().call())

    def paid_to(self, account: str) -> int:
        """Everything demand response paid ``account`` so far, micro-units."""
        return int(self.balancing.functions.paid_to(to_checksum_address(account)).call())

    # -- demand response --------------------------------------------------------------
    def open_event(
        self,
        event_id: bytes,
        kind: DemandResponseKind,
        start_s: int,
        end_s: int,
        target_wh: int,
        rate_micros_per_kwh: int,
        participants: Sequence[str],
        requested_wh: Sequence[int],
    ) -> bool:
        """Open an event for ``participants`` (at most 256), asking each for its
        ``requested_wh`` (same order, 1 to 10^12 Wh: what the member is paid for at
        most); False when the chain has it already with the same terms."""
        if not 0 < len(participants) <= MAX_PARTICIPANTS:
            raise BalancingError(
                f"an event enrols 1 to {MAX_PARTICIPANTS} participants, not {len(participants)}"
            )
        if len(requested_wh) != len(participants):
            raise BalancingError(
                f"{len(participants)} participants but {len(requested_wh)} requested amounts; "
                "give one per participant"
            )
        for participant, wh in zip(participants, requested_wh, strict=True):
            if not 0 < wh <= MAX_REQUESTED_WH:
                raise BalancingError(
                    f"participant {participant}: requested {wh} Wh; it must be 1 to "
                    f"{MAX_REQUESTED_WH} Wh"
                )
        existing = self.event_state(event_id)
        if existing is not None:
            ours = (int(kind), start_s, end_s, target_wh, rate_micros_per_kwh)
            if existing.terms() != (*ours, len(participants), sum(requested_wh)):
                raise BalancingMismatch(
                    f"event 0x{event_id.hex()} is on chain with other terms: {existing}"
                )
            records = self.participations(event_id, participants)
            for participant, wh, record in zip(participants, requested_wh, records, strict=True):
                if not record.flags & ENROLLED or record.requested_wh != wh:
                    raise BalancingMismatch(
                        f"event 0x{event_id.hex()} is on chain with other participants: "
                        f"{participant} asked for {wh} Wh here, on chain {record}"
                    )
            return False
        self._send(
            CONTRACT,
            self.address,
            "open_event",
            event_id,
            int(kind),
            start_s,
            end_s,
            target_wh,
            rate_micros_per_kwh,
            [to_checksum_address(p) for p in participants],
            [int(wh) for wh in requested_wh],
            gas=OPEN_BASE_GAS + OPEN_GAS_PER_PARTICIPANT * len(participants),
        )
        return True

    def open_dr_event(self, event: dr.DemandResponseEvent, accounts: Mapping[int, str]) -> bool:
        """Open a demand-response event of the pipeline on chain: id
        ``dr_event_id(event.event_id)``, its kind, window and rate, the target power held
        over the window (nearest Wh) and each called participant's account (``accounts``:
        participant position -> address) asked for ``event.requested_wh(p)``. A
        participant asked for 0 Wh (a request below half a Wh) can earn nothing and is
        left off the chain. False when the chain has the event already (or nothing to
        open)."""
        called = _called(event, accounts)
        if not called:
            return False
        return self.open_event(
            dr_event_id(event.event_id),
            dr_kind(event.kind),
            event.start_s,
            event.end_s,
            dr_target_wh(event),
            event.rate_micros_per_kwh,
            list(called.values()),
            [event.requested_wh(p) for p in called],
        )

    def record_dr_settlement(
        self,
        event: dr.DemandResponseEvent,
        settlement: dr.EventSettlement,
        accounts: Mapping[int, str],
    ) -> int:
        """Record a settled event and pay its members: the event as
        :meth:`open_dr_event` opens it (checked, or opened now when the chain lacks it),
        the opt-outs the chain lacks (relayed with ``opt_out_for``, received one interval
        before the start), then every member's baseline and measured energy (unmeasured
        members as NOT_MEASURED). The contract then pays each member exactly its
        ``payment_micros``. Returns the transactions sent; members recorded before are
        skipped, and a chain record that contradicts the event or the settlement (other
        terms, an opt-out the settlement does not have, another delivery) raises
        :class:`BalancingMismatch`."""
        if settlement.event_id != event.event_id:
            raise BalancingError(
                f"the settlement of event {settlement.event_id!r} does not settle event "
                f"{event.event_id!r}"
            )
        called = _called(event, accounts)
        rows = [r for r in settlement.participants if r.participant_index in called]
        if not rows:
            return 0
        sent = int(self.open_dr_event(event, accounts))
        event_id = dr_event_id(event.event_id)
        members = [called[r.participant_index] for r in rows]
        records = self.participations(event_id, members)
        for row, member, record in zip(rows, members, records, strict=True):
            if not record.flags & ENROLLED or record.requested_wh != row.requested_wh:
                raise BalancingMismatch(
                    f"event {event.event_id!r}: participant {row.participant_index} ({member}) "
                    f"was asked for {row.requested_wh} Wh, on chain {record}"
                )
            opted_out = row.response is dr.ParticipantResponse.OPTED_OUT
            if opted_out and not record.flags & OPTED_OUT:
                if record.flags & RESPONDED:
                    raise BalancingMismatch(
                        f"event {event.event_id!r}: participant {row.participant_index} "
                        f"({member}) opted out, but the chain recorded its response: {record}"
                    )
                self._send_opt_out(event_id, member, event.start_s - event.interval_s)
                sent += 1
            elif not opted_out and record.flags & OPTED_OUT:
                raise BalancingMismatch(
                    f"event {event.event_id!r}: participant {row.participant_index} ({member}) "
                    f"opted out on chain but {row.response.value} in the settlement"
                )
        responses = [
            Response(member, row.baseline_wh, row.measured_wh if row.is_measured else None)
            for row, member in zip(rows, members, strict=True)
        ]
        return sent + self.record_responses(event_id, responses)

    def opt_out_for(self, event_id: bytes, participant: str, received_at_s: int) -> bool:
        """Record an opt-out that reached the operator off-chain at ``received_at_s``
        (before the event's start); False when the chain has the member opted out."""
        if self.participant_flags(event_id, participant) & OPTED_OUT:
            return False
        self._send_opt_out(event_id, participant, received_at_s)
        return True

    def _send_opt_out(self, event_id: bytes, participant: str, received_at_s: int) -> None:
        self._send(
            CONTRACT,
            self.address,
            "opt_out_for",
            event_id,
            to_checksum_address(participant),
            received_at_s,
            gas=OPT_OUT_GAS,
        )

    def record_responses(self, event_id: bytes, responses: Sequence[Response]) -> int:
        """Record and pay the members' responses after the event, skipping members the
        chain has a response for (refused with :class:`BalancingMismatch` when it
        credited them otherwise); returns the transactions sent (256 members each)."""
        records = self.participations(event_id, [r.participant for r in responses])
        todo = []
        for response, record in zip(responses, records, strict=True):
            if not record.flags & RESPONDED:
                todo.append(response)
                continue
            unmeasured = bool(record.flags & UNMEASURED)
            expected = delivered_wh(record, response)
            if (record.delivered_wh, unmeasured) != (expected, response.measured_wh is None):
                raise BalancingMismatch(
                    f"event 0x{event_id.hex()}: the chain recorded {response.participant}'s "
                    f"response as {record}, not as {response} (delivering {expected} Wh)"
                )
        sent = 0
        for first in range(0, len(todo), MAX_PARTICIPANTS):
            part = todo[first : first + MAX_PARTICIPANTS]
            self._send(
                CONTRACT,
                self.address,
                "record_responses",
                event_id,
                [to_checksum_address(r.participant) for r in part],
                [r.baseline_wh for r in part],
                [NOT_MEASURED if r.measured_wh is None else r.measured_wh for r in part],
                gas=RESPONSES_BASE_GAS + RESPONSES_GAS_PER_PARTICIPANT * len(part),
            )
            sent += 1
        return sent

    def event_state(self, event_id: bytes) -> EventState | None:
        """The contract's state of an event, or None when it was never opened."""
        row = self.balancing.functions.dr_events(event_id).call()
        if int(row[2]) == 0:  # end: never 0 for a recorded event
            return None
        return EventState(DemandResponseKind(int(row[0])), *(int(v) for v in row[1:]))

    def participations(self, event_id: bytes, participants: Sequence[str]) -> list[Participation]:
        """The members' standing in an event (one call per 256)."""
        found: list[Participation] = []
        for first in range(0, len(participants), MAX_PARTICIPANTS):
            part = [to_checksum_address(p) for p in participants[first : first + MAX_PARTICIPANTS]]
            rows = self.balancing.functions.participations(event_id, part).call()
            found += [Participation(*(int(v) for v in row)) for row in rows]
        return found

    def response_of(self, event_id: bytes, participant: str) -> Participation:
        """A member's flags, requested and delivered Wh and payment in an event."""
        view = self.balancing.functions.response_of(event_id, to_checksum_address(participant))
        return Participation(*(int(v) for v in view.call()))

    def participant_flags(self, event_id: bytes, participant: str) -> int:
        """Bits ENROLLED | OPTED_OUT | OPTED_OUT_OFF_CHAIN | RESPONDED | UNMEASURED."""
        view = self.balancing.functions.participant_flags(
            event_id, to_checksum_address(participant)
        )
        return int(view.call())

    # -- islanding --------------------------------------------------------------------
    def record_island(
        self,
        start_s: int,
        end_s: int,
        shed_wh: int,
        unserved_critical_wh: int,
        served_critical_wh: int,
        *,
        reason: IslandReason = IslandReason.GRID_OUTAGE,
    ) -> int:
        """Record an islanding episode over the intervals ``start_s..end_s`` (interval
        starts, end inclusive); returns the transactions sent: 0 when it is the last
        episode the chain holds already."""
        island = IslandRecord(
            start_s, end_s, reason, shed_wh, unserved_critical_wh, served_critical_wh
        )
        count = int(self.balancing.functions.island_count().call())
        if count:
            last = self.island(count - 1)
            if last == island:
                return 0
            if island.start_s <= last.end_s:
                raise BalancingMismatch(
                    f"the island {island} does not follow the last one recorded, {last}"
                )
        self._send(CONTRACT, self.address, "record_island", *island.as_tuple(), gas=ISLAND_GAS)
        return 1

    def island(self, index: int) -> IslandRecord:
        row = self.balancing.functions.islands(index).call()
        return IslandRecord(
            int(row[0]), int(row[1]), IslandReason(int(row[2])), *(int(v) for v in row[3:])
        )

    # -- audit ------------------------------------------------------------------------
    def history(
        self, from_block: int | None = None, to_block: int | None = None
    ) -> BalancingHistory:
        """Every GridBalancing event of blocks ``from_block..to_block`` (by default from
        the contract's deployment to the latest block), decoded. ``gridshare verify``
        decodes the store's indexed copy instead: :func:`decode_balancing_events`."""
        entry = self.deployment.contracts[CONTRACT]
        only = Deployment(self.deployment.chain_id, self.deployment.deployer, {CONTRACT: entry})
        first = entry.block_number if from_block is None else from_block
        last = int(self.web3.eth.block_number) if to_block is None else to_block
        return decode_balancing_events(EventReader(self.web3, only).read(first, last))

    @property
    def gas_used(self) -> int:
        return sum(s.gas_used for s in self.sent)
