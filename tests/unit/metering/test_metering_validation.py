"""The reading validator: every refusal has a reason, and the fast paths agree with the rules.

The property tests feed the same readings as one bundle, as one-reading bundles and in
random chunks, and compare every outcome with a small reference implementation of the
documented rules written here on plain Python ints.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.metering.validation import (
    DUPLICATE,
    PREHISTORY,
    Gap,
    MeterIdentity,
    MeterState,
    ReadingValidator,
    Reason,
    ValidationPolicy,
    Verdict,
)
from gridshare.metering.wire import (
    MAX_INT,
    QUALITY_RANGES,
    ReadingBundle,
    bundle_from_json,
    bundle_to_json,
    device_address,
    make_bundle,
    sign_bundle,
)

KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
METER = "c:m0/grid"
LIMIT = 10_000
INTERVAL = 900
B0 = 1_748_822_400  # 2025-06-02T00:00:00Z, a multiple of 900 s
NOW = B0 + 40 * INTERVAL + 30  # thirty seconds into interval 40
MAX_AGE = 24 * INTERVAL
TOLERANCE = 60
POLICY = ValidationPolicy(INTERVAL, max_age_s=MAX_AGE, future_tolerance_s=TOLERANCE)
IDENTITY = MeterIdentity(METER, 1, device_address(KEY), True, LIMIT)
T = [B0 + INTERVAL * k for k in range(41)]  # T[39] is the newest finished interval


@dataclass(frozen=True)
class Row:
    start: int
    seq: int
    imp: int = 0
    exp: int = 0
    reg_i: int = 0
    reg_e: int = 0
    stored: int | None = None
    voltage: float | None = None


def bundle(rows: Sequence[Row], key: bytes = KEY, meter: str = METER) -> ReadingBundle:
    """One signed bundle of ``rows`` (power-quality/stored columns if every row has one)."""
    voltages = [r.voltage for r in rows]
    stored = [r.stored for r in rows]
    made = make_bundle(
        meter,
        [r.start for r in rows],
        [r.seq for r in rows],
        [r.imp for r in rows],
        [r.exp for r in rows],
        [r.reg_i for r in rows],
        [r.reg_e for r in rows],
        quality=None if None in voltages else {"voltage_v": voltages},
        stored_wh=None if None in stored else stored,
    )
    return sign_bundle(made, key)


def validator(
    state: MeterState | None = None, identity: MeterIdentity = IDENTITY
) -> ReadingValidator:
    states = {} if state is None else {identity.meter_id: copy.copy(state)}
    return ReadingValidator({identity.meter_id: identity}, POLICY, states)


def state_of(row: Row) -> MeterState:
    return MeterState(row.start, row.seq, row.reg_i, row.reg_e, row.imp, row.exp)


LAST = Row(T[30], 100, 10, 2, 5_000, 700)
"""A meter's newest accepted reading in the examples below."""


def only_rejection(verdict: Verdict, reason: Reason, detail: str) -> None:
    """The verdict refuses its single reading for ``reason`` with a matching detail."""
    assert verdict.accepted.tolist() == []
    assert verdict.duplicates == 0
    assert len(verdict.rejections) == 1
    rejection = verdict.rejections[0]
    assert rejection.reason is reason
    assert rejection.meter_id == verdict.bundle.meter_id
    assert (rejection.start, rejection.seq) == (
        int(verdict.bundle.start[0]),
        int(verdict.bundle.seq[0]),
    )
    assert re.search(detail, rejection.detail), rejection.detail


# -- every reason ------------------------------------------------------------------------


def test_accepts_a_first_reading_and_remembers_it() -> None:
    v = validator()
    verdict = v.check(bundle([Row(T[39], 1, 10, 0, 10, 0)]), NOW)
    assert verdict.accepted.tolist() == [0]
    assert (verdict.duplicates, verdict.rejections, verdict.meter_index) == (0, [], 1)
    before = Gap(PREHISTORY, T[39], -(1 << 63), 1, 0, 0, 0, 0)  # registers began at 0
    assert v.states[METER] == MeterState(T[39], 1, 10, 0, 10, 0, (before,))


def test_unknown_meter_is_refused_for_every_reading() -> None:
    verdict = validator().check(bundle([Row(T[38], 1), Row(T[39], 2)], meter="c:ghost"), NOW)
    assert [r.reason for r in verdict.rejections] == [Reason.UNKNOWN_METER] * 2
    assert [(r.start, r.seq) for r in verdict.rejections] == [(T[38], 1), (T[39], 2)]
    assert verdict.rejections[0].detail == "no such meter in the community"
    assert verdict.accepted.size == 0
    assert verdict.meter_index == -1


