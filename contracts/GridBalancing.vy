# pragma version ~=0.4.3
"""
@title GridBalancing
@notice The community's balancing record: the dispatch schedule the operator planned for
        each interval, demand-response events with every member's measured response and
        payment, and islanding episodes. Members audit here why their battery or load was
        moved and what they were paid for it.
@dev Units: energy in Wh, money in micro-units of CommunityCredit, rates in micro-units
     per kWh. Times are unix seconds (UTC); every start and end is aligned to
     EnergyMonitoring's interval length.
     Schedules. One per planning interval, immutable once recorded. `schedule_hash`
     commits to the per-device setpoints of the plan (the encoding is spelled out at
     the `schedule_hash` view; gridshare.ledger.balancing.schedule_hash computes it
     off-chain, so `gridshare verify` can recompute it from the store). The costs are the
     optimiser's planned community cost and the cost of the baseline rule over the
     horizon, micro-units (negative when the community earns).
     Demand response. The operator opens an event for active members it enrols, each
     asked for its own energy (`requested_wh`: the requested power held over the window);
     a member may opt out before the start, or the operator records an opt-out that
     reached it off-chain (OpenADR) before the start, flagged as such. After the end the
     operator records each member's baseline and measured energy over the event window;
     the contract computes
     delivered_wh = min(max(0, baseline_wh - measured_wh), the member's requested_wh)
     and pays floor(delivered_wh * rate / 1000) micro-units (a payee's amount rounds
     down) from the flexibility budget pool, which the community fund tops up with
     `fund` (gridshare.balancing.demand_response.settle_event computes the same
     off-chain). A measured_wh of NOT_MEASURED (2**256 - 1) records a member without a
     reading for every interval of the window: nothing delivered, nothing paid. A payment
     the pool cannot cover is refused, never partly made; opted-out members are paid
     nothing. Every micro-unit leaving the pool reaches a member or, by
     `withdraw_budget`, goes back to the fund. Event windows are [start, end).
     Block time. The operator may record after the fact (simulations of past dates run on
     a chain whose clock is now): `open_event` does not compare the window with
     block.timestamp, `opt_out_for` only needs the opt-out to have arrived before the
     start and not after the block time, and `record_responses` only needs the block time
     to be at or after the end. A member's own `opt_out` must come before the start in
     block time (so a past event cannot be opted out of by its members).
     Islanding. An episode covers the intervals start..end, both interval starts (end
     inclusive: a one-interval island has end == start); episodes are recorded in order
     and never overlap.
"""

from interfaces import ICommunityCredit
from interfaces import IEnergyMonitoring
from interfaces import IParticipantRegistry

MAX_BATCH: constant(uint256) = 256
MAX_PARTICIPANTS: constant(uint256) = 256
MAX_SETPOINTS: constant(uint256) = 1024

WH_PER_KWH: constant(uint256) = 1000
# Sane bounds: 1 TWh per event and per member and 10^6 currency units per kWh; with them
# a payment can never overflow.
MAX_TARGET_WH: constant(uint256) = 10**12
MAX_REQUESTED_WH: constant(uint256) = 10**12
MAX_RATE_MICROS_PER_KWH: constant(uint256) = 10**12

KIND_CURTAIL: constant(uint8) = 0
KIND_SHIFT: constant(uint8) = 1

# Island reasons: 0 grid outage, 1 grid disturbance (voltage or frequency), 2 planned
# (maintenance), 3 test, 4 other.
MAX_ISLAND_REASON: constant(uint8) = 4

# `record_responses`' measured_wh for a member without a complete reading of the window.
NOT_MEASURED: constant(uint256) = max_value(uint256)

# A member's record of an event is one storage word: the flags in bits 0-7, requested Wh in
# bits 8-71, delivered Wh in bits 72-135 and the payment in bits 136-255 (all fit:
# delivered <= requested <= 10^12 Wh < 2^40 and payment <= 10^21 micro-units < 2^70
# under the bounds above).
ENROLLED: constant(uint256) = 1
OPTED_OUT: constant(uint256) = 2
OPTED_OUT_OFF_CHAIN: constant(uint256) = 4
RESPONDED: constant(uint256) = 8
UNMEASURED: constant(uint256) = 16
FLAGS_MASK: constant(uint256) = 255
WH_MASK: constant(uint256) = 2**64 - 1
REQUESTED_SHIFT: constant(uint256) = 8
DELIVERED_SHIFT: constant(uint256) = 72
PAYMENT_SHIFT: constant(uint256) = 136


