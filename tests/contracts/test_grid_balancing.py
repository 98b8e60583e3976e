"""GridBalancing: dispatch schedules, demand-response events paid from a funded budget
pool, and islanding episodes, recorded by the operator for members to audit."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.balancing.demand_response import delivered_energy_wh, payment_micros
from gridshare.balancing.schedule import schedule_hash, schedule_rows
from tests.contracts.conftest import (
    INTERVAL_S,
    ROLE_CONSUMER,
    ROLE_PROSUMER,
    deploy,
    transaction_gas,
)

UNIT = 1_000_000  # micro-units per currency unit
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
HASH = b"\x5a" * 32
CURTAIL, SHIFT = 0, 1
ENROLLED, OPTED_OUT, OFF_CHAIN, RESPONDED, UNMEASURED = 1, 2, 4, 8, 16
NOT_MEASURED = 2**256 - 1
EVENT = keccak(text="openadr/event-1")
MAX_TARGET = MAX_REQUESTED = 10**12


def named(logs: list[Any], name: str) -> list[Any]:
    return [log for log in logs if type(log).__name__ == name]


def balancing_contract(registry: Any, credit: Any, monitoring: Any, operator: str) -> Any:
    deployed = deploy(
        "GridBalancing", registry.address, credit.address, monitoring.address, sender=operator
    )
    credit.set_trusted(deployed.address, True, sender=operator)
    return deployed


@pytest.fixture
def balancing(registry: Any, credit: Any, monitoring: Any, operator: str) -> Any:
    """GridBalancing, trusted by CommunityCredit to hold the budget pool."""
    return balancing_contract(registry, credit, monitoring, operator)


@pytest.fixture
def members(registry: Any, operator: str, accounts: list[str]) -> list[str]:
    """Four active members; accounts[4] and accounts[5] stay unregistered."""
    registry.register_batch(accounts[:4], [ROLE_PROSUMER, ROLE_CONSUMER] * 2, sender=operator)
    return accounts[:4]


def fund(
    balancing: Any, credit: Any, operator: str, amount: int, ref: bytes = b"\x01" * 32
) -> None:
    """The operator mints ``amount`` against a deposit and moves it into the pool."""
    credit.mint(operator, amount, ref, sender=operator)
    credit.approve(balancing.address, amount, sender=operator)
    balancing.fund(amount, sender=operator)


def window(hours_ahead: int = 2, intervals: int = 4) -> tuple[int, int]:
    """An aligned event window starting ``hours_ahead`` hours after the block time."""
    now = boa.env.evm.patch.timestamp
    start = (now // INTERVAL_S + 1) * INTERVAL_S + hours_ahead * 3600
    return start, start + intervals * INTERVAL_S


def after(end: int) -> None:
    boa.env.time_travel(seconds=end - boa.env.evm.patch.timestamp)


def open_event(
    balancing: Any,
    operator: str,
    participants: list[str],
    *,
    event_id: bytes = EVENT,
    target_wh: int = 5_000,
    requested_wh: list[int] | None = None,
    rate: int = 300_000,
) -> tuple[int, int]:
    """An event two hours ahead; each participant asked for ``requested_wh`` (by default
    5000 Wh each)."""
    start, end = window()
    requested = requested_wh or [5_000] * len(participants)
    balancing.open_event(
        event_id, CURTAIL, start, end, target_wh, rate, participants, requested, sender=operator
    )
    return start, end


# --- deployment ----------------------------------------------------------------------------


def test_deployment_binds_the_community(
    balancing: Any, registry: Any, credit: Any, monitoring: Any
) -> None:
    assert balancing.registry() == registry.address
    assert balancing.credit() == credit.address
    assert balancing.monitoring() == monitoring.address
    assert balancing.interval_length_s() == INTERVAL_S
    assert balancing.pool_micros() == balancing.total_paid_micros() == 0


# --- schedules -----------------------------------------------------------------------------


def test_a_schedule_is_recorded_once_and_read_back(balancing: Any, operator: str) -> None:
    balancing.record_schedule(T0, 96, HASH, 1_250_000, 2_000_000, sender=operator)
    (log,) = named(balancing.get_logs(), "ScheduleRecorded")
    assert (log.interval_start, log.horizon_intervals, log.schedule_hash) == (T0, 96, HASH)
    assert (log.cost_micros, log.baseline_cost_micros) == (1_250_000, 2_000_000)
    assert balancing.schedules(T0) == (HASH, 96, 1_250_000, 2_000_000)
    assert balancing.has_schedule(T0)
    assert not balancing.has_schedule(T0 + INTERVAL_S)
    assert balancing.schedule_count() == 1
    assert balancing.planned_savings_micros() == 750_000
    with boa.reverts("GridBalancing: schedule already recorded"):
        balancing.record_schedule(T0, 96, b"\x01" * 32, 0, 0, sender=operator)
    assert balancing.schedules(T0) == (HASH, 96, 1_250_000, 2_000_000)


def test_schedules_are_refused_when_malformed_or_not_from_the_operator(
    balancing: Any, operator: str, members: list[str]
) -> None:
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.record_schedule(T0, 1, HASH, 0, 0, sender=members[0])
    with boa.reverts("GridBalancing: start is not aligned to an interval"):
        balancing.record_schedule(T0 + 1, 1, HASH, 0, 0, sender=operator)
    with boa.reverts("GridBalancing: zero horizon"):
        balancing.record_schedule(T0, 0, HASH, 0, 0, sender=operator)
    with boa.reverts("GridBalancing: empty schedule hash"):
        balancing.record_schedule(T0, 1, bytes(32), 0, 0, sender=operator)
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.record_schedules([(T0, 1, HASH, 0, 0)], sender=members[0])
    assert balancing.schedule_count() == 0


def test_a_batch_of_schedules_is_recorded_in_one_transaction(balancing: Any, operator: str) -> None:
    entries = [
        (T0 + i * INTERVAL_S, 96, bytes([i + 1]) * 32, -500 * i, 1_000 - 200 * i) for i in range(5)
    ]
    balancing.record_schedules(entries, sender=operator)
    assert len(named(balancing.get_logs(), "ScheduleRecorded")) == 5
    assert balancing.schedule_count() == 5
    assert balancing.planned_savings_micros() == sum(b - c for _, _, _, c, b in entries)
    starts = [e[0] for e in entries] + [T0 - INTERVAL_S]
    stored = [(h, horizon, cost, base) for _, horizon, h, cost, base in entries]
    assert balancing.schedules_of(starts) == [*stored, (bytes(32), 0, 0, 0)]
    assert balancing.schedules(T0 + INTERVAL_S)[2] == -500  # negative: the community earns


def test_one_bad_entry_refuses_the_whole_batch(balancing: Any, operator: str) -> None:
    balancing.record_schedule(T0, 4, HASH, 0, 0, sender=operator)
    fresh = (T0 + INTERVAL_S, 4, HASH, 0, 0)
    with boa.reverts("GridBalancing: schedule already recorded"):
        balancing.record_schedules([fresh, (T0, 4, HASH, 0, 0)], sender=operator)
    with boa.reverts("GridBalancing: schedule already recorded"):
        balancing.record_schedules([fresh, fresh], sender=operator)
    with boa.reverts("GridBalancing: start is not aligned to an interval"):
        balancing.record_schedules([fresh, (T0 + 60, 4, HASH, 0, 0)], sender=operator)
    assert not balancing.has_schedule(T0 + INTERVAL_S)
    assert balancing.schedule_count() == 1


setpoint_lists = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["bat-1", "bat-2", "ev-7", "heatpump-3"]),
            st.integers(0, 20_000),
            st.integers(0, 20_000),
        ),
        max_size=4,
        unique_by=lambda s: s[0],
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(setpoints=setpoint_lists, start=st.integers(0, 2**40).map(lambda s: s * INTERVAL_S))
def test_the_contract_hashes_schedules_as_the_adapter_does(
    balancing: Any, setpoints: list[list[tuple[str, int, int]]], start: int
) -> None:
    rows = schedule_rows(setpoints)
    assert balancing.schedule_hash(start, len(setpoints), rows) == schedule_hash(start, setpoints)


def test_the_schedule_hash_ignores_row_order_and_idle_rows() -> None:
    plan = [[("bat-1", 500, 0), ("bat-2", 0, 300)], [("bat-2", 0, 0)]]
    same = [[("bat-2", 0, 300), ("bat-1", 500, 0), ("ev-7", 0, 0)], []]
    assert schedule_hash(T0, plan) == schedule_hash(T0, same)
    assert schedule_hash(T0, plan) != schedule_hash(T0 + INTERVAL_S, plan)
    assert schedule_hash(T0, plan) != schedule_hash(T0, [*plan, []])  # one more step
    assert schedule_hash(T0, plan) != schedule_hash(T0, [[("bat-1", 501, 0), plan[0][1]], []])


# --- the budget pool -------------------------------------------------------------------------


def test_the_pool_is_funded_from_approved_credit_and_can_be_returned(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    fund(balancing, credit, operator, 10 * UNIT)
    (funded,) = named(balancing.get_logs(), "BudgetFunded")
    assert (funded.payer, funded.amount, funded.pool) == (operator, 10 * UNIT, 10 * UNIT)
    assert balancing.pool_micros() == balancing.total_funded_micros() == 10 * UNIT
    assert credit.balanceOf(balancing.address) == 10 * UNIT
    with boa.reverts("GridBalancing: zero amount"):
        balancing.fund(0, sender=operator)
    with boa.reverts("CommunityCredit: allowance exceeded"):
        balancing.fund(1, sender=operator)
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.withdraw_budget(members[0], UNIT, sender=members[0])
    with boa.reverts("GridBalancing: budget pool is short"):
        balancing.withdraw_budget(operator, 10 * UNIT + 1, sender=operator)
    with boa.reverts("GridBalancing: zero amount"):
        balancing.withdraw_budget(operator, 0, sender=operator)
    balancing.withdraw_budget(operator, 4 * UNIT, sender=operator)
    (back,) = named(balancing.get_logs(), "BudgetWithdrawn")
    assert (back.receiver, back.amount, back.pool) == (operator, 4 * UNIT, 6 * UNIT)
    assert balancing.pool_micros() == credit.balanceOf(balancing.address) == 6 * UNIT
    assert balancing.total_withdrawn_micros() == 4 * UNIT
    assert credit.balanceOf(operator) == 4 * UNIT


def test_members_can_top_up_the_pool_too(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    credit.mint(members[0], UNIT, b"\x02" * 32, sender=operator)
    credit.approve(balancing.address, UNIT, sender=members[0])
    balancing.fund(UNIT, sender=members[0])
    assert balancing.pool_micros() == UNIT


# --- demand-response events ------------------------------------------------------------------


def test_an_event_enrols_its_participants(
    balancing: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    start, end = window()
    requested = [4_000, 2_500, MAX_REQUESTED]
    balancing.open_event(
        EVENT, SHIFT, start, end, 8_000, 250_000, members[:3], requested, sender=operator
    )
    (log,) = named(balancing.get_logs(), "EventOpened")
    assert (log.event_id, log.kind, log.start, log.end) == (EVENT, SHIFT, start, end)
    assert (log.target_wh, log.rate_micros_per_kwh) == (8_000, 250_000)
    assert list(log.participants) == members[:3]
    assert list(log.requested_wh) == requested
    total = sum(requested)
    assert balancing.dr_events(EVENT) == (SHIFT, start, end, 8_000, 250_000, 3, total, 0, 0, 0, 0)
    assert balancing.dr_event_count() == 1
    assert [balancing.participant_flags(EVENT, m) for m in members] == [ENROLLED] * 3 + [0]
    assert balancing.participant_flags(EVENT, accounts[5]) == 0
    assert [balancing.response_of(EVENT, m) for m in members] == [
        *((ENROLLED, r, 0, 0) for r in requested),
        (0, 0, 0, 0),
    ]
    assert balancing.participations(EVENT, [members[1], accounts[5]]) == [
        (ENROLLED, 2_500, 0, 0),
        (0, 0, 0, 0),
    ]
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.response_value(EVENT, members[3], 1_000, 0)


def test_events_are_refused_when_malformed(
    balancing: Any, registry: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    start, end = window()
    terms = (CURTAIL, start, end, 1_000, 100_000)
    asked = [500] * len(members)
    ok = (*terms, members, asked)

    def refused(reason: str, *args: Any) -> None:
        with boa.reverts(f"GridBalancing: {reason}"):
            balancing.open_event(*args, sender=operator)

    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.open_event(EVENT, *ok, sender=members[0])
    refused("empty event id", bytes(32), *ok)
    refused("unknown event kind", EVENT, 2, *ok[1:])
    refused("end is not after start", EVENT, CURTAIL, start, start, 1_000, 1, members, asked)
    refused("end is not after start", EVENT, CURTAIL, end, start, 1_000, 1, members, asked)
    refused("window is not aligned", EVENT, CURTAIL, start + 1, end, 1_000, 1, members, asked)
    refused("window is not aligned", EVENT, CURTAIL, start, end - 1, 1_000, 1, members, asked)
    for target in (0, MAX_TARGET + 1):
        refused("target out of range", EVENT, CURTAIL, start, end, target, 1, members, asked)
    refused("rate out of range", EVENT, CURTAIL, start, end, 1, 10**12 + 1, members, asked)
    refused("no participants", EVENT, *terms, [], [])
    refused("length mismatch", EVENT, *terms, members, asked[:-1])
    refused("length mismatch", EVENT, *terms, members[:1], asked)
    for wh in (0, MAX_REQUESTED + 1):
        refused("requested energy out of range", EVENT, *terms, members[:2], [500, wh])
    # never registered
    refused("participant is not active", EVENT, *terms, [members[0], accounts[5]], [1, 1])
    registry.set_suspended(members[1], True, sender=operator)
    refused("participant is not active", EVENT, *ok)  # suspended
    refused("duplicate participant", EVENT, *terms, [members[0], members[2], members[0]], [1] * 3)
    balancing.open_event(EVENT, *terms, [members[0]], [500], sender=operator)
    refused("event already exists", EVENT, *terms, [members[2]], [500])
    assert balancing.dr_event_count() == 1


def test_members_opt_out_before_the_start_only(
    balancing: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    start, _ = open_event(balancing, operator, members[:3])
    balancing.opt_out(EVENT, sender=members[0])
    (log,) = named(balancing.get_logs(), "OptedOut")
    now = boa.env.evm.patch.timestamp
    assert (log.event_id, log.participant, log.off_chain, log.received_at) == (
        EVENT,
        members[0],
        False,
        now,
    )
    assert balancing.participant_flags(EVENT, members[0]) == ENROLLED | OPTED_OUT
    assert balancing.dr_events(EVENT)[7] == 1  # opted_out
    with boa.reverts("GridBalancing: already opted out"):
        balancing.opt_out(EVENT, sender=members[0])
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.opt_out(EVENT, sender=members[3])
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.opt_out(EVENT, sender=accounts[5])
    with boa.reverts("GridBalancing: unknown event"):
        balancing.opt_out(keccak(text="nope"), sender=members[1])
    after(start)
    with boa.reverts("GridBalancing: event has started"):
        balancing.opt_out(EVENT, sender=members[1])
    assert balancing.participant_flags(EVENT, members[1]) == ENROLLED


def test_the_operator_records_off_chain_opt_outs_flagged(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    start, end = open_event(balancing, operator, members[:3])
    received = boa.env.evm.patch.timestamp - 60
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.opt_out_for(EVENT, members[0], received, sender=members[0])
    with boa.reverts("GridBalancing: opt-out arrived after the start"):
        balancing.opt_out_for(EVENT, members[0], start, sender=operator)
    with boa.reverts("GridBalancing: opt-out received in the future"):
        balancing.opt_out_for(EVENT, members[0], boa.env.evm.patch.timestamp + 1, sender=operator)
    with boa.reverts("GridBalancing: unknown event"):
        balancing.opt_out_for(keccak(text="nope"), members[0], received, sender=operator)
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.opt_out_for(EVENT, members[3], received, sender=operator)
    # relayed during the event: it arrived before the start, the member is not paid
    after(start + INTERVAL_S)
    balancing.opt_out_for(EVENT, members[0], received, sender=operator)
    (log,) = named(balancing.get_logs(), "OptedOut")
    assert (log.participant, log.off_chain, log.received_at) == (members[0], True, received)
    assert balancing.participant_flags(EVENT, members[0]) == ENROLLED | OPTED_OUT | OFF_CHAIN
    # once a member's response is recorded, its opt-out can no longer be relayed
    fund(balancing, credit, operator, UNIT)
    after(end)
    balancing.record_responses(EVENT, [members[1]], [2_000], [1_000], sender=operator)
    with boa.reverts("GridBalancing: response already recorded"):
        balancing.opt_out_for(EVENT, members[1], received, sender=operator)


def test_responses_are_paid_from_the_pool(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    """delivered = min(max(0, baseline - measured), the member's requested energy);
    payment rounds down."""
    fund(balancing, credit, operator, 10 * UNIT)
    requested = [2_000, 3_000, 5_000, 5_000]
    _, end = open_event(
        balancing, operator, members, target_wh=20_000, requested_wh=requested, rate=333_333
    )
    balancing.opt_out(EVENT, sender=members[3])
    after(end)
    baselines = [4_000, 9_000, 1_000, 4_000]
    measured = [2_999, 1_000, 1_500, 0]
    balancing.record_responses(EVENT, members, baselines, measured, sender=operator)
    # 1001 Wh at 333_333/kWh = 333_666.333 -> 333_666; 8000 Wh capped at the member's
    # 3000 Wh (not the 20000 Wh target); measured above baseline delivers nothing; the
    # opted-out member is not paid
    delivered = [1_001, 3_000, 0, 0]
    payments = [333_666, 999_999, 0, 0]
    logs = named(balancing.get_logs(), "ResponseRecorded")
    assert [(r.participant, r.baseline_wh, r.measured_wh) for r in logs] == list(
        zip(members, baselines, measured, strict=True)
    )
    assert [r.delivered_wh for r in logs] == delivered
    assert [r.payment_micros for r in logs] == payments
    assert [credit.balanceOf(m) for m in members] == payments
    flags = [ENROLLED | RESPONDED] * 3 + [ENROLLED | OPTED_OUT | RESPONDED]
    assert [balancing.response_of(EVENT, m) for m in members] == list(
        zip(flags, requested, delivered, payments, strict=True)
    )
    assert balancing.participations(EVENT, members) == [
        balancing.response_of(EVENT, m) for m in members
    ]
    assert [balancing.paid_to(m) for m in members] == payments
    assert balancing.participant_flags(EVENT, members[0]) == ENROLLED | RESPONDED
    assert balancing.participant_flags(EVENT, members[3]) == ENROLLED | OPTED_OUT | RESPONDED
    state = balancing.dr_events(EVENT)
    assert state[5:] == (4, sum(requested), 1, 4, sum(delivered), sum(payments))
    assert balancing.total_paid_micros() == sum(payments)
    assert balancing.pool_micros() == 10 * UNIT - sum(payments)
    assert credit.balanceOf(balancing.address) == balancing.pool_micros()
    assert balancing.response_value(EVENT, members[0], 4_000, 2_999) == (1_001, 333_666)
    assert balancing.response_value(EVENT, members[1], 9_000, 1_000) == (3_000, 999_999)
    assert balancing.response_value(EVENT, members[1], 9_000, NOT_MEASURED) == (0, 0)


def test_a_member_without_a_complete_reading_is_recorded_unpaid(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    """measured_wh = NOT_MEASURED: the baseline is kept, nothing delivered or paid."""
    fund(balancing, credit, operator, UNIT)
    _, end = open_event(balancing, operator, members[:2])
    after(end)
    balancing.record_responses(
        EVENT, members[:2], [4_000, 4_000], [NOT_MEASURED, 1_000], sender=operator
    )
    logs = named(balancing.get_logs(), "ResponseRecorded")
    assert [(r.measured_wh, r.delivered_wh, r.payment_micros) for r in logs] == [
        (NOT_MEASURED, 0, 0),
        (1_000, 3_000, 900_000),
    ]
    assert balancing.response_of(EVENT, members[0]) == (
        ENROLLED | RESPONDED | UNMEASURED,
        5_000,
        0,
        0,
    )
    assert balancing.participant_flags(EVENT, members[1]) == ENROLLED | RESPONDED
    assert [credit.balanceOf(m) for m in members[:2]] == [0, 900_000]


def test_a_past_event_is_recorded_after_the_fact(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    """A simulation of 2025 on a chain whose clock is later: the operator opens the event,
    relays an opt-out and records the responses; members can no longer opt out."""
    fund(balancing, credit, operator, UNIT)
    start = T0 + 17 * 3_600
    end = start + 4 * INTERVAL_S
    assert boa.env.evm.patch.timestamp > end + 86_400
    balancing.open_event(
        EVENT, CURTAIL, start, end, 6_000, 200_000, members[:3], [1_000] * 3, sender=operator
    )
    with boa.reverts("GridBalancing: event has started"):
        balancing.opt_out(EVENT, sender=members[0])
    balancing.opt_out_for(EVENT, members[0], start - INTERVAL_S, sender=operator)
    (opted,) = named(balancing.get_logs(), "OptedOut")
    assert (opted.participant, opted.off_chain, opted.received_at) == (
        members[0],
        True,
        start - INTERVAL_S,
    )
    balancing.record_responses(EVENT, members[:3], [3_000] * 3, [1_000] * 3, sender=operator)
    # 2000 Wh below the baseline, capped at the 1000 Wh requested, at 0.20/kWh
    assert [credit.balanceOf(m) for m in members[:3]] == [0, 200_000, 200_000]


def test_responses_are_refused_before_the_end_twice_or_for_strangers(
    balancing: Any, credit: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    fund(balancing, credit, operator, UNIT)
    start, end = open_event(balancing, operator, members[:3])
    with boa.reverts("GridBalancing: event has not ended"):
        balancing.record_responses(EVENT, [members[0]], [100], [0], sender=operator)
    after(end - 1)
    with boa.reverts("GridBalancing: event has not ended"):
        balancing.record_responses(EVENT, [members[0]], [100], [0], sender=operator)
    after(end)
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.record_responses(EVENT, [members[0]], [100], [0], sender=members[0])
    with boa.reverts("GridBalancing: unknown event"):
        balancing.record_responses(keccak(text="nope"), [members[0]], [100], [0], sender=operator)
    with boa.reverts("GridBalancing: no responses"):
        balancing.record_responses(EVENT, [], [], [], sender=operator)
    with boa.reverts("GridBalancing: length mismatch"):
        balancing.record_responses(EVENT, [members[0]], [100, 1], [0], sender=operator)
    with boa.reverts("GridBalancing: length mismatch"):
        balancing.record_responses(EVENT, [members[0]], [100], [], sender=operator)
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.record_responses(EVENT, [members[3]], [100], [0], sender=operator)
    with boa.reverts("GridBalancing: participant not enrolled"):
        balancing.record_responses(EVENT, [accounts[5]], [100], [0], sender=operator)
    with boa.reverts("GridBalancing: response already recorded"):  # twice in one call
        balancing.record_responses(EVENT, [members[0]] * 2, [100] * 2, [0] * 2, sender=operator)
    balancing.record_responses(EVENT, [members[0]], [1_000], [0], sender=operator)
    with boa.reverts("GridBalancing: response already recorded"):  # twice across calls
        balancing.record_responses(EVENT, [members[1], members[0]], [1, 1], [0, 0], sender=operator)
    # the rest in a later call
    balancing.record_responses(EVENT, members[1:3], [1_000, 0], [0, 0], sender=operator)
    assert balancing.dr_events(EVENT)[8] == 3  # responded
    assert credit.balanceOf(members[0]) == credit.balanceOf(members[1]) == 300_000


def test_a_short_pool_refuses_the_payments_and_changes_nothing(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    fund(balancing, credit, operator, 500_000)
    _, end = open_event(balancing, operator, members[:2], rate=300_000)
    after(end)
    # 1000 Wh each at 300_000/kWh: 600_000 owed, 500_000 in the pool
    with boa.reverts("GridBalancing: budget pool is short"):
        balancing.record_responses(EVENT, members[:2], [1_000, 1_000], [0, 0], sender=operator)
    assert balancing.pool_micros() == 500_000
    assert balancing.participant_flags(EVENT, members[0]) == ENROLLED
    # topped up, the same responses go through
    fund(balancing, credit, operator, 100_000, ref=b"\x02" * 32)
    balancing.record_responses(EVENT, members[:2], [1_000, 1_000], [0, 0], sender=operator)
    assert balancing.pool_micros() == 0
    assert credit.balanceOf(members[0]) == credit.balanceOf(members[1]) == 300_000


def test_an_empty_pool_still_records_unpaid_responses(
    balancing: Any, credit: Any, operator: str, members: list[str]
) -> None:
    _, end = open_event(balancing, operator, members[:2])
    balancing.opt_out(EVENT, sender=members[0])
    after(end)
    balancing.record_responses(EVENT, members[:2], [1_000, 500], [0, 800], sender=operator)
    assert [r.payment_micros for r in named(balancing.get_logs(), "ResponseRecorded")] == [0, 0]
    assert [r.delivered_wh for r in named(balancing.get_logs(), "ResponseRecorded")] == [0, 0]
    assert balancing.dr_events(EVENT)[8:] == (2, 0, 0)


def test_a_suspended_member_is_paid_once_reinstated(
    balancing: Any, registry: Any, credit: Any, operator: str, members: list[str]
) -> None:
    fund(balancing, credit, operator, UNIT)
    _, end = open_event(balancing, operator, members[:2])
    after(end)
    registry.set_suspended(members[1], True, sender=operator)
    with boa.reverts("GridBalancing: participant is not active"):
        balancing.record_responses(EVENT, members[:2], [1_000, 1_000], [0, 0], sender=operator)
    # a suspended member with nothing to be paid is recorded
    balancing.record_responses(EVENT, members[1:2], [1_000], [1_000], sender=operator)
    balancing.record_responses(EVENT, members[:1], [1_000], [0], sender=operator)
    assert credit.balanceOf(members[0]) == 300_000


members_model = st.lists(
    st.tuples(
        st.integers(0, 50_000),  # baseline_wh
        st.one_of(st.integers(0, 50_000), st.just(NOT_MEASURED)),  # measured_wh
        st.integers(1, 40_000),  # requested_wh
        st.booleans(),  # opted out
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=members_model,
    rate=st.integers(0, 2_000_000),
    pool=st.integers(0, 200 * UNIT),
)
def test_fuzz_payments_follow_the_model_and_conserve_money(
    balancing: Any,
    credit: Any,
    operator: str,
    members: list[str],
    rows: list[tuple[int, int, int, bool]],
    rate: int,
    pool: int,
) -> None:
    """Each member gets what the off-chain settlement pays it: delivered_energy_wh(b, m,
    requested) at payment_micros' rounding, unless opted out or unmeasured; the pool shrinks
    by exactly what the members receive, or nothing moves at all."""
    with boa.env.anchor():
        participants = members[: len(rows)]
        requested = [r for _, _, r, _ in rows]
        if pool:
            fund(balancing, credit, operator, pool)
        _, end = open_event(
            balancing,
            operator,
            participants,
            target_wh=sum(requested),
            requested_wh=requested,
            rate=rate,
        )
        for participant, (_, _, _, opted) in zip(participants, rows, strict=True):
            if opted:
                balancing.opt_out(EVENT, sender=participant)
        after(end)
        delivered = [
            0 if o or m == NOT_MEASURED else delivered_energy_wh(b, m, r) for b, m, r, o in rows
        ]
        expected = [payment_micros(d, rate) for d in delivered]
        before = [credit.balanceOf(p) for p in participants]
        baselines, measured = [b for b, _, _, _ in rows], [m for _, m, _, _ in rows]
        if sum(expected) > pool:
            with boa.reverts("GridBalancing: budget pool is short"):
                balancing.record_responses(
                    EVENT, participants, baselines, measured, sender=operator
                )
            assert balancing.pool_micros() == pool
            return
        balancing.record_responses(EVENT, participants, baselines, measured, sender=operator)
        received = [credit.balanceOf(p) - b for p, b in zip(participants, before, strict=True)]
        assert received == expected
        logs = named(balancing.get_logs(), "ResponseRecorded")
        assert [(r.delivered_wh, r.payment_micros) for r in logs] == list(
            zip(delivered, expected, strict=True)
        )
        assert pool - balancing.pool_micros() == sum(received) == balancing.total_paid_micros()
        assert credit.balanceOf(balancing.address) == balancing.pool_micros()
        assert balancing.dr_events(EVENT)[9:] == (sum(delivered), sum(expected))
        for participant, r, d, payment in zip(
            participants, requested, delivered, expected, strict=True
        ):
            assert balancing.response_of(EVENT, participant)[1:] == (r, d, payment)
        for participant, (b, m, _, o), payment in zip(participants, rows, expected, strict=True):
            if not o:
                assert balancing.response_value(EVENT, participant, b, m)[1] == payment


# --- islanding ---------------------------------------------------------------------------


def test_islands_are_recorded_in_order(balancing: Any, operator: str) -> None:
    balancing.record_island(T0, T0, 0, 1_200, 0, 800, sender=operator)  # one interval
    balancing.record_island(
        T0 + 4 * INTERVAL_S, T0 + 7 * INTERVAL_S, 2, 5_000, 150, 3_000, sender=operator
    )
    logs = named(balancing.get_logs(), "IslandRecorded")
    assert [(i.index, i.start, i.end, i.reason) for i in logs] == [
        (1, T0 + 4 * INTERVAL_S, T0 + 7 * INTERVAL_S, 2)
    ]
    assert (logs[0].shed_wh, logs[0].unserved_critical_wh, logs[0].served_critical_wh) == (
        5_000,
        150,
        3_000,
    )
    assert balancing.island_count() == 2
    assert balancing.islands(0) == (T0, T0, 0, 1_200, 0, 800)
    assert balancing.islands(1) == (T0 + 4 * INTERVAL_S, T0 + 7 * INTERVAL_S, 2, 5_000, 150, 3_000)


def test_islands_are_refused_when_malformed(
    balancing: Any, operator: str, members: list[str]
) -> None:
    with boa.reverts("GridBalancing: caller is not the operator"):
        balancing.record_island(T0, T0, 0, 0, 0, 0, sender=members[0])
    with boa.reverts("GridBalancing: island is not aligned to intervals"):
        balancing.record_island(T0 + 1, T0 + INTERVAL_S, 0, 0, 0, 0, sender=operator)
    with boa.reverts("GridBalancing: island is not aligned to intervals"):
        balancing.record_island(T0, T0 + 1, 0, 0, 0, 0, sender=operator)
    with boa.reverts("GridBalancing: end before start"):
        balancing.record_island(T0, T0 - INTERVAL_S, 0, 0, 0, 0, sender=operator)
    with boa.reverts("GridBalancing: unknown island reason"):
        balancing.record_island(T0, T0, 5, 0, 0, 0, sender=operator)
    balancing.record_island(T0, T0 + INTERVAL_S, 4, 0, 0, 0, sender=operator)
    for start in (T0, T0 + INTERVAL_S, T0 - INTERVAL_S):  # the same, overlapping, earlier
        with boa.reverts("GridBalancing: island does not follow the last one"):
            balancing.record_island(start, start + INTERVAL_S, 0, 0, 0, 0, sender=operator)
    assert balancing.island_count() == 1


# --- gas -----------------------------------------------------------------------------------


def test_gas_of_recording() -> None:
    """Gas as a node charges it: one schedule, a batch of 96, an event for one member and
    one for 100, their responses (all paid, half of them capped at the requested energy,
    first payment to each), a relayed opt-out and an island."""
    count = 100
    with boa.swap_env(boa.Env()):
        operator = str(boa.env.generate_address("operator"))
        registry = deploy("ParticipantRegistry", sender=operator)
        credit = deploy("CommunityCredit", registry.address, sender=operator)
        monitoring = deploy("EnergyMonitoring", registry.address, INTERVAL_S, sender=operator)
        balancing = balancing_contract(registry, credit, monitoring, operator)
        members = [str(boa.env.generate_address(f"gas-{i}")) for i in range(count)]
        registry.register_batch(members, [ROLE_PROSUMER] * count, sender=operator)
        fund(balancing, credit, operator, 1_000 * UNIT)
        gas = {
            "record_schedule": transaction_gas(
                balancing.record_schedule, T0, 96, HASH, 1_000_000, 1_200_000, sender=operator
            ),
        }
        batch = [(T0 + (i + 1) * INTERVAL_S, 96, HASH, -1_000, 2_000) for i in range(96)]
        gas["record_schedules(96)"] = transaction_gas(
            balancing.record_schedules, batch, sender=operator
        )
        start, end = window()
        gas[f"open_event({count})"] = transaction_gas(
            balancing.open_event,
            EVENT,
            CURTAIL,
            start,
            end,
            5_000,
            300_000,
            members,
            [2_050] * count,
            sender=operator,
        )
        single = keccak(text="openadr/event-0")
        gas["open_event(1)"] = transaction_gas(
            balancing.open_event,
            single,
            CURTAIL,
            start,
            end,
            5_000,
            300_000,
            [members[-1]],
            [2_050],
            sender=operator,
        )
        relayed = keccak(text="openadr/event-00")
        balancing.open_event(
            relayed, CURTAIL, start, end, 5_000, 300_000, members[:1], [1], sender=operator
        )
        gas["opt_out_for"] = transaction_gas(
            balancing.opt_out_for, relayed, members[0], boa.env.evm.patch.timestamp, sender=operator
        )
        after(end)
        gas["record_responses(1)"] = transaction_gas(
            balancing.record_responses, single, [members[-1]], [3_000], [1_000], sender=operator
        )
        gas[f"record_responses({count})"] = transaction_gas(
            balancing.record_responses,
            EVENT,
            members,
            [3_000 + i for i in range(count)],
            [1_000] * count,
            sender=operator,
        )
        # a second event for the same members: their balances and totals exist already
        second = keccak(text="openadr/event-2")
        start, end = window()
        balancing.open_event(
            second, SHIFT, start, end, 5_000, 300_000, members, [5_000] * count, sender=operator
        )
        after(end)
        gas[f"record_responses({count}, again)"] = transaction_gas(
            balancing.record_responses,
            second,
            members,
            [3_000] * count,
            [1_000] * count,
            sender=operator,
        )
        gas["record_schedule(again)"] = transaction_gas(
            balancing.record_schedule,
            T0 - INTERVAL_S,
            96,
            HASH,
            900_000,
            1_100_000,
            sender=operator,
        )
        gas["record_island"] = transaction_gas(
            balancing.record_island, T0, T0 + 3 * INTERVAL_S, 0, 5_000, 100, 2_000, sender=operator
        )
        paid = sum(min(2_000 + i, 2_050) * 300 for i in range(count)) + count * 2_000 * 300
        paid += 2_000 * 300  # the single event
        assert balancing.total_paid_micros() == paid
    print("\ngas: " + ", ".join(f"{k} {v}" for k, v in gas.items()))
    print(
        f"gas: per schedule in a batch {gas['record_schedules(96)'] // 96}, per participant: "
        f"open {(gas[f'open_event({count})'] - gas['open_event(1)']) // (count - 1)}, "
        f"responses {gas[f'record_responses({count})'] // count} (first payment), "
        f"{gas[f'record_responses({count}, again)'] // count} (later)"
    )
    assert gas["record_schedule"] < 200_000
    assert gas[f"record_responses({count})"] < 70_000 * count
    assert max(gas.values()) < 30_000_000