def test_suspended_meter_is_refused() -> None:
    v = validator(identity=replace(IDENTITY, active=False))
    only_rejection(v.check(bundle([Row(T[39], 1)]), NOW), Reason.SUSPENDED_METER, "suspended")
    assert METER not in v.states


def test_value_changed_after_signing_is_a_bad_signature() -> None:
    data = bundle_to_json(bundle([Row(T[39], 1, 10, 0, 10, 0)]))
    data["import_wh"] = [11]
    data["import_register_wh"] = [11]
    verdict = validator().check(bundle_from_json(data), NOW)
    address = "0x" + device_address(KEY).hex()
    only_rejection(
        verdict,
        Reason.BAD_SIGNATURE,
        f"signed by 0x[0-9a-f]{{40}}, the meter's device is {address}",
    )


def test_bundle_signed_by_another_key_is_a_bad_signature() -> None:
    verdict = validator().check(bundle([Row(T[39], 1)], key=OTHER_KEY), NOW)
    other = "0x" + device_address(OTHER_KEY).hex()
    only_rejection(verdict, Reason.BAD_SIGNATURE, f"signed by {other}, the meter's device")


def test_unusable_signature_is_a_bad_signature() -> None:
    verdict = validator().check(bundle([Row(T[39], 1)]).with_signature(b"\x05" * 65), NOW)
    only_rejection(verdict, Reason.BAD_SIGNATURE, "the signature is unusable")


def test_bad_signature_is_checked_before_suspension() -> None:
    v = validator(identity=replace(IDENTITY, active=False))
    verdict = v.check(bundle([Row(T[39], 1)], key=OTHER_KEY), NOW)
    assert [r.reason for r in verdict.rejections] == [Reason.BAD_SIGNATURE]


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        (Row(T[39] + 1, 101, 10, 2, 5_010, 702), Reason.MISALIGNED_INTERVAL, "multiples of 900 s"),
        (Row(T[40], 101, 10, 2, 5_010, 702), Reason.FUTURE_TIMESTAMP, "has not ended yet"),
        (Row(T[15], 1), Reason.STALE_TIMESTAMP, "older than the 6 h the community accepts"),
        (Row(T[31], 101, -1, 2, 5_010, 702), Reason.NEGATIVE_ENERGY, ">= 0 Wh"),
        (Row(T[31], 101, 0, -2, 5_010, 702), Reason.NEGATIVE_ENERGY, ">= 0 Wh"),
        (Row(T[31], 101, 0, 0, -1, 702), Reason.NEGATIVE_ENERGY, ">= 0 Wh"),
        (Row(T[31], 101, 0, 0, 5_000, -1), Reason.NEGATIVE_ENERGY, ">= 0 Wh"),
        (Row(T[31], 101, 0, 0, 5_000, 700, stored=-1), Reason.NEGATIVE_ENERGY, ">= 0 Wh"),
        (Row(T[31], 101, LIMIT + 1, 0, 5_000 + LIMIT + 1, 700), Reason.EXCEEDS_CAPACITY,
         f"more than the {LIMIT} Wh the meter's rating allows"),
        (Row(T[31], 101, 0, LIMIT + 1, 5_000, 700 + LIMIT + 1), Reason.EXCEEDS_CAPACITY,
         f"{LIMIT} Wh"),
        (Row(T[31], 101, 10, 2, 5_010, 702, voltage=1000.5), Reason.POWER_QUALITY_OUT_OF_RANGE,
         "voltage_v is outside its physical range"),
        (Row(T[31], 101, 10, 2, 5_010, 702, voltage=-0.1), Reason.POWER_QUALITY_OUT_OF_RANGE,
         "voltage_v"),
        (Row(T[31], 100, 10, 2, 5_010, 702), Reason.REPLAYED_SEQUENCE,
         "sequence 100 is not above the last accepted 100"),
        (Row(T[35], 7, 10, 2, 5_010, 702), Reason.REPLAYED_SEQUENCE,
         "sequence 7 is not above the last accepted 100"),
        (Row(T[30], 100, 11, 2, 5_000, 700), Reason.REPLAYED_SEQUENCE,
         "interval already reported with sequence 100 and other values"),
        (Row(T[30], 101, 10, 2, 5_000, 700), Reason.REPLAYED_SEQUENCE, "already reported"),
        (Row(T[29], 100, 10, 2, 4_990, 698), Reason.SEQUENCE_OUT_OF_ORDER,
         r"sequence 100 for an interval before the newest one \(sequence 100\)"),
        (Row(T[20], 150, 10, 2, 10, 2), Reason.SEQUENCE_OUT_OF_ORDER, "before the newest one"),
        (Row(T[31], 101, 0, 0, 4_999, 700), Reason.REGISTER_NOT_MONOTONIC,
         r"registers ran backwards from \(5000, 700\) Wh to \(4999, 700\) Wh"),
        (Row(T[31], 101, 0, 0, 5_000, 699), Reason.REGISTER_NOT_MONOTONIC, "ran backwards"),
        (Row(T[29], 99, 10, 2, 5_001, 698), Reason.REGISTER_NOT_MONOTONIC,
         "an earlier interval reports registers above the newest reading's"),
        (Row(T[29], 99, 10, 2, 4_990, 701), Reason.REGISTER_NOT_MONOTONIC, "an earlier interval"),
        (Row(T[31], 101, 10, 2, 5_011, 702), Reason.REGISTER_MISMATCH,
         r"energy \(10, 2\) Wh differs from the register advance \(11, 2\) Wh"),
        (Row(T[31], 101, 10, 3, 5_010, 702), Reason.REGISTER_MISMATCH, "differs from the register"),
        (Row(T[33], 101, 12, 2, 5_010, 702), Reason.REGISTER_MISMATCH,
         r"energy \(12, 2\) Wh exceeds the register advance \(10, 2\) Wh"),
        (Row(T[33], 101, 10, 3, 5_010, 702), Reason.REGISTER_MISMATCH,
         r"energy \(10, 3\) Wh exceeds the register advance \(10, 2\) Wh"),
    ],
)  # fmt: skip
def test_each_refusal_names_its_reason(row: Row, reason: Reason, detail: str) -> None:
    """One reading after LAST, refused for one reason with a detail saying why; the
    meter's remembered reading does not move."""
    v = validator(state_of(LAST))
    only_rejection(v.check(bundle([row]), NOW), reason, detail)
    assert v.states[METER] == state_of(LAST)