struct Schedule:
    schedule_hash: bytes32
    horizon_intervals: uint256
    cost_micros: int256
    baseline_cost_micros: int256


struct ScheduleEntry:
    interval_start: uint256
    horizon_intervals: uint256
    schedule_hash: bytes32
    cost_micros: int256
    baseline_cost_micros: int256


struct Setpoint:
    step: uint256
    meter_id: bytes32
    charge_wh: uint256
    discharge_wh: uint256


struct DemandResponseEvent:
    kind: uint8
    start: uint256
    end: uint256
    target_wh: uint256
    rate_micros_per_kwh: uint256
    enrolled: uint256
    requested_wh: uint256
    opted_out: uint256
    responded: uint256
    delivered_wh: uint256
    paid_micros: uint256


struct Participation:
    flags: uint256
    requested_wh: uint256
    delivered_wh: uint256
    payment_micros: uint256


struct Island:
    start: uint256
    end: uint256
    reason: uint8
    shed_wh: uint256
    unserved_critical_wh: uint256
    served_critical_wh: uint256


event ScheduleRecorded:
    interval_start: indexed(uint256)
    horizon_intervals: uint256
    schedule_hash: bytes32
    cost_micros: int256
    baseline_cost_micros: int256


event EventOpened:
    event_id: indexed(bytes32)
    kind: uint8
    start: uint256
    end: uint256
    target_wh: uint256
    rate_micros_per_kwh: uint256
    participants: DynArray[address, MAX_PARTICIPANTS]
    requested_wh: DynArray[uint256, MAX_PARTICIPANTS]


event OptedOut:
    event_id: indexed(bytes32)
    participant: indexed(address)
    off_chain: bool
    received_at: uint256


event ResponseRecorded:
    event_id: indexed(bytes32)
    participant: indexed(address)
    baseline_wh: uint256
    measured_wh: uint256
    delivered_wh: uint256
    payment_micros: uint256


event IslandRecorded:
    index: indexed(uint256)
    start: uint256
    end: uint256
    reason: uint8
    shed_wh: uint256
    unserved_critical_wh: uint256
    served_critical_wh: uint256


event BudgetFunded:
    payer: indexed(address)
    amount: uint256
    pool: uint256


event BudgetWithdrawn:
    receiver: indexed(address)
    amount: uint256
    pool: uint256


registry: public(immutable(IParticipantRegistry))
credit: public(immutable(ICommunityCredit))
monitoring: public(immutable(IEnergyMonitoring))
interval_length_s: public(immutable(uint64))

schedules: public(HashMap[uint256, Schedule])
schedule_count: public(uint256)
planned_savings_micros: public(int256)

dr_events: public(HashMap[bytes32, DemandResponseEvent])
dr_event_count: public(uint256)
_records: HashMap[bytes32, HashMap[address, uint256]]
paid_to: public(HashMap[address, uint256])

pool_micros: public(uint256)
total_funded_micros: public(uint256)
total_withdrawn_micros: public(uint256)
total_paid_micros: public(uint256)

islands: public(HashMap[uint256, Island])
island_count: public(uint256)


@deploy
def __init__(
    registry_: IParticipantRegistry, credit_: ICommunityCredit, monitoring_: IEnergyMonitoring
):
    """
    @notice Deploy the balancing record of one community. CommunityCredit must then trust
            it (`set_trusted`) so it can hold the flexibility budget.
    @param registry_ The community's ParticipantRegistry; its operator records.
    @param credit_ The community's CommunityCredit, the currency of the payments.
    @param monitoring_ The community's EnergyMonitoring, whose interval length every
           start and end is aligned to.
    """
    registry = registry_
    credit = credit_
    monitoring = monitoring_
    interval_length_s = staticcall monitoring_.interval_length_s()


# ---------------------------------------------------------------------------------------
# Internals


@view
@internal
def _only_operator():
    operator: address = staticcall registry.operator()
    assert msg.sender == operator, "GridBalancing: caller is not the operator"


