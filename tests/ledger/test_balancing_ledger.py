"""The GridBalancing contract through the app's balancing adapter, on the embedded chain
and on anvil: schedules recorded once and read back, demand-response events paid from
the funded pool into the members' CommunityCredit balances (one settled off-chain by
``settle_event`` and paid on chain to the micro-unit), and an islanding episode."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from eth_utils.address import to_checksum_address

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    EventKind,
    MeterHistory,
    ParticipantResponse,
    settle_event,
)
from gridshare.balancing.schedule import schedule_hash, schedule_rows
from gridshare.ledger.balancing import (
    ENROLLED,
    OPTED_OUT,
    OPTED_OUT_OFF_CHAIN,
    RESPONDED,
    UNMEASURED,
    BalancingError,
    BalancingLedger,
    BalancingMismatch,
    BudgetMove,
    DemandResponseKind,
    IslandReason,
    IslandRecord,
    OptOut,
    Participation,
    Response,
    ResponseRecord,
    ScheduleRecord,
    dr_event_id,
)
from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.deployment import Deployment, DeploymentError, contract, deploy_or_load
from gridshare.ledger.metering import MeteringLedger
from gridshare.ledger.state import CommunityState
from gridshare.ledger.transactions import TransactionReverted

T0 = 1_748_822_400  # 2025-06-02T00:00:00Z
INTERVAL_S = 900
UNIT = 1_000_000
MEMBERS = [str(to_checksum_address(bytes([i + 1]) * 20)) for i in range(6)]
TRIO = MEMBERS[:3]
EVENT = dr_event_id("openadr/event-2025-06-02-17")
DAY = 86_400


@pytest.fixture
def ledgers(chain: ChainConnection) -> tuple[BalancingLedger, CommunityState]:
    deployment = chain.deploy()
    MeteringLedger(chain.transactions, deployment).register([(m, 4) for m in MEMBERS], [], [])
    return BalancingLedger(chain.transactions, deployment), CommunityState(chain.web3, deployment)


def test_schedules_are_recorded_once_and_read_back(
    ledgers: tuple[BalancingLedger, CommunityState],
) -> None:
    ledger, _ = ledgers
    plans = [
        [[("bat-1", 1_200, 0), ("bat-2", 0, 800)], [("bat-1", 0, 1_000)]],
        [[("bat-1", 0, 900)], []],
    ]
    records = [
        ScheduleRecord(T0 + i * INTERVAL_S, len(p), schedule_hash(T0 + i * INTERVAL_S, p), c, b)
        for i, (p, c, b) in enumerate(
            zip(plans, [410_000, -25_000], [520_000, 10_000], strict=True)
        )
    ]
    assert ledger.record_schedules(records) == 1
    assert ledger.record_schedules([r.as_tuple() for r in records]) == 0  # the chain has them
    assert ledger.schedule(T0) == records[0]
    assert ledger.schedules([T0, T0 + INTERVAL_S, T0 + 2 * INTERVAL_S]) == [*records, None]
    # the contract's own view of the encoding agrees with the adapter's
    view = ledger.balancing.functions.schedule_hash(T0, 2, schedule_rows(plans[0])).call()
    assert bytes(view) == records[0].schedule_hash == BalancingLedger.schedule_hash(T0, plans[0])
    assert ledger.balancing.functions.planned_savings_micros().call() == 110_000 + 35_000
    altered = ScheduleRecord(T0, 2, records[0].schedule_hash, 400_000, 520_000)
    with pytest.raises(BalancingMismatch, match=f"interval {T0}: the chain holds"):
        ledger.record_schedules([altered])
    assert ledger.history().schedules == records


def test_a_demand_response_event_pays_members_from_the_pool(
    chain: ChainConnection, ledgers: tuple[BalancingLedger, CommunityState]
) -> None:
    """A past event (as a simulation records it): opt-out relayed from OpenADR, responses
    recorded and paid into CommunityCredit; money leaves the pool only to the members."""
    ledger, state = ledgers
    operator = chain.transactions.signer.address
    ledger.fund(2 * UNIT, reference="budget/2025-06")
    ledger.fund(2 * UNIT, reference="budget/2025-06")  # the reference minted already
    assert ledger.pool_micros() == 2 * UNIT
    assert state.balance_of(operator) == 0
    now = int(chain.web3.eth.get_block("latest")["timestamp"])
    end = now // INTERVAL_S * INTERVAL_S - INTERVAL_S
    start = end - 4 * INTERVAL_S
    terms = (DemandResponseKind.CURTAIL, start, end, 9_000, 300_000)
    requested = [2_000, 5_000, 2_000]
    assert ledger.open_event(EVENT, *terms, TRIO, requested)
    assert not ledger.open_event(EVENT, *terms, TRIO, requested)  # the chain has it
    with pytest.raises(BalancingMismatch, match="other terms"):
        ledger.open_event(EVENT, DemandResponseKind.SHIFT, *terms[1:], TRIO, requested)
    with pytest.raises(BalancingMismatch, match="other terms"):
        ledger.open_event(EVENT, *terms, TRIO, [2_000, 5_000, 2_001])
    with pytest.raises(BalancingMismatch, match="other participants"):
        ledger.open_event(EVENT, *terms, TRIO, [5_000, 2_000, 2_000])  # same sum
    with pytest.raises(BalancingMismatch, match="other participants"):
        ledger.open_event(EVENT, *terms, [*TRIO[:2], MEMBERS[3]], requested)
    with pytest.raises(BalancingError, match="requested 0 Wh"):
        ledger.open_event(dr_event_id("bad"), *terms, TRIO, [1, 0, 1])
    with pytest.raises(BalancingError, match="3 participants but 2 requested"):
        ledger.open_event(dr_event_id("bad"), *terms, TRIO, [1, 1])
    assert ledger.opt_out_for(EVENT, TRIO[2], start - 600)
    assert not ledger.opt_out_for(EVENT, TRIO[2], start - 600)

    responses = [
        Response(TRIO[0], 4_000, 2_500),  # 1500 Wh at 0.30/kWh
        Response(TRIO[1], 9_000, 1_000),  # 8000 Wh, capped at the 5000 Wh requested
        Response(TRIO[2], 3_000, 0),  # opted out: nothing
    ]
    assert ledger.record_responses(EVENT, responses[:1]) == 1
    assert ledger.record_responses(EVENT, responses) == 1  # the first is skipped
    assert ledger.record_responses(EVENT, responses) == 0
    with pytest.raises(BalancingMismatch, match="the chain recorded"):
        ledger.record_responses(EVENT, [Response(TRIO[0], 4_000, 3_000)])
    payments = [450_000, 1_500_000, 0]
    assert [state.balance_of(m) for m in TRIO] == payments
    assert [ledger.paid_to(m) for m in TRIO] == payments
    assert ledger.total_paid_micros() == sum(payments)
    assert ledger.pool_micros() == 2 * UNIT - sum(payments) == state.balance_of(ledger.address)
    event = ledger.event_state(EVENT)
    assert event is not None
    assert (event.enrolled, event.requested_wh, event.opted_out, event.responded) == (
        3,
        9_000,
        1,
        3,
    )
    assert (event.delivered_wh, event.paid_micros) == (6_500, sum(payments))
    assert ledger.event_state(dr_event_id("never")) is None
    assert ledger.response_of(EVENT, TRIO[1]) == Participation(
        ENROLLED | RESPONDED, 5_000, 5_000, 1_500_000
    )

    history = ledger.history()
    (opened,) = history.events
    assert (opened.event_id, opened.kind, opened.participants) == (EVENT, 0, tuple(TRIO))
    assert (opened.start_s, opened.end_s, opened.target_wh) == (start, end, 9_000)
    assert opened.requested_wh == tuple(requested)
    assert history.opt_outs == [OptOut(EVENT, TRIO[2], True, start - 600)]
    assert [(r.delivered_wh, r.payment_micros) for r in history.responses] == [
        (1_500, 450_000),
        (5_000, 1_500_000),
        (0, 0),
    ]
    assert history.responses[2] == ResponseRecord(EVENT, TRIO[2], 3_000, 0, 0, 0)
    assert history.paid_micros_by_participant() == dict(zip(TRIO, payments, strict=True))
    assert history.budget == [BudgetMove(operator, 2 * UNIT, 2 * UNIT)]

    # a second event the remaining pool cannot pay is refused whole
    second = dr_event_id("openadr/event-2025-06-02-18")
    ledger.open_event(second, *terms, TRIO[:1], [1_000])
    with pytest.raises(TransactionReverted, match="GridBalancing: budget pool is short"):
        ledger.record_responses(second, [Response(TRIO[0], 1_000, 0)])
    assert ledger.pool_micros() == 50_000


def history_of(
    window_start_s: int, window_wh: list[int | None], *, usual_wh: int = 500
) -> MeterHistory:
    """Three weeks of ``usual_wh`` per interval up to an event window whose readings are
    ``window_wh`` (None: missing): the baseline of every window interval is ``usual_wh``."""
    before = np.arange(window_start_s - 21 * DAY, window_start_s, INTERVAL_S)
    inside = [window_start_s + i * INTERVAL_S for i, v in enumerate(window_wh) if v is not None]
    starts = np.concatenate((before, np.array(inside, dtype=np.int64)))
    values = [usual_wh] * before.size + [v for v in window_wh if v is not None]
    return MeterHistory(starts, np.array(values, dtype=np.int64), INTERVAL_S)


def test_a_settled_event_is_paid_on_chain_exactly_as_settled_off_chain(
    chain: ChainConnection, ledgers: tuple[BalancingLedger, CommunityState]
) -> None:
    """An event of 2025 (long past in block time) opened from the pipeline's
    DemandResponseEvent, settled by settle_event and recorded after the fact: every
    member's CommunityCredit balance grows by exactly its off-chain payment."""
    ledger, state = ledgers
    ledger.fund(10 * UNIT, reference="budget/2025-06")
    start = T0 + 17 * 3_600  # Monday 2025-06-02 17:00-18:00 UTC
    end = start + 4 * INTERVAL_S
    assert int(chain.web3.eth.get_block("latest")["timestamp"]) > end
    event = DemandResponseEvent(
        "dr-2025-06-02-17",
        EventKind.CURTAIL,
        start,
        end,
        INTERVAL_S,
        target_kw=4.5,
        rate_micros_per_kwh=333_333,
        participants=(0, 1, 2, 3, 4, 5),
        requested_kw=(1.0, 0.5, 1.0, 1.0, 1.0, 0.0001),
    )
    accounts = dict(enumerate(MEMBERS))
    histories = {
        0: history_of(start, [300] * 4),  # 800 Wh below the 2000 Wh baseline, 1000 asked
        1: history_of(start, [0] * 4),  # 2000 Wh below: more than the 500 Wh asked
        2: history_of(start, [250] * 4),  # opted out
        3: history_of(start, [600] * 4),  # no answer, used more than usual: nothing
        4: history_of(start, [0, 0, None, 0]),  # a reading missing: unmeasured
        5: history_of(start, [0] * 4),  # asked for 0.1 Wh: 0 Wh, left off the chain
    }
    settlement = settle_event(event, {0: True, 1: True, 2: False}, histories)
    rows = settlement.participants
    assert [r.requested_wh for r in rows] == [1_000, 500, 1_000, 1_000, 1_000, 0]
    assert [r.delivered_wh for r in rows] == [800, 500, 0, 0, 0, 0]
    assert [r.payment_micros for r in rows] == [266_666, 166_666, 0, 0, 0, 0]
    assert rows[2].response is ParticipantResponse.OPTED_OUT
    assert rows[2].reduction_wh == 1_000  # it did curtail, but opted out: not paid
    assert not rows[4].is_measured
    assert rows[4].measured_wh < rows[4].baseline_wh  # a partial reading is not paid

    assert ledger.open_dr_event(event, accounts)
    assert not ledger.open_dr_event(event, accounts)  # the chain has it
    event_id = dr_event_id(event.event_id)
    opened = ledger.event_state(event_id)
    assert opened is not None
    assert (opened.kind, opened.start_s, opened.end_s) == (DemandResponseKind.CURTAIL, start, end)
    assert (opened.target_wh, opened.rate_micros_per_kwh) == (4_500, 333_333)
    assert (opened.enrolled, opened.requested_wh) == (5, 4_500)
    assert ledger.participant_flags(event_id, MEMBERS[5]) == 0

    before = [state.balance_of(m) for m in MEMBERS]
    assert ledger.record_dr_settlement(event, settlement, accounts) == 2  # opt-out, responses
    assert ledger.record_dr_settlement(event, settlement, accounts) == 0
    received = [state.balance_of(m) - b for m, b in zip(MEMBERS, before, strict=True)]
    assert received == [r.payment_micros for r in rows]
    records = ledger.participations(event_id, MEMBERS)
    assert [(p.delivered_wh, p.payment_micros) for p in records] == [
        (r.delivered_wh, r.payment_micros) for r in rows
    ]
    assert [p.flags for p in records] == [
        ENROLLED | RESPONDED,
        ENROLLED | RESPONDED,
        ENROLLED | OPTED_OUT | OPTED_OUT_OFF_CHAIN | RESPONDED,
        ENROLLED | RESPONDED,
        ENROLLED | RESPONDED | UNMEASURED,
        0,
    ]
    history = ledger.history()
    (chain_event,) = history.events
    assert chain_event.participants == tuple(MEMBERS[:5])
    assert chain_event.requested_wh == (1_000, 500, 1_000, 1_000, 1_000)
    assert history.opt_outs == [OptOut(event_id, MEMBERS[2], True, start - INTERVAL_S)]
    assert [r.measured_wh for r in history.responses] == [1_200, 0, 1_000, 2_400, None]
    assert history.paid_micros_by_participant() == {
        m: r.payment_micros for m, r in zip(MEMBERS[:5], rows[:5], strict=True)
    }

    # a settlement that contradicts the chain (member 2 took part after all) is refused
    took_part = settle_event(event, {0: True, 1: True}, histories)
    with pytest.raises(BalancingMismatch, match="opted out on chain but no_response"):
        ledger.record_dr_settlement(event, took_part, accounts)
    with pytest.raises(BalancingError, match="no account for participant 4"):
        ledger.open_dr_event(event, {i: MEMBERS[i] for i in range(4)})
    # an event the chain holds with another rate is not paid at the settlement's
    dearer = replace(event, rate_micros_per_kwh=400_000)
    with pytest.raises(BalancingMismatch, match="other terms"):
        ledger.record_dr_settlement(dearer, settle_event(dearer, {}, histories), accounts)