def test_interval_closed_is_refused_only_with_a_closing_time() -> None:
    row = Row(T[31], 101, 10, 2, 5_010, 702)
    only_rejection(
        validator(state_of(LAST)).check(bundle([row]), NOW, closed_before_s=T[32]),
        Reason.INTERVAL_CLOSED,
        "already closed and committed",
    )
    assert validator(state_of(LAST)).check(bundle([row]), NOW, T[31]).accepted.tolist() == [0]
    assert validator(state_of(LAST)).check(bundle([row]), NOW).accepted.tolist() == [0]


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("voltage_v", [0.0, 1000.0], [-1.0, 1000.1]),
        ("frequency_hz", [40.0, 70.0], [39.9, 70.1]),
        ("power_factor", [-1.0, 1.0], [-1.01, 1.01]),
        ("thd_pct", [0.0, 100.0], [-0.5, 100.5]),
    ],
)
def test_power_quality_ranges_are_inclusive(name: str, good: list[float], bad: list[float]) -> None:
    """Values at the documented bounds pass; just outside is refused, naming the column."""
    assert QUALITY_RANGES[name] == (good[0], good[1])
    for value, ok in [(v, True) for v in good] + [(v, False) for v in bad]:
        made = make_bundle(METER, [T[39]], [1], [0], [0], [0], [0], quality={name: [value]})
        verdict = validator().check(sign_bundle(made, KEY), NOW)
        if ok:
            assert verdict.accepted.tolist() == [0], (name, value)
        else:
            only_rejection(verdict, Reason.POWER_QUALITY_OUT_OF_RANGE, name)


def test_time_window_boundaries() -> None:
    """An interval may end up to the tolerance in the future; the oldest accepted start
    is exactly max_age before now."""
    v = ValidationPolicy(INTERVAL, max_age_s=MAX_AGE, future_tolerance_s=TOLERANCE)
    edge = ReadingValidator({METER: IDENTITY}, v)
    now = T[40] - TOLERANCE  # T[39] ends exactly at now + tolerance
    assert edge.check(bundle([Row(T[39], 1)]), now).accepted.tolist() == [0]
    only_rejection(
        ReadingValidator({METER: IDENTITY}, v).check(bundle([Row(T[39], 1)]), now - 1),
        Reason.FUTURE_TIMESTAMP,
        "not ended",
    )
    oldest = T[39] - MAX_AGE
    assert validator().check(bundle([Row(oldest, 1)]), T[39]).accepted.tolist() == [0]
    only_rejection(
        validator().check(bundle([Row(oldest, 1)]), T[39] + 1), Reason.STALE_TIMESTAMP, "6 h"
    )


