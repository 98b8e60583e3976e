"""Demand response: event planning, the high-5-of-10 baseline, measured response and payment.

The baseline is checked against an example computed by hand; the invariants (a constant
history has a constant baseline, payments are never negative, an opted-out participant is
paid nothing, delivery never exceeds the requested energy, the planner never asks a load
for more than its flexibility and covers the shortfall when it can) with Hypothesis.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.demand_response import (
    HIGH_5_OF_10,
    BaselineMethod,
    BaselineRule,
    ChannelGroup,
    DemandResponseError,
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
    EventStatus,
    MeterHistory,
    ParticipantResponse,
    ScriptedChannel,
    compute_baseline,
    delivered_energy_wh,
    payment_micros,
    plan_event,
    settle_event,
)
from gridshare.errors import GridshareError

HOUR = 3_600
DAY = 86_400
EVENT_DAY = 1_750_204_800  # 2025-06-18T00:00:00Z, a Wednesday
START = EVENT_DAY + 17 * HOUR  # the event: 17:00-19:00 UTC
END = START + 2 * HOUR

# -- the hand-computed example ----------------------------------------------------------------
# Hourly readings, one value for every hour of a day (hour 18 one Wh more). Going back from
# the event day (Wednesday): k=3,4 and 10,11 are weekends (skipped: weekday event), k=6 had a
# demand-response event (skipped). The ten eligible weekdays are k = 1 2 5 7 8 9 12 13 14 15
# (k=16 is the eleventh and is not looked at).
DAY_VALUES = {1: 100, 2: 300, 5: 200, 6: 2_000, 7: 500, 8: 400, 9: 250, 12: 350, 13: 150,
              14: 450, 15: 50, 16: 1_000, 3: 900, 4: 900, 10: 900, 11: 900}  # fmt: skip
PAST_EVENT = (EVENT_DAY - 6 * DAY + 17 * HOUR, EVENT_DAY - 6 * DAY + 19 * HOUR)
# The highest five of the ten: k=7 (500), 14 (450), 8 (400), 12 (350), 2 (300).
# Per interval: hour 17 sums to 2000, hour 18 to 2005; unadjusted 400 and 401.
# Adjustment window 13:00-16:00 (16:00-17:00 is skipped): the selected days hold
# 3 x 2000 = 6000 Wh, i.e. 1200 Wh per day on average.


def example_history(today_wh: int, window_wh: tuple[int, int] | None = None) -> MeterHistory:
    starts: list[int] = []
    values: list[int] = []
    for k in sorted(DAY_VALUES, reverse=True):
        day = EVENT_DAY - k * DAY
        for hour in range(24):
            starts.append(day + hour * HOUR)
            values.append(DAY_VALUES[k] + (hour == 18))
    for hour in range(17):  # the event day up to the event; 16:00 is in the skipped hour
        starts.append(EVENT_DAY + hour * HOUR)
        values.append(9_999 if hour == 16 else today_wh)
    if window_wh is not None:
        starts += [START, START + HOUR]
        values += list(window_wh)
    return MeterHistory(np.array(starts), np.array(values), HOUR)


def test_baseline_matches_the_hand_computed_example() -> None:
    # today 460 Wh per hour in 13:00-16:00: factor 3 x 460 / 1200 = 1.15 (within +-20%)
    baseline = compute_baseline(example_history(460), START, END, past_events=[PAST_EVENT])
    assert baseline.method is BaselineMethod.HIGH_OF_DAYS
    assert baseline.days_used == (7, 14, 8, 12, 2)  # highest first
    assert baseline.adjustment == Fraction(23, 20)
    # floor(2000 x 1.15 / 5) = 460, floor(2005 x 1.15 / 5) = floor(461.15) = 461
    assert baseline.baseline_wh.tolist() == [460, 461]
    assert baseline.total_wh == 921


def test_the_same_day_adjustment_is_capped_at_20_percent() -> None:
    hot = compute_baseline(example_history(600), START, END, past_events=[PAST_EVENT])
    assert hot.adjustment == Fraction(6, 5)  # 1800 / 1200 = 1.5, capped
    assert hot.baseline_wh.tolist() == [480, 481]  # floor(401 x 1.2) = 481
    cool = compute_baseline(example_history(100), START, END, past_events=[PAST_EVENT])
    assert cool.adjustment == Fraction(4, 5)  # 300 / 1200 = 0.25, capped
    assert cool.baseline_wh.tolist() == [320, 320]  # floor(401 x 0.8) = floor(320.8)


def test_an_earlier_event_day_is_not_eligible() -> None:
    # without the past event, k=6 (2000 Wh) is eligible and the highest; k=15 drops out
    baseline = compute_baseline(example_history(460), START, END)
    assert baseline.days_used == (6, 7, 14, 8, 12)


def test_a_weekend_event_uses_weekend_days() -> None:
    saturday = EVENT_DAY - 4 * DAY + 17 * HOUR
    history = example_history(460)
    baseline = compute_baseline(history, saturday, saturday + 2 * HOUR)
    # weekend days before Saturday k=4: only k=10, 11 (Sun, Sat) are in the history
    assert baseline.method is BaselineMethod.FEW_DAYS
    assert baseline.days_used == (6,)  # ceil(2 x 5 / 10) = 1 day: 7 and 6 days before


def test_few_days_fall_back_to_the_highest_half() -> None:
    starts = np.arange(EVENT_DAY - 3 * DAY, START, HOUR)  # from Sunday to the event
    day_of = (starts - (EVENT_DAY - 3 * DAY)) // DAY
    values = np.array([900, 100, 200, 220])[day_of]  # Sun, Mon, Tue, the event day
    baseline = compute_baseline(MeterHistory(starts, values, HOUR), START, END)
    # two eligible weekdays (k=1: 200 Wh, k=2: 100 Wh): the highest ceil(2 x 5 / 10) = 1
    assert baseline.method is BaselineMethod.FEW_DAYS
    assert baseline.days_used == (1,)
    assert baseline.adjustment == Fraction(11, 10)  # 3 x 220 / (3 x 200)
    assert baseline.baseline_wh.tolist() == [220, 220]


def test_no_past_day_falls_back_to_the_same_day_then_to_zero() -> None:
    starts = np.arange(EVENT_DAY, START, HOUR)
    values = (np.arange(starts.size) * 10).astype(np.int64)  # 13:00..15:00 -> 130, 140, 150
    same_day = compute_baseline(MeterHistory(starts, values, HOUR), START, END)
    assert same_day.method is BaselineMethod.SAME_DAY
    assert same_day.baseline_wh.tolist() == [140, 140]
    nothing = compute_baseline(MeterHistory.empty(HOUR), START, END)
    assert nothing.method is BaselineMethod.NO_DATA
    assert nothing.baseline_wh.tolist() == [0, 0]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 20_000),
    st.integers(0, 25),
    st.sampled_from([900, 1_800, 3_600]),
    st.integers(0, 40),
    st.integers(1, 12),
    st.booleans(),
)
def test_a_constant_history_has_that_constant_as_baseline(
    value_wh: int, n_days: int, interval_s: int, start_slot: int, length: int, weekdays: bool
) -> None:
    start = EVENT_DAY + 8 * HOUR + start_slot * interval_s
    starts = np.arange(EVENT_DAY - n_days * DAY, start, interval_s)
    history = MeterHistory(starts, np.full(starts.size, value_wh), interval_s)
    rule = BaselineRule(same_day_type=weekdays)
    baseline = compute_baseline(history, start, start + length * interval_s, rule=rule)
    assert baseline.baseline_wh.tolist() == [value_wh] * length
    assert baseline.method is not BaselineMethod.NO_DATA


# -- settlement --------------------------------------------------------------------------------


def example_event(kind: EventKind = EventKind.CURTAIL) -> DemandResponseEvent:
    return DemandResponseEvent(
        "ev-1",
        kind,
        START,
        END,
        HOUR,
        target_kw=0.5,
        rate_micros_per_kwh=300_000,
        participants=(0, 1, 2),
        requested_kw=(0.1, 0.2, 0.2),
        rebound_end_s=END + 2 * HOUR if kind is EventKind.SHIFT else None,
    )


def test_settlement_of_the_example() -> None:
    event = example_event()
    histories = {
        0: example_history(460, (300, 320)),  # baseline 921, measured 620: 301 Wh less
        1: example_history(460, (300, 320)),
        2: example_history(460, (300, 320)),
    }
    result = settle_event(event, {0: True, 1: False}, histories, past_events=[PAST_EVENT])
    first, second, third = result.participants
    assert (first.baseline_wh, first.measured_wh, first.reduction_wh) == (921, 620, 301)
    # requested 0.1 kW x 2 h = 200 Wh caps the paid delivery; 200 Wh x 0.3 /kWh = 0.06
    assert (first.requested_wh, first.delivered_wh, first.payment_micros) == (200, 200, 60_000)
    assert first.response is ParticipantResponse.OPTED_IN
    # opted out: reported with its (real) reduction, credited and paid nothing
    assert second.response is ParticipantResponse.OPTED_OUT
    assert (second.reduction_wh, second.delivered_wh, second.payment_micros) == (301, 0, 0)
    # no answer: the programme is opt-out, so it takes part: 301 Wh of 400 Wh requested
    assert third.response is ParticipantResponse.NO_RESPONSE
    assert (third.delivered_wh, third.payment_micros) == (301, 90_300)
    assert result.opted_out == (1,)
    assert (result.delivered_wh, result.payment_micros) == (501, 150_300)


def test_a_shift_event_reports_the_rebound_and_pays_the_window() -> None:
    event = example_event(EventKind.SHIFT)
    history = example_history(460, (300, 320))
    after = MeterHistory(  # 19:00-21:00 consumption: baseline there is 460 + 460 = 920
        np.concatenate((history.start_s, [END, END + HOUR])),
        np.concatenate((history.import_wh, [600, 500])),
        HOUR,
    )
    result = settle_event(
        event, {0: True}, {0: after, 1: after, 2: history}, past_events=[PAST_EVENT]
    )
    first, _, unmetered_after = result.participants
    assert first.baseline_wh == 921  # the window part of the longer baseline
    assert (first.delivered_wh, first.rebound_wh, first.shifted_wh) == (200, 180, 180)
    assert first.payment_micros == 60_000  # the rebound changes nothing in the payment
    assert (unmetered_after.rebound_wh, unmetered_after.shifted_wh) == (0, 0)


def test_an_unmeasured_participant_is_paid_nothing() -> None:
    event = example_event()
    partial = example_history(460, None)
    histories = {0: partial, 1: MeterHistory.empty(HOUR), 2: example_history(460, (1, 1))}
    result = settle_event(event, {}, histories, past_events=[PAST_EVENT])
    assert [p.is_measured for p in result.participants] == [False, False, True]
    assert [p.payment_micros for p in result.participants][:2] == [0, 0]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 3_000), min_size=2, max_size=2),
    st.lists(st.floats(0, 5, allow_nan=False), min_size=3, max_size=3),
    st.lists(st.sampled_from([True, False, None]), min_size=3, max_size=3),
    st.integers(0, 2_000_000),
    st.integers(0, 2**32 - 1),
)
def test_payment_is_never_negative_and_delivery_stays_within_the_request(
    measured: list[int], kw: list[float], answers: list[bool | None], rate: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    event = DemandResponseEvent("ev", EventKind.CURTAIL, START, END, HOUR, sum(kw), rate,
                                (0, 1, 2), tuple(kw))  # fmt: skip
    starts = np.arange(EVENT_DAY - 20 * DAY, END, HOUR)
    histories = {}
    for index in range(3):
        values = rng.integers(0, 3_000, starts.size)
        values[-2:] = measured
        histories[index] = MeterHistory(starts, values, HOUR)
    responses = {i: a for i, a in enumerate(answers) if a is not None}
    result = settle_event(event, responses, histories)
    for settled in result.participants:
        assert settled.payment_micros >= 0
        assert 0 <= settled.delivered_wh <= settled.requested_wh
        assert settled.delivered_wh <= settled.reduction_wh
        assert settled.payment_micros == settled.delivered_wh * rate // 1_000
        if settled.response is ParticipantResponse.OPTED_OUT:
            assert (settled.delivered_wh, settled.payment_micros) == (0, 0)


def test_delivered_energy_and_payment_rules() -> None:
    assert delivered_energy_wh(1_000, 400, 500) == 500  # capped at the request
    assert delivered_energy_wh(1_000, 800, 500) == 200
    assert delivered_energy_wh(1_000, 1_300, 500) == 0  # consumed more: nothing, not negative
    assert payment_micros(333, 1_001) == 333  # 333.333 rounds down (payee)
    with pytest.raises(DemandResponseError, match=">= 0"):
        delivered_energy_wh(-1, 0, 0)
    with pytest.raises(DemandResponseError, match=">= 0"):
        payment_micros(10, -5)


# -- planning ----------------------------------------------------------------------------------

Q = 900  # 15-minute intervals
H0 = EVENT_DAY


def enrolment(index: int, kw: float, priority: int = 0) -> Enrolment:
    return Enrolment(index, kw, DeviceProtocol.MQTT, f"dev-{index}", priority)


def plan(
    forecast: list[int], limit: int, enrolments: list[Enrolment], **options: Any
) -> DemandResponseEvent | None:
    """``plan_event`` on 15-minute intervals from ``H0``, rate 1 micro/kWh unless given."""
    options = {"event_id": "e", "rate_micros_per_kwh": 1, **options}
    return plan_event(forecast, limit, enrolments, horizon_start_s=H0, interval_s=Q, **options)


def test_plan_calls_the_costliest_peak_by_priority() -> None:
    forecast = [1_000, 1_500, 1_600, 900, 1_100, 1_300, 1_000]
    # limit 1000 Wh per 15 min: excess 500, 600 (first run, 1100 Wh) and 100, 300 (400 Wh)
    enrolments = [enrolment(0, 1.0, priority=2), enrolment(1, 1.5, 1), enrolment(2, 0.7, 1)]
    event = plan(forecast, 1_000, enrolments, event_id="ev-7", rate_micros_per_kwh=250_000)
    assert event is not None
    assert (event.start_s, event.end_s) == (H0 + Q, H0 + 3 * Q)
    assert event.target_kw == pytest.approx(2.4)  # 600 Wh in 15 min
    assert event.participants == (1, 2, 0)  # priority 1 (by index), then priority 2
    assert event.requested_kw == pytest.approx((1.5, 0.7, 0.2))
    assert event.status_at(H0) is EventStatus.PENDING
    assert event.status_at(H0 + Q) is EventStatus.ACTIVE
    assert event.status_at(H0 + 3 * Q) is EventStatus.COMPLETED
    # with prices the second peak is the costlier one
    prices = [100_000] * 4 + [900_000] * 3
    priced = plan(forecast, 1_000, enrolments, price_micros_per_kwh=prices, kind=EventKind.SHIFT)
    assert priced is not None
    assert (priced.start_s, priced.end_s, priced.rebound_end_s) == (
        H0 + 4 * Q,
        H0 + 6 * Q,
        H0 + 8 * Q,
    )
    assert priced.participants == (1,)  # 300 Wh / 15 min = 1.2 kW: the first load suffices


def test_plan_returns_none_without_a_peak_or_without_flexibility() -> None:
    assert plan([10, 20], 20, [enrolment(0, 1.0)]) is None
    assert plan([10, 30], 20, [enrolment(0, 0.0)]) is None
    assert plan([10, 30], 20, []) is None


def test_plan_limits_the_window_length() -> None:
    forecast = [2_000, 2_100, 2_500, 2_400, 2_000]
    event = plan(forecast, 1_000, [enrolment(0, 9.0)], max_intervals=2)
    assert event is not None
    assert (event.start_s, event.end_s) == (H0 + 2 * Q, H0 + 4 * Q)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.integers(0, 5_000), min_size=1, max_size=48),
    st.integers(0, 4_000),
    st.lists(st.tuples(st.floats(0, 20, allow_nan=False), st.integers(0, 3)), max_size=8),
)
def test_plan_respects_flexibility_and_covers_the_shortfall(
    forecast: list[int], limit: int, loads: list[tuple[float, int]]
) -> None:
    enrolments = [enrolment(i, kw, prio) for i, (kw, prio) in enumerate(loads)]
    event = plan(forecast, limit, enrolments)
    capacity_kw = math.fsum(kw for kw, _ in loads)
    if max(forecast) <= limit or capacity_kw == 0:
        assert event is None
        return
    assert event is not None
    flexible = {e.participant_index: e.flexible_kw for e in enrolments}
    for index, kw in zip(event.participants, event.requested_kw, strict=True):
        assert 0 < kw <= flexible[index]
    window = np.array(forecast[(event.start_s - H0) // Q : (event.end_s - H0) // Q])
    assert (window > limit).all()
    asked = math.fsum(event.requested_kw)
    assert asked <= event.target_kw + 1e-9
    if capacity_kw >= event.target_kw:
        assert asked == pytest.approx(event.target_kw, abs=1e-9)
        # the limit holds in every interval of the window
        assert (window - asked * Q / 3.6 <= limit + 1e-6).all()
    else:
        assert asked == pytest.approx(capacity_kw)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_s": START + 60}, "not aligned to the 3600 s interval"),
        ({"end_s": START}, "at or before it starts"),
        ({"requested_kw": (-0.1, 0.2, 0.2)}, "finite power >= 0 kW"),
        ({"requested_kw": (0.1, 0.2)}, "one per participant"),
        ({"participants": (0, 1, 1)}, "listed twice"),
        ({"rate_micros_per_kwh": -1}, "must be >= 0"),
        ({"kind": "boost"}, "not one of curtail, shift"),
        ({"kind": EventKind.SHIFT}, "needs rebound_end_s"),
        ({"rebound_end_s": END + HOUR}, "only shift events"),
        ({"event_id": ""}, "non-empty event_id"),
    ],
)
def test_bad_events_are_refused_with_a_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DemandResponseError, match=message):
        replace(example_event(), **change)


def test_errors_name_the_problem() -> None:
    assert issubclass(DemandResponseError, GridshareError)
    with pytest.raises(DemandResponseError, match="finite power >= 0 kW"):
        enrolment(0, -1.0)
    with pytest.raises(DemandResponseError, match="not one of openadr, mqtt"):
        Enrolment(0, 1.0, "zigbee", "d")  # type: ignore[arg-type]
    with pytest.raises(DemandResponseError, match="non-empty id"):
        Enrolment(0, 1.0, DeviceProtocol.OPENADR, "")
    event = example_event()
    with pytest.raises(DemandResponseError, match=r"participants \[7\] who were not called"):
        settle_event(event, {7: True}, {})
    with pytest.raises(DemandResponseError, match="no meter history for participants"):
        settle_event(event, {}, {0: MeterHistory.empty(HOUR)})
    with pytest.raises(DemandResponseError, match="participant 9 was not called"):
        event.requested_wh(9)
    with pytest.raises(DemandResponseError, match="enrolled twice"):
        plan([5], 0, [enrolment(0, 1.0), enrolment(0, 2.0)])
    with pytest.raises(DemandResponseError, match="negative value"):
        plan([5, -1], 0, [])
    with pytest.raises(DemandResponseError, match="not aligned"):
        plan_event([5], 0, [], horizon_start_s=H0 + 1, interval_s=Q, event_id="e",
                   rate_micros_per_kwh=1)  # fmt: skip
    with pytest.raises(DemandResponseError, match="strictly increasing"):
        MeterHistory(np.array([HOUR, 0]), np.array([1, 1]), HOUR)
    with pytest.raises(DemandResponseError, match="import must be >= 0"):
        MeterHistory(np.array([0, HOUR]), np.array([1, -1]), HOUR)
    with pytest.raises(DemandResponseError, match="at most one day"):
        compute_baseline(MeterHistory.empty(HOUR), START, START + 2 * DAY)
    with pytest.raises(DemandResponseError, match="multiple of the 7200 s interval"):
        compute_baseline(MeterHistory.empty(7_200), START + HOUR, END + HOUR)
    with pytest.raises(DemandResponseError, match="highest"):
        BaselineRule(days=4, highest=5)
    assert HIGH_5_OF_10.days == 10


# -- channels -----------------------------------------------------------------------------------


def test_scripted_channels_answer_and_a_group_merges_them() -> None:
    event = example_event()
    enrolments = [enrolment(0, 1.0), enrolment(1, 1.0), enrolment(2, 1.0), enrolment(3, 1.0)]
    first = ScriptedChannel(opting_out=frozenset({1}), silent=frozenset({2}))
    second = ScriptedChannel()
    group = ChannelGroup([first, second])
    group.issue(event, enrolments)
    assert first.responses("ev-1") == {0: True, 1: False}
    assert group.responses("ev-1") == {0: True, 1: True, 2: True}  # the later channel wins
    assert group.responses("unknown") == {}
    with pytest.raises(DemandResponseError, match=r"participants \[2\] that are not enrolled"):
        ScriptedChannel().issue(event, enrolments[:2])