@view
@internal
def _aligned(moment: uint256) -> bool:
    return moment % convert(interval_length_s, uint256) == 0


@pure
@internal
def _delivered(baseline_wh: uint256, measured_wh: uint256, requested_wh: uint256) -> uint256:
    """min(max(0, baseline_wh - measured_wh), requested_wh); 0 for NOT_MEASURED."""
    if measured_wh >= baseline_wh:
        return 0
    return min(baseline_wh - measured_wh, requested_wh)


@pure
@internal
def _participation(record: uint256) -> Participation:
    return Participation(
        flags=record & FLAGS_MASK,
        requested_wh=(record >> REQUESTED_SHIFT) & WH_MASK,
        delivered_wh=(record >> DELIVERED_SHIFT) & WH_MASK,
        payment_micros=record >> PAYMENT_SHIFT,
    )


@internal
def _record_schedule(e: ScheduleEntry):
    assert self._aligned(e.interval_start), "GridBalancing: start is not aligned to an interval"
    assert e.horizon_intervals > 0, "GridBalancing: zero horizon"
    assert e.schedule_hash != empty(bytes32), "GridBalancing: empty schedule hash"
    # The hash is never empty in a stored schedule, so it doubles as the "exists" flag.
    assert (
        self.schedules[e.interval_start].schedule_hash == empty(bytes32)
    ), "GridBalancing: schedule already recorded"
    self.schedules[e.interval_start] = Schedule(
        schedule_hash=e.schedule_hash,
        horizon_intervals=e.horizon_intervals,
        cost_micros=e.cost_micros,
        baseline_cost_micros=e.baseline_cost_micros,
    )
    log ScheduleRecorded(
        interval_start=e.interval_start,
        horizon_intervals=e.horizon_intervals,
        schedule_hash=e.schedule_hash,
        cost_micros=e.cost_micros,
        baseline_cost_micros=e.baseline_cost_micros,
    )


@view
@internal
def _event(event_id: bytes32) -> DemandResponseEvent:
    ev: DemandResponseEvent = self.dr_events[event_id]
    # end > start >= 0 in a stored event, so `end` doubles as the "exists" flag.
    assert ev.end != 0, "GridBalancing: unknown event"
    return ev


@internal
def _opt_out(event_id: bytes32, participant: address, off_chain: bool, received_at: uint256):
    flags: uint256 = self._records[event_id][participant]
    assert flags & ENROLLED != 0, "GridBalancing: participant not enrolled"
    assert flags & OPTED_OUT == 0, "GridBalancing: already opted out"
    assert flags & RESPONDED == 0, "GridBalancing: response already recorded"
    flags |= OPTED_OUT
    if off_chain:
        flags |= OPTED_OUT_OFF_CHAIN
    self._records[event_id][participant] = flags
    self.dr_events[event_id].opted_out += 1
    log OptedOut(
        event_id=event_id, participant=participant, off_chain=off_chain, received_at=received_at
    )


# ---------------------------------------------------------------------------------------
# Dispatch schedules


@external
def record_schedule(
    interval_start: uint256,
    horizon_intervals: uint256,
    schedule_hash: bytes32,
    cost_micros: int256,
    baseline_cost_micros: int256,
):
    """
    @notice Record the dispatch schedule planned at one interval.
    @dev Reverts for a caller other than the operator, a start not aligned to the
         interval length, a zero horizon or hash, or an interval already recorded.
    @param interval_start The planning interval's start, unix seconds (UTC).
    @param horizon_intervals How many intervals the schedule covers, from this one.
    @param schedule_hash The hash of the setpoints (see `schedule_hash`).
    @param cost_micros The planned community cost over the horizon, micro-units.
    @param baseline_cost_micros The baseline rule's cost over the horizon, micro-units.
    """
    self._only_operator()
    self._record_schedule(
        ScheduleEntry(
            interval_start=interval_start,
            horizon_intervals=horizon_intervals,
            schedule_hash=schedule_hash,
            cost_micros=cost_micros,
            baseline_cost_micros=baseline_cost_micros,
        )
    )
    self.schedule_count += 1
    self.planned_savings_micros += baseline_cost_micros - cost_micros


