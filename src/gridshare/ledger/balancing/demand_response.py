"""Demand response on chain: open an event of :mod:`gridshare.balancing.demand_response`,
relay opt-outs, record and pay the members' responses, read their standing.

:meth:`DemandResponseLedger.open_dr_event` and :meth:`DemandResponseLedger.record_dr_settlement`
put an event and its settlement on chain, so that the contract pays every member exactly
``ParticipantSettlement.payment_micros``: the contract caps each member's delivered energy at
the energy requested of it, as ``settle_event`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from gridshare.balancing import demand_response as dr
from gridshare.ledger.balancing.contract import GridBalancingContract, batches
from gridshare.ledger.balancing.records import (
    CONTRACT,
    ENROLLED,
    MAX_PARTICIPANTS,
    MAX_REQUESTED_WH,
    NOT_MEASURED,
    OPEN_BASE_GAS,
    OPEN_GAS_PER_PARTICIPANT,
    OPT_OUT_GAS,
    OPTED_OUT,
    RESPONDED,
    RESPONSES_BASE_GAS,
    RESPONSES_GAS_PER_PARTICIPANT,
    UNMEASURED,
    BalancingError,
    BalancingMismatch,
    DemandResponseKind,
    EventState,
    Participation,
    Response,
)
from gridshare.units import power_kw_to_wh


def dr_event_id(name: str) -> bytes:
    """The on-chain id of a demand-response event: keccak256 of its (OpenADR) id."""
    return bytes(keccak(text=name))


def dr_kind(kind: dr.EventKind) -> DemandResponseKind:
    """The contract's kind of a demand-response event kind."""
    return DemandResponseKind.SHIFT if kind is dr.EventKind.SHIFT else DemandResponseKind.CURTAIL


def dr_target_wh(event: dr.DemandResponseEvent) -> int:
    """The event's target power held over its window, nearest Wh (halves to even)."""
    return power_kw_to_wh(event.target_kw, event.duration)


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


def _called(event: dr.DemandResponseEvent, accounts: Mapping[int, str]) -> dict[int, str]:
    """The event's participants asked for at least 1 Wh, with their accounts, in order."""
    return {
        p: _account(accounts, p, event.event_id)
        for p in event.participants
        if event.requested_wh(p) > 0
    }


class DemandResponseLedger(GridBalancingContract):
    """GridBalancing's demand-response calls (events, opt-outs, responses and payments)."""

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
        return self._send_batches(
            "record_responses",
            todo,
            MAX_PARTICIPANTS,
            lambda part: (
                event_id,
                [to_checksum_address(r.participant) for r in part],
                [r.baseline_wh for r in part],
                [NOT_MEASURED if r.measured_wh is None else r.measured_wh for r in part],
            ),
            base_gas=RESPONSES_BASE_GAS,
            gas_per_item=RESPONSES_GAS_PER_PARTICIPANT,
        )

    def event_state(self, event_id: bytes) -> EventState | None:
        """The contract's state of an event, or None when it was never opened."""
        row = self.balancing.functions.dr_events(event_id).call()
        if int(row[2]) == 0:  # end: never 0 for a recorded event
            return None
        return EventState(DemandResponseKind(int(row[0])), *(int(v) for v in row[1:]))

    def participations(self, event_id: bytes, participants: Sequence[str]) -> list[Participation]:
        """The members' standing in an event (one call per 256)."""
        found: list[Participation] = []
        for batch in batches(participants, MAX_PARTICIPANTS):
            part = [to_checksum_address(p) for p in batch]
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