def test_capacity_limit_is_inclusive() -> None:
    at_limit = Row(T[31], 101, LIMIT, LIMIT, 5_000 + LIMIT, 700 + LIMIT)
    assert validator(state_of(LAST)).check(bundle([at_limit]), NOW).accepted.tolist() == [0]


def test_first_failing_check_is_the_reason() -> None:
    """A reading failing several checks is refused once, for the first in the documented
    order (alignment, future, stale, negative, capacity, closed, power quality)."""
    cases = [
        (Row(T[40] + 1, 1, -1), Reason.MISALIGNED_INTERVAL),
        (Row(T[40] + INTERVAL, 1, -1, LIMIT + 5), Reason.FUTURE_TIMESTAMP),
        (Row(T[1], 1, -1), Reason.STALE_TIMESTAMP),
        (Row(T[35], 1, LIMIT + 1, -1, voltage=2000.0), Reason.NEGATIVE_ENERGY),
        (Row(T[35], 1, LIMIT + 1, voltage=2000.0), Reason.EXCEEDS_CAPACITY),
        (Row(T[20], 1, voltage=2000.0), Reason.INTERVAL_CLOSED),
    ]
    for row, reason in cases:
        verdict = validator(state_of(LAST)).check(bundle([row]), NOW, closed_before_s=T[25])
        assert [r.reason for r in verdict.rejections] == [reason], row


# -- duplicates, late readings and multi-reading bundles -----------------------------------


def test_the_same_bundle_twice_is_a_duplicate() -> None:
    v = validator(state_of(LAST))
    first = bundle([Row(T[31], 101, 10, 2, 5_010, 702)])
    assert v.check(first, NOW).accepted.tolist() == [0]
    again = v.check(first, NOW)
    assert (again.accepted.tolist(), again.duplicates, again.rejections) == ([], 1, [])
    assert v.states[METER].seq == 101


def test_newest_reading_repeated_in_a_new_bundle_is_a_duplicate() -> None:
    """A redelivered newest reading is a duplicate even with another signature."""
    verdict = validator(state_of(LAST)).check(bundle([LAST], key=KEY), NOW)
    assert (verdict.accepted.tolist(), verdict.duplicates) == ([], 1)


def test_late_reading_is_accepted_without_moving_the_newest() -> None:
    """An older interval with an older sequence number and registers not above the newest
    is accepted as late; the remembered newest reading stays."""
    v = validator(state_of(LAST))
    late = Row(T[25], 90, 10, 2, 4_000, 600)
    assert v.check(bundle([late]), NOW).accepted.tolist() == [0]
    assert v.states[METER] == state_of(LAST)
    assert v.check(bundle([late]), NOW).accepted.tolist() == [0]  # the store counts the repeat


def test_gap_accepts_energy_up_to_the_register_advance() -> None:
    """After missed intervals the energy may be at most the register advance."""
    v = validator(state_of(LAST))
    row = Row(T[33], 101, 10, 0, 5_030, 710)
    assert v.check(bundle([row]), NOW).accepted.tolist() == [0]
    # the missed T[31] and T[32] may still arrive, with at most the 20 + 10 Wh unaccounted
    missed = Gap(T[30], T[33], 100, 101, 5_000, 700, 5_020, 710)
    assert v.states[METER] == dataclasses.replace(state_of(row), gaps=(missed,))


def test_failing_reading_inside_a_bundle_keeps_the_valid_ones_after_it() -> None:
    """Nothing valid is lost: a bad row is refused and the rows after it still count,
    checked against the newest *accepted* reading."""
    rows = [
        Row(T[31], 101, 10, 2, 5_010, 702),
        Row(T[32], 102, 99, 2, 5_020, 704),  # energy does not match the registers
        Row(T[33], 103, 20, 4, 5_030, 706),  # follows row 0 across the gap
        Row(T[34], 104, 5, 1, 5_035, 707),
        Row(T[34], 104, 5, 1, 5_035, 707),  # the same reading again
        Row(T[28], 95, 1, 1, 4_900, 690),  # late
        Row(T[35] + 7, 105, 1, 1, 5_036, 708),  # misaligned
        Row(T[35], 105, 1, 1, 5_036, 708),
    ]
    v = validator(state_of(LAST))
    verdict = v.check(bundle(rows), NOW)
    assert verdict.accepted.tolist() == [0, 2, 3, 5, 7]
    assert verdict.duplicates == 1
    assert [(r.reason, r.start) for r in verdict.rejections] == [
        (Reason.REGISTER_MISMATCH, T[32]),
        (Reason.MISALIGNED_INTERVAL, T[35] + 7),
    ]
    gap = Gap(T[31], T[33], 101, 103, 5_010, 702, 5_010, 702)  # T[32]: nothing unaccounted
    assert v.states[METER] == dataclasses.replace(state_of(rows[7]), gaps=(gap,))
    kept = verdict.rows()
    assert kept.start.tolist() == [T[31], T[33], T[34], T[28], T[35]]
    assert kept.signature == verdict.bundle.signature