@external
def record_schedules(entries: DynArray[ScheduleEntry, MAX_BATCH]):
    """
    @notice Record up to 256 schedules in one transaction.
    @dev Each entry follows the rules of `record_schedule`; one bad entry reverts all.
    @param entries The schedules: interval start, horizon, hash, cost and baseline cost.
    """
    self._only_operator()
    savings: int256 = 0
    for e: ScheduleEntry in entries:
        self._record_schedule(e)
        savings += e.baseline_cost_micros - e.cost_micros
    self.schedule_count += len(entries)
    self.planned_savings_micros += savings


@view
@external
def has_schedule(interval_start: uint256) -> bool:
    """
    @notice Whether a schedule is recorded for an interval.
    @param interval_start An interval's start, unix seconds (UTC).
    @return True once `record_schedule(s)` recorded it.
    """
    return self.schedules[interval_start].schedule_hash != empty(bytes32)


@view
@external
def schedules_of(starts: DynArray[uint256, MAX_BATCH]) -> DynArray[Schedule, MAX_BATCH]:
    """
    @notice The schedules of many intervals in one call (auditing).
    @param starts Interval starts, unix seconds (UTC).
    @return One schedule per start (all zero where none was recorded).
    """
    found: DynArray[Schedule, MAX_BATCH] = []
    for start: uint256 in starts:
        found.append(self.schedules[start])
    return found


@pure
@external
def schedule_hash(
    interval_start: uint256, steps: uint256, setpoints: DynArray[Setpoint, MAX_SETPOINTS]
) -> bytes32:
    """
    @notice The hash of a schedule's setpoints, as gridshare.ledger.balancing computes it.
    @dev keccak256(abi_encode(interval_start, steps, setpoints)) where each setpoint is
         (step, meter_id, charge_wh, discharge_wh): `step` counts intervals from
         `interval_start` (0 .. steps - 1), `meter_id` is the registry's meter identifier
         (keccak256 of the gridshare meter id), charge and discharge are AC Wh over that
         interval. `steps` is how many intervals of the plan the hash covers: 1 for the
         dispatched interval alone, up to the recorded horizon for the whole plan.
         Canonical form (made off-chain, not checked here): sorted by (step, meter_id),
         one row per meter and step, rows with nothing to charge or discharge left out.
    @param interval_start The planning interval's start, unix seconds (UTC).
    @param steps How many intervals the setpoints cover.
    @param setpoints The setpoints in canonical order.
    @return The schedule hash.
    """
    return keccak256(abi_encode(interval_start, steps, setpoints))


# ---------------------------------------------------------------------------------------
# The flexibility budget


@external
def fund(amount: uint256):
    """
    @notice Move `amount` of the caller's credit into the pool that pays demand response.
    @dev The caller approves this contract on CommunityCredit first.
    @param amount Micro-units.
    """
    assert amount > 0, "GridBalancing: zero amount"
    pool: uint256 = self.pool_micros + amount
    self.pool_micros = pool
    self.total_funded_micros += amount
    log BudgetFunded(payer=msg.sender, amount=amount, pool=pool)
    assert extcall credit.transferFrom(msg.sender, self, amount), "GridBalancing: transfer failed"


@external
def withdraw_budget(receiver: address, amount: uint256):
    """
    @notice Return unspent budget from the pool (to the community fund).
    @param receiver An account that can hold credit.
    @param amount Micro-units, at most the pool.
    """
    self._only_operator()
    assert amount > 0, "GridBalancing: zero amount"
    pool: uint256 = self.pool_micros
    assert amount <= pool, "GridBalancing: budget pool is short"
    self.pool_micros = pool - amount
    self.total_withdrawn_micros += amount
    log BudgetWithdrawn(receiver=receiver, amount=amount, pool=pool - amount)
    assert extcall credit.transfer(receiver, amount), "GridBalancing: transfer failed"


# ---------------------------------------------------------------------------------------
# Demand response