def test_a_settlement_opens_its_event_when_the_chain_lacks_it(
    ledgers: tuple[BalancingLedger, CommunityState],
) -> None:
    """Settled without a prior open_dr_event: the event is opened first, then paid."""
    ledger, state = ledgers
    ledger.fund(UNIT, reference="budget/2025-07")
    start = T0 + 30 * DAY + 18 * 3_600  # Wednesday 2025-07-02 18:00-18:30 UTC
    event = DemandResponseEvent(
        "dr-2025-07-02-18",
        EventKind.SHIFT,
        start,
        start + 2 * INTERVAL_S,
        INTERVAL_S,
        target_kw=2.0,
        rate_micros_per_kwh=250_000,
        participants=(1, 0),
        requested_kw=(2.0, 0.3),
        rebound_end_s=start + 4 * INTERVAL_S,
    )
    histories = {
        0: history_of(start, [100, 100, 700, 700]),  # 800 Wh less, 150 Wh asked
        1: history_of(start, [200, 200, 500, 500]),  # 600 Wh less, 1000 Wh asked
    }
    settlement = settle_event(event, {}, histories)
    assert [r.payment_micros for r in settlement.participants] == [150_000, 37_500]
    accounts = {0: MEMBERS[0], 1: MEMBERS[1]}
    assert ledger.record_dr_settlement(event, settlement, accounts) == 2  # open, responses
    opened = ledger.event_state(dr_event_id(event.event_id))
    assert opened is not None
    assert (opened.kind, opened.target_wh, opened.requested_wh) == (
        DemandResponseKind.SHIFT,
        1_000,
        1_150,
    )
    assert [state.balance_of(m) for m in MEMBERS[:2]] == [37_500, 150_000]