def test_in_order_bundle_is_accepted_whole() -> None:
    rows = [Row(T[31 + i], 101 + i, i, 1, 5_000 + i * (i + 1) // 2, 700 + i + 1) for i in range(8)]
    v = validator(state_of(LAST))
    verdict = v.check(bundle(rows), NOW)
    assert verdict.accepted.tolist() == list(range(8))
    assert v.states[METER] == state_of(rows[-1])


@pytest.mark.parametrize("export", [False, True])
def test_gap_inside_a_bundle_still_bounds_energy_by_the_register_advance(export: bool) -> None:
    """The vectorised path checks both directions across a gap, like the one-reading path."""
    first = Row(T[31], 101, 10, 2, 5_010, 702)
    gap = Row(T[33], 102, 5, 1, 5_015, 703)  # registers advanced by 5 and 1 Wh
    assert validator(state_of(LAST)).check(bundle([first, gap]), NOW).accepted.tolist() == [0, 1]
    bad = replace(gap, exp=2) if export else replace(gap, imp=6)
    verdict = validator(state_of(LAST)).check(bundle([first, bad]), NOW)
    assert verdict.accepted.tolist() == [0]
    assert [r.reason for r in verdict.rejections] == [Reason.REGISTER_MISMATCH]
    assert "exceeds the register advance (5, 1) Wh" in verdict.rejections[0].detail


def test_far_future_interval_is_refused_not_wrapped() -> None:
    """Regression: ``start + interval`` wrapped around int64 and a start near 2**63 passed
    the future check (in one-reading and multi-reading bundles)."""
    far = MAX_INT - MAX_INT % INTERVAL
    only_rejection(validator().check(bundle([Row(far, 1)]), NOW), Reason.FUTURE_TIMESTAMP, "")
    verdict = validator().check(bundle([Row(T[38], 1), Row(far, 2)]), NOW)
    assert verdict.accepted.tolist() == [0]
    assert [r.reason for r in verdict.rejections] == [Reason.FUTURE_TIMESTAMP]


def test_sequence_wrapping_around_int64_is_a_replay() -> None:
    """Regression: the vectorised order check subtracted sequence numbers, and
    -MAX_INT - MAX_INT wrapped to a positive step."""
    rows = [Row(T[38], MAX_INT), Row(T[39], -MAX_INT)]
    verdict = validator().check(bundle(rows), NOW)
    assert verdict.accepted.tolist() == [0]
    assert [r.reason for r in verdict.rejections] == [Reason.REPLAYED_SEQUENCE]
    v = validator(state_of(rows[0]))
    only_rejection(v.check(bundle(rows[1:]), NOW), Reason.REPLAYED_SEQUENCE, "not above")


# -- the fast paths agree with the rules ----------------------------------------------------


Refusal = tuple[Reason, int | None, int | None]
"""A refused reading: reason, interval start, sequence number."""


def reference(
    rows: Sequence[Row], state: MeterState | None, closed_before_s: int | None
) -> tuple[list[int], int, list[Refusal], MeterState | None]:
    """The documented rules, one reading at a time, on Python ints (gaps included)."""
    accepted: list[int] = []
    duplicates = 0
    refused: list[Refusal] = []
    last = None if state is None else copy.copy(state)
    gaps: list[Gap] = [] if state is None else list(state.gaps)
    for i, r in enumerate(rows):
        reason: Reason | None = None
        low, high = QUALITY_RANGES["voltage_v"]
        begin = (r.reg_i - r.imp, r.reg_e - r.exp)
        gap = next((g for g in gaps if g.after < r.start < g.before), None)
        if r.start % INTERVAL != 0:
            reason = Reason.MISALIGNED_INTERVAL
        elif r.start + INTERVAL > NOW + TOLERANCE:
            reason = Reason.FUTURE_TIMESTAMP
        elif r.start < NOW - MAX_AGE:
            reason = Reason.STALE_TIMESTAMP
        elif min(r.imp, r.exp, r.reg_i, r.reg_e) < 0 or (r.stored is not None and r.stored < 0):
            reason = Reason.NEGATIVE_ENERGY
        elif max(r.imp, r.exp) > LIMIT:
            reason = Reason.EXCEEDS_CAPACITY
        elif closed_before_s is not None and r.start < closed_before_s:
            reason = Reason.INTERVAL_CLOSED
        elif r.voltage is not None and not low <= r.voltage <= high:
            reason = Reason.POWER_QUALITY_OUT_OF_RANGE
        elif r.imp > r.reg_i or r.exp > r.reg_e:
            reason = Reason.REGISTER_MISMATCH
        elif last is not None:
            newest = (last.seq, last.import_register_wh, last.export_register_wh)
            advance = (r.reg_i - last.import_register_wh, r.reg_e - last.export_register_wh)
            if r.start == last.start:
                if (r.seq, r.reg_i, r.reg_e, r.imp, r.exp) == (
                    *newest,
                    last.import_wh,
                    last.export_wh,
                ):
                    duplicates += 1
                    continue
                reason = Reason.REPLAYED_SEQUENCE
            elif r.start > last.start:
                if r.seq <= last.seq:
                    reason = Reason.REPLAYED_SEQUENCE
                elif min(advance) < 0:
                    reason = Reason.REGISTER_NOT_MONOTONIC
                elif (
                    r.start - last.start == INTERVAL
                    and (r.imp, r.exp) != advance
                    or r.imp > advance[0]
                    or r.exp > advance[1]
                ):
                    reason = Reason.REGISTER_MISMATCH
            elif r.seq >= last.seq:
                reason = Reason.SEQUENCE_OUT_OF_ORDER
            elif max(advance) > 0:
                reason = Reason.REGISTER_NOT_MONOTONIC
            elif gap is not None:
                if not gap.seq_low < r.seq < gap.seq_high:
                    reason = Reason.SEQUENCE_OUT_OF_ORDER
                elif (
                    begin[0] < gap.low_import_wh
                    or begin[1] < gap.low_export_wh
                    or r.reg_i > gap.high_import_wh
                    or r.reg_e > gap.high_export_wh
                ):
                    reason = Reason.REGISTER_NOT_MONOTONIC
                elif (
                    r.start - gap.after == INTERVAL
                    and begin != (gap.low_import_wh, gap.low_export_wh)
                    or gap.before - r.start == INTERVAL
                    and (r.reg_i, r.reg_e) != (gap.high_import_wh, gap.high_export_wh)
                ):
                    reason = Reason.REGISTER_MISMATCH
        if reason is not None:
            refused.append((reason, r.start, r.seq))
            continue
        accepted.append(i)
        if last is None:
            gaps = [Gap(PREHISTORY, r.start, -(1 << 63), r.seq, 0, 0, *begin)]
            last = state_of(r)
        elif r.start > last.start:
            if r.start - last.start > INTERVAL:
                gaps.append(
                    Gap(last.start, r.start, last.seq, r.seq, last.import_register_wh,
                        last.export_register_wh, *begin)
                )  # fmt: skip
            last = state_of(r)
        elif gap is not None:
            at = gaps.index(gap)
            parts = []
            if r.start - gap.after > INTERVAL:
                parts.append(Gap(gap.after, r.start, gap.seq_low, r.seq, gap.low_import_wh,
                                 gap.low_export_wh, *begin))  # fmt: skip
            if gap.before - r.start > INTERVAL:
                parts.append(Gap(r.start, gap.before, r.seq, gap.seq_high, r.reg_i, r.reg_e,
                                 gap.high_import_wh, gap.high_export_wh))  # fmt: skip
            gaps[at : at + 1] = parts
    if last is not None:
        kept = tuple(g for g in gaps if g.before > NOW - MAX_AGE)
        last = dataclasses.replace(last, gaps=kept)
    return accepted, duplicates, refused, last


def outcome(
    rows: Sequence[Row], cuts: Sequence[int], state: MeterState | None, closed: int | None
) -> tuple[list[int], int, list[Refusal], MeterState | None]:
    """Validate ``rows`` split into bundles at ``cuts``; outcomes in original positions."""
    v = validator(state)
    accepted: list[int] = []
    duplicates = 0
    refused: list[Refusal] = []
    bounds = [0, *sorted(set(cuts)), len(rows)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if lo == hi:
            continue
        verdict = v.check(bundle(rows[lo:hi]), NOW, closed)
        total = verdict.accepted.size + verdict.duplicates + len(verdict.rejections)
        assert total == hi - lo, "every reading is in exactly one count"
        assert verdict.accepted.dtype == np.int64
        accepted.extend(lo + int(i) for i in verdict.accepted.tolist())
        duplicates += verdict.duplicates
        refused.extend((r.reason, r.start, r.seq) for r in verdict.rejections)
    return accepted, duplicates, refused, v.states.get(METER)


MUTATIONS = (
    "seq_down", "seq_same", "seq_up", "start_back", "start_fwd", "misalign", "energy_up",
    "energy_down", "energy_gap", "reg_down", "reg_up", "negative", "over_limit",
    "bad_voltage", "stale", "future", "seq_max", "seq_min", "start_max", "closed",
    "stored_neg", "repeat", "repeat", "swap", "swap", "late_seq_high", "late_seq_same",
    "late_reg_high",
)  # fmt: skip


def _mutate(rows: list[Row], i: int, how: str, export: bool) -> None:
    """Change row ``i`` one way; energy and register changes on the import or export side."""
    r = rows[i]
    energy, register = ("exp", "reg_e") if export else ("imp", "reg_i")
    e, reg = getattr(r, energy), getattr(r, register)
    before = rows[i - 1] if i > 0 else r
    changes: dict[str, Any] = {
        "seq_down": {"seq": r.seq - 2},
        "seq_same": {"seq": r.seq - 1},
        "seq_up": {"seq": r.seq + 3},
        "start_back": {"start": r.start - INTERVAL},
        "start_fwd": {"start": r.start + INTERVAL},
        "misalign": {"start": r.start + 1},
        "energy_up": {energy: e + 1},
        "energy_down": {energy: max(0, e - 1)},
        "energy_gap": {energy: e + 10},  # above any gap's extra register advance
        "reg_down": {register: reg - 100},
        "reg_up": {register: reg + 2},
        "negative": {energy: -1},
        "over_limit": {energy: LIMIT + 1, register: reg + LIMIT + 1},
        "bad_voltage": {"voltage": 1_500.0} if r.voltage is not None else {},
        "stale": {"start": NOW - MAX_AGE - INTERVAL - 30},
        "future": {"start": T[40]},
        "seq_max": {"seq": MAX_INT},
        "seq_min": {"seq": -MAX_INT},
        "start_max": {"start": MAX_INT - MAX_INT % INTERVAL},
        "closed": {"start": T[17]},
        "stored_neg": {"stored": -5} if r.stored is not None else {},
        "late_seq_high": {"start": r.start - 3 * INTERVAL, "seq": r.seq + 5},
        "late_seq_same": {"start": before.start - INTERVAL, "seq": before.seq},
        "late_reg_high": {"start": r.start - 3 * INTERVAL, "seq": r.seq - 10, register: reg + 99},
    }.get(how, {})
    if how == "repeat" and i > 0:
        rows[i] = rows[i - 1]
    elif how == "swap" and i > 0:
        rows[i - 1], rows[i] = r, rows[i - 1]
    else:  # keep values inside the wire format's 64-bit range
        rows[i] = replace(r, **{k: _clamp(v) for k, v in changes.items()})


def _clamp(value: Any) -> Any:
    return max(-MAX_INT, min(MAX_INT, value)) if isinstance(value, int) else value


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[Row], list[int], MeterState | None, int | None]:
    """A meter's readings: an in-order run (with gaps) from a remembered reading, then a
    few random mutations: replays, reorders, register errors, bad values, int64 extremes."""
    n = draw(st.integers(1, 8))
    gaps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), min_size=n, max_size=n))
    with_voltage = draw(st.booleans())
    with_stored = draw(st.booleans())
    start = T[draw(st.integers(16, 39 - sum(gaps)))]
    seq = draw(st.integers(-5, 1_000))
    reg_i, reg_e = draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))
    first = Row(start, seq, 3, 1, reg_i, reg_e, 0 if with_stored else None)
    rows: list[Row] = []
    prev = first
    for gap in gaps:
        imp, exp = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        extra_i, extra_e = (
            (0, 0) if gap == 1 else (draw(st.integers(0, 9)), draw(st.integers(0, 9)))
        )
        prev = Row(
            prev.start + gap * INTERVAL,
            prev.seq + draw(st.integers(1, 3)),
            imp,
            exp,
            prev.reg_i + imp + extra_i,
            prev.reg_e + exp + extra_e,
            draw(st.integers(0, 50)) if with_stored else None,
            draw(st.floats(220.0, 240.0)) if with_voltage else None,
        )
        rows.append(prev)
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(MUTATIONS))
        _mutate(rows, draw(st.integers(0, n - 1)), how, draw(st.booleans()))
    state = draw(st.sampled_from([None, state_of(first)]))
    closed = draw(st.sampled_from([None, None, T[18]]))
    cuts = draw(st.lists(st.integers(1, max(1, n - 1)), max_size=3)) if n > 1 else []
    return rows, cuts, state, closed