@external
def open_event(
    event_id: bytes32,
    kind: uint8,
    start: uint256,
    end: uint256,
    target_wh: uint256,
    rate_micros_per_kwh: uint256,
    participants: DynArray[address, MAX_PARTICIPANTS],
    requested_wh: DynArray[uint256, MAX_PARTICIPANTS],
):
    """
    @notice Open a demand-response event and enrol its participants, each asked for its
            own energy.
    @dev Reverts for a caller other than the operator, an empty or used id, an unknown
         kind, a window that is empty or not aligned, a target of 0 or above 10^12 Wh, a
         rate above 10^12, no participants, requested amounts not one per participant or
         one of 0 or above 10^12 Wh, a participant that is not active, or one listed
         twice. The window may lie in the past of the block time (recorded after the
         fact); its members then cannot opt out themselves.
    @param event_id The event's identifier (e.g. keccak256 of its OpenADR event id).
    @param kind 0 curtail (use less), 1 shift (move use out of the window).
    @param start The window's first instant, unix seconds (UTC), aligned.
    @param end The window's end (exclusive), unix seconds (UTC), aligned, after `start`.
    @param target_wh Energy the community needs shed in the window, Wh (informational:
           it may exceed what the members are asked for).
    @param rate_micros_per_kwh What a kWh delivered is paid, micro-units.
    @param participants The enrolled members (active participants, each once).
    @param requested_wh The energy each participant (same order) is asked to shed over
           the window, Wh; it caps what the member is paid for.
    """
    self._only_operator()
    assert event_id != empty(bytes32), "GridBalancing: empty event id"
    assert self.dr_events[event_id].end == 0, "GridBalancing: event already exists"
    assert kind <= KIND_SHIFT, "GridBalancing: unknown event kind"
    assert start < end, "GridBalancing: end is not after start"
    aligned: bool = self._aligned(start) and self._aligned(end)
    assert aligned, "GridBalancing: window is not aligned to intervals"
    assert target_wh > 0 and target_wh <= MAX_TARGET_WH, "GridBalancing: target out of range"
    assert rate_micros_per_kwh <= MAX_RATE_MICROS_PER_KWH, "GridBalancing: rate out of range"
    count: uint256 = len(participants)
    assert count > 0, "GridBalancing: no participants"
    assert len(requested_wh) == count, "GridBalancing: length mismatch"
    assert staticcall registry.all_active(participants), "GridBalancing: participant is not active"
    requested_total: uint256 = 0
    for i: uint256 in range(count, bound=MAX_PARTICIPANTS):
        participant: address = participants[i]
        requested: uint256 = requested_wh[i]
        in_range: bool = requested > 0 and requested <= MAX_REQUESTED_WH
        assert in_range, "GridBalancing: requested energy out of range"
        assert self._records[event_id][participant] == 0, "GridBalancing: duplicate participant"
        self._records[event_id][participant] = ENROLLED | requested << REQUESTED_SHIFT
        requested_total += requested
    self.dr_events[event_id] = DemandResponseEvent(
        kind=kind,
        start=start,
        end=end,
        target_wh=target_wh,
        rate_micros_per_kwh=rate_micros_per_kwh,
        enrolled=count,
        requested_wh=requested_total,
        opted_out=0,
        responded=0,
        delivered_wh=0,
        paid_micros=0,
    )
    self.dr_event_count += 1
    log EventOpened(
        event_id=event_id,
        kind=kind,
        start=start,
        end=end,
        target_wh=target_wh,
        rate_micros_per_kwh=rate_micros_per_kwh,
        participants=participants,
        requested_wh=requested_wh,
    )


@external
def opt_out(event_id: bytes32):
    """
    @notice Opt out of a demand-response event before it starts; no payment follows.
    @dev Reverts once the block time reached the start.
    @param event_id An event the caller is enrolled in.
    """
    ev: DemandResponseEvent = self._event(event_id)
    assert block.timestamp < ev.start, "GridBalancing: event has started"
    self._opt_out(event_id, msg.sender, False, block.timestamp)


@external
def opt_out_for(event_id: bytes32, participant: address, received_at: uint256):
    """
    @notice Record a member's opt-out that reached the operator off-chain (e.g. OpenADR)
            before the event started; flagged as off-chain in `OptedOut`.
    @dev Allowed until the member's response is recorded, also after the event (a past
         event recorded after the fact); `received_at` is the operator's statement of
         when the opt-out arrived and must precede the start and not follow the block
         time.
    @param event_id An event the participant is enrolled in.
    @param participant The member opting out.
    @param received_at When the opt-out arrived, unix seconds (UTC).
    """
    self._only_operator()
    ev: DemandResponseEvent = self._event(event_id)
    assert received_at < ev.start, "GridBalancing: opt-out arrived after the start"
    assert received_at <= block.timestamp, "GridBalancing: opt-out received in the future"
    self._opt_out(event_id, participant, True, received_at)