def test_an_islanding_episode_is_recorded_once(
    ledgers: tuple[BalancingLedger, CommunityState],
) -> None:
    ledger, _ = ledgers
    island = IslandRecord(T0, T0 + 3 * INTERVAL_S, IslandReason.GRID_OUTAGE, 4_200, 0, 1_800)
    assert ledger.record_island(T0, T0 + 3 * INTERVAL_S, 4_200, 0, 1_800) == 1
    assert ledger.record_island(T0, T0 + 3 * INTERVAL_S, 4_200, 0, 1_800) == 0  # on chain
    assert ledger.island(0) == island
    with pytest.raises(BalancingMismatch, match="does not follow the last one"):
        ledger.record_island(T0 + INTERVAL_S, T0 + 4 * INTERVAL_S, 0, 0, 0)
    later = IslandRecord(T0 + 8 * INTERVAL_S, T0 + 8 * INTERVAL_S, IslandReason.PLANNED, 0, 10, 5)
    assert ledger.record_island(*later.as_tuple()[:2], 0, 10, 5, reason=IslandReason.PLANNED)
    assert ledger.history().islands == [island, later]


def test_the_deployment_wires_grid_balancing_to_its_community(chain: ChainConnection) -> None:
    """Deployed after the others and trusted by CommunityCredit; a deployment file that
    predates it, or takes it from another community, is refused."""
    ours = chain.deploy()
    balancing = contract(chain.web3, ours, "GridBalancing")
    assert balancing.functions.registry().call() == ours.address("ParticipantRegistry")
    assert balancing.functions.credit().call() == ours.address("CommunityCredit")
    assert balancing.functions.monitoring().call() == ours.address("EnergyMonitoring")
    assert balancing.functions.interval_length_s().call() == INTERVAL_S
    credit = contract(chain.web3, ours, "CommunityCredit")
    assert credit.functions.trusted(ours.address("GridBalancing")).call()
    theirs = deploy_or_load(chain.transactions, chain.directory / "other-community")
    mixed = {**ours.contracts, "GridBalancing": theirs.contracts["GridBalancing"]}
    Deployment(ours.chain_id, ours.deployer, mixed).write(chain.deployment_file())
    with pytest.raises(DeploymentError, match="GridBalancing at .* mixes two communities"):
        chain.deploy()
    old = {k: v for k, v in ours.contracts.items() if k != "GridBalancing"}
    Deployment(ours.chain_id, ours.deployer, old).write(chain.deployment_file())
    with pytest.raises(DeploymentError, match="predates GridBalancing"):
        chain.deploy()