@settings(max_examples=800, deadline=None)
@given(scenario=scenarios())
def test_bundling_does_not_change_the_verdict(
    scenario: tuple[list[Row], list[int], MeterState | None, int | None],
) -> None:
    """One bundle, one reading per bundle, or random chunks: the same readings accepted,
    the same duplicates, the same refusals (reason, interval, sequence), the same newest
    reading remembered, and all equal to the reference rules."""
    rows, cuts, state, closed = scenario
    expected = reference(rows, state, closed)
    assert outcome(rows, [], state, closed) == expected
    assert outcome(rows, list(range(1, len(rows))), state, closed) == expected
    assert outcome(rows, cuts, state, closed) == expected


def test_reference_rules_accept_an_undisturbed_run() -> None:
    """Sanity check of the property's generator: an unmutated run is accepted whole."""
    rows = [Row(T[31 + i], 101 + i, 1, 0, 5_001 + i, 700) for i in range(5)]
    assert reference(rows, state_of(LAST), None) == ([0, 1, 2, 3, 4], 0, [], state_of(rows[-1]))
    assert DUPLICATE == "duplicate"


def test_late_readings_cannot_add_more_energy_than_the_registers_advanced() -> None:
    """A meter skips T[31]..T[37] while its registers advance 100 Wh; readings sent late
    for those intervals must fit inside that advance, in order, and no more."""
    v = validator(state_of(LAST))  # newest: T[30], registers (5000, 700)
    after_gap = Row(T[38], 108, 10, 0, 5_110, 700)  # 100 Wh unaccounted for the gap
    assert v.check(bundle([after_gap]), NOW).accepted.tolist() == [0]

    greedy = [Row(T[31 + k], 101 + k, 2_000, 0, 5_000, 700) for k in range(7)]
    verdict = v.check(bundle(greedy), NOW)
    assert verdict.accepted.tolist() == []
    assert {r.reason for r in verdict.rejections} == {Reason.REGISTER_NOT_MONOTONIC}

    honest = [Row(T[31], 101, 40, 0, 5_040, 700), Row(T[33], 103, 30, 0, 5_090, 700)]
    assert v.check(bundle(honest), NOW).accepted.tolist() == [0, 1]
    # T[32] may now carry at most the 20 Wh between T[31]'s end and T[33]'s start
    only_rejection(
        v.check(bundle([Row(T[32], 102, 21, 0, 5_061, 700)]), NOW),
        Reason.REGISTER_NOT_MONOTONIC,
        "outside the gap",
    )
    only_rejection(
        v.check(bundle([Row(T[32], 102, 19, 0, 5_059, 700)]), NOW),
        Reason.REGISTER_MISMATCH,
        "differ from where the next reading says",
    )
    assert v.check(bundle([Row(T[32], 102, 20, 0, 5_060, 700)]), NOW).accepted.tolist() == [0]
    # and a sequence number from outside the gap is not believed
    only_rejection(
        v.check(bundle([Row(T[35], 102, 0, 0, 5_090, 700)]), NOW),
        Reason.SEQUENCE_OUT_OF_ORDER,
        "does not fit",
    )
    total = 40 + 20 + 30  # all that was accepted for the gap so far, within its 100 Wh
    remaining = v.states[METER].gaps
    assert [(g.after, g.before) for g in remaining] == [(T[33], T[38])]
    assert remaining[0].high_import_wh - remaining[0].low_import_wh == 100 - total


def test_energy_above_the_cumulative_register_is_refused() -> None:
    only_rejection(
        validator().check(bundle([Row(T[39], 1, 20, 0, 10, 0)]), NOW),
        Reason.REGISTER_MISMATCH,
        "exceeds the meter's cumulative register",
    )