@view
@external
def response_value(
    event_id: bytes32, participant: address, baseline_wh: uint256, measured_wh: uint256
) -> (uint256, uint256):
    """
    @notice What `record_responses` computes for an enrolled member who did not opt out.
    @dev Reverts for an unknown event or a member not enrolled in it.
    @param event_id A recorded event.
    @param participant An enrolled member.
    @param baseline_wh The member's baseline energy over the window, Wh.
    @param measured_wh The member's measured energy over the window, Wh (NOT_MEASURED:
           no complete reading).
    @return delivered_wh = min(max(0, baseline - measured), the member's requested_wh),
            and the payment floor(delivered_wh * rate / 1000) in micro-units.
    """
    ev: DemandResponseEvent = self._event(event_id)
    record: uint256 = self._records[event_id][participant]
    assert record & ENROLLED != 0, "GridBalancing: participant not enrolled"
    requested: uint256 = (record >> REQUESTED_SHIFT) & WH_MASK
    delivered: uint256 = self._delivered(baseline_wh, measured_wh, requested)
    return delivered, delivered * ev.rate_micros_per_kwh // WH_PER_KWH


@view
@external
def participant_flags(event_id: bytes32, participant: address) -> uint256:
    """
    @notice A member's standing in an event, as bits.
    @param event_id Any event id.
    @param participant Any address.
    @return 1 enrolled | 2 opted out | 4 opt-out recorded by the operator (off-chain) |
            8 response recorded | 16 recorded without a complete reading (NOT_MEASURED);
            0 when not enrolled.
    """
    return self._records[event_id][participant] & FLAGS_MASK


@view
@external
def response_of(
    event_id: bytes32, participant: address
) -> (uint256, uint256, uint256, uint256):
    """
    @notice A member's standing in an event, what it was asked for, and what its response
            delivered and earned.
    @param event_id Any event id.
    @param participant Any address.
    @return The flags (see `participant_flags`), requested Wh, delivered Wh and the
            payment in micro-units (all 0 when not enrolled; delivered and payment 0 until
            the response is recorded, and for opted-out or unmeasured members).
    """
    p: Participation = self._participation(self._records[event_id][participant])
    return p.flags, p.requested_wh, p.delivered_wh, p.payment_micros


@view
@external
def participations(
    event_id: bytes32, participants: DynArray[address, MAX_PARTICIPANTS]
) -> DynArray[Participation, MAX_PARTICIPANTS]:
    """
    @notice Many members' `response_of` in one call (auditing, idempotent sends).
    @param event_id Any event id.
    @param participants Any addresses.
    @return One (flags, requested_wh, delivered_wh, payment_micros) per address.
    """
    found: DynArray[Participation, MAX_PARTICIPANTS] = []
    for participant: address in participants:
        found.append(self._participation(self._records[event_id][participant]))
    return found


@external
def record_responses(
    event_id: bytes32,
    participants: DynArray[address, MAX_PARTICIPANTS],
    baseline_wh: DynArray[uint256, MAX_PARTICIPANTS],
    measured_wh: DynArray[uint256, MAX_PARTICIPANTS],
):
    """
    @notice Record enrolled members' responses after the event ended and pay them from
            the budget pool.
    @dev One response per member, in one or several calls. Delivered and payment as in
         `response_value`; an opted-out member's response, and one measured as
         NOT_MEASURED (flagged UNMEASURED), is recorded with nothing delivered or paid.
         Reverts while the block time is before the end (any later time will do, so past
         events are recorded after the fact), for a member not enrolled or already
         recorded, when a member to be paid is not active (record it once reinstated), or
         when the pool cannot cover the payments.
    @param event_id A recorded event.
    @param participants Enrolled members.
    @param baseline_wh Each member's baseline energy over the window, Wh.
    @param measured_wh Each member's measured energy over the window, Wh, or NOT_MEASURED
           (2**256 - 1) for a member without a reading for every interval of it.
    """
    self._only_operator()
    ev: DemandResponseEvent = self._event(event_id)
    assert block.timestamp >= ev.end, "GridBalancing: event has not ended"
    count: uint256 = len(participants)
    assert count > 0, "GridBalancing: no responses"
    assert len(baseline_wh) == count and len(measured_wh) == count, "GridBalancing: length mismatch"
    payees: DynArray[address, MAX_PARTICIPANTS] = []
    amounts: DynArray[uint256, MAX_PARTICIPANTS] = []
    delivered_total: uint256 = 0
    paid_total: uint256 = 0
    for i: uint256 in range(count, bound=MAX_PARTICIPANTS):
        participant: address = participants[i]
        record: uint256 = self._records[event_id][participant]
        assert record & ENROLLED != 0, "GridBalancing: participant not enrolled"
        assert record & RESPONDED == 0, "GridBalancing: response already recorded"
        record |= RESPONDED
        if measured_wh[i] == NOT_MEASURED:
            record |= UNMEASURED
        delivered: uint256 = 0
        payment: uint256 = 0
        if record & OPTED_OUT == 0:
            # NOT_MEASURED >= any baseline: nothing delivered
            requested: uint256 = (record >> REQUESTED_SHIFT) & WH_MASK
            delivered = self._delivered(baseline_wh[i], measured_wh[i], requested)
            payment = delivered * ev.rate_micros_per_kwh // WH_PER_KWH
        self._records[event_id][participant] = (
            record | delivered << DELIVERED_SHIFT | payment << PAYMENT_SHIFT
        )
        delivered_total += delivered
        if payment > 0:
            self.paid_to[participant] += payment
            payees.append(participant)
            amounts.append(payment)
            paid_total += payment
        log ResponseRecorded(
            event_id=event_id,
            participant=participant,
            baseline_wh=baseline_wh[i],
            measured_wh=measured_wh[i],
            delivered_wh=delivered,
            payment_micros=payment,
        )
    pool: uint256 = self.pool_micros
    assert paid_total <= pool, "GridBalancing: budget pool is short"
    self.pool_micros = pool - paid_total
    self.total_paid_micros += paid_total
    self.dr_events[event_id].responded = ev.responded + count
    self.dr_events[event_id].delivered_wh = ev.delivered_wh + delivered_total
    self.dr_events[event_id].paid_micros = ev.paid_micros + paid_total
    if len(payees) > 0:
        assert staticcall registry.all_active(payees), "GridBalancing: participant is not active"
        assert extcall credit.transfer_batch(payees, amounts), "GridBalancing: transfer failed"


# ---------------------------------------------------------------------------------------
# Islanding


@external
def record_island(
    start: uint256,
    end: uint256,
    reason: uint8,
    shed_wh: uint256,
    unserved_critical_wh: uint256,
    served_critical_wh: uint256,
):
    """
    @notice Record an islanding episode: the community ran disconnected from the grid.
    @dev Reverts for a caller other than the operator, unaligned starts, `end` before
         `start`, an unknown reason, or an episode that does not follow the last one.
    @param start The first islanded interval's start, unix seconds (UTC).
    @param end The last islanded interval's start (inclusive), unix seconds (UTC).
    @param reason 0 grid outage, 1 grid disturbance, 2 planned, 3 test, 4 other.
    @param shed_wh Load shed during the episode, Wh.
    @param unserved_critical_wh Critical load that could not be served, Wh.
    @param served_critical_wh Critical load served, Wh.
    """
    self._only_operator()
    aligned: bool = self._aligned(start) and self._aligned(end)
    assert aligned, "GridBalancing: island is not aligned to intervals"
    assert end >= start, "GridBalancing: end before start"
    assert reason <= MAX_ISLAND_REASON, "GridBalancing: unknown island reason"
    index: uint256 = self.island_count
    if index > 0:
        last_end: uint256 = self.islands[index - 1].end
        assert start > last_end, "GridBalancing: island does not follow the last one"
    self.islands[index] = Island(
        start=start,
        end=end,
        reason=reason,
        shed_wh=shed_wh,
        unserved_critical_wh=unserved_critical_wh,
        served_critical_wh=served_critical_wh,
    )
    self.island_count = index + 1
    log IslandRecorded(
        index=index,
        start=start,
        end=end,
        reason=reason,
        shed_wh=shed_wh,
        unserved_critical_wh=unserved_critical_wh,
        served_critical_wh=served_critical_wh,
    )
