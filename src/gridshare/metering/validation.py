"""Checking signed bundles before anything is stored: every refusal has a reason.

:class:`ReadingValidator` takes a bundle and the current time and returns a
:class:`Verdict`: the readings to store, the duplicates (a redelivered reading, counted
and otherwise ignored) and a :class:`Rejection` with a machine-readable :class:`Reason`
for each reading it refuses. A refused reading is never silently dropped: the ingest
adapters quarantine it with its reason; an accepted reading goes to the store, whose
idempotent write counts a repeat as a duplicate and a changed value as a conflict.

Per meter the validator remembers the newest accepted reading (interval start, sequence
number, registers, energy): that is what detects replays, sequence regressions and
registers running backwards. A reading older than the newest one is accepted as *late*
when its sequence number is older too and its registers are not above the newest ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from gridshare.metering.wire import (
    QUALITY_COLUMNS,
    QUALITY_RANGES,
    ReadingBundle,
    canonical_message,
    quality_in_range,
    recover_message_signer,
)
from gridshare.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, W_PER_KW

RATING_MARGIN = 1.1
"""Tolerance above a device's rating (power curves and inverters exceed nameplate briefly)."""


def capacity_w(rated_kw: float, margin: float = RATING_MARGIN) -> int:
    """Whole watts a device may deliver: its rating with the margin, rounded up. The same
    number is registered on chain for a generator, so ingest and minting agree."""
    return math.ceil(rated_kw * W_PER_KW * margin)


def interval_limit_wh(watts: int, interval_s: int) -> int:
    """Most energy ``watts`` deliver in one interval, Wh (as EnergyCertificate bounds it)."""
    return watts * interval_s // SECONDS_PER_HOUR


class Reason(StrEnum):
    """Why a reading was refused (stored with it and counted per reason)."""

    MALFORMED = "malformed"
    TOPIC_MISMATCH = "topic_mismatch"
    UNKNOWN_METER = "unknown_meter"
    SUSPENDED_METER = "suspended_meter"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED_SEQUENCE = "replayed_sequence"
    SEQUENCE_OUT_OF_ORDER = "sequence_out_of_order"
    MISALIGNED_INTERVAL = "misaligned_interval"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    INTERVAL_CLOSED = "interval_closed"
    NEGATIVE_ENERGY = "negative_energy"
    EXCEEDS_CAPACITY = "exceeds_capacity"
    REGISTER_NOT_MONOTONIC = "register_not_monotonic"
    REGISTER_MISMATCH = "register_mismatch"
    POWER_QUALITY_OUT_OF_RANGE = "power_quality_out_of_range"


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """What the validator knows of a meter: its position, device key, status and limit."""

    meter_id: str
    meter_index: int
    device: bytes
    """The 20-byte address registered for the meter's device key."""
    active: bool
    limit_wh: int
    """Most energy the meter can register in one interval, each direction."""


@dataclass(slots=True)
class MeterState:
    """The newest accepted reading of a meter, and the gaps before it."""

    start: int
    seq: int
    import_register_wh: int
    export_register_wh: int
    import_wh: int
    export_wh: int
    gaps: tuple[Gap, ...] = ()
    """Missing stretches a late reading may still fill (oldest first)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Intervals strictly between ``after`` and ``before`` that have not been reported.

    The registers stood at ``low`` when the gap began and at ``high`` when it ended,
    and the device's sequence numbers for it lie strictly between ``seq_low`` and
    ``seq_high``: a late reading must fit inside all three, so late readings can never
    add more energy than the registers advanced across the gap.
    """

    after: int
    before: int
    seq_low: int
    seq_high: int
    low_import_wh: int
    low_export_wh: int
    high_import_wh: int
    high_export_wh: int


PREHISTORY = -(1 << 62)
"""``Gap.after`` of the stretch before a meter's first reading (registers start at 0)."""
MAX_GAPS = 64
"""Gaps remembered per meter; the oldest are forgotten first."""


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    meter_id: str | None
    start: int | None
    seq: int | None
    detail: str


@dataclass(slots=True)
class Verdict:
    """The outcome for one bundle; every reading in it is in exactly one count."""

    bundle: ReadingBundle
    accepted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Row positions of the readings to store, in bundle order."""
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    meter_index: int = -1
    message: bytes = b""
    """The bundle's canonical message, as its signature was checked (kept as evidence)."""

    def rows(self) -> ReadingBundle:
        """The accepted readings as a bundle (same signature, for provenance)."""
        b, keep = self.bundle, self.accepted
        if keep.size == len(b):  # all of them (positions are increasing and unique)
            return b
        return ReadingBundle(
            b.meter_id,
            b.start[keep],
            b.seq[keep],
            b.import_wh[keep],
            b.export_wh[keep],
            b.import_register_wh[keep],
            b.export_register_wh[keep],
            {name: column[keep] for name, column in b.quality.items()},
            b.signature,
            None if b.stored_wh is None else b.stored_wh[keep],
        )


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    interval_s: int
    max_age_s: int = 7 * SECONDS_PER_DAY
    """Readings whose interval started longer ago are refused as stale."""
    future_tolerance_s: int = 60
    """Clock skew allowed: an interval may end at most this far in the future."""


class ReadingValidator:
    """Checks bundles against the meter directory and each meter's newest reading."""

    def __init__(
        self,
        directory: Mapping[str, MeterIdentity],
        policy: ValidationPolicy,
        states: dict[str, MeterState] | None = None,
    ) -> None:
        self.directory = directory
        self.policy = policy
        self.states: dict[str, MeterState] = states if states is not None else {}
        self._now_s = 0

    def check(
        self, bundle: ReadingBundle, now_s: int, closed_before_s: int | None = None
    ) -> Verdict:
        """Judge every reading of ``bundle`` at time ``now_s``.

        ``closed_before_s``: intervals starting before it are already closed (and
        committed); a reading for one is refused as ``interval_closed`` for review.
        """
        verdict = Verdict(bundle)
        self._now_s = now_s
        identity = self.directory.get(bundle.meter_id)
        if identity is None:
            return self._refuse_all(verdict, Reason.UNKNOWN_METER, "no such meter in the community")
        verdict.meter_index = identity.meter_index
        verdict.message = canonical_message(bundle)
        signer = recover_message_signer(verdict.message, bundle.signature)
        if signer != identity.device:
            detail = (
                "the signature is unusable"
                if signer is None
                else f"signed by 0x{signer.hex()}, the meter's device is 0x{identity.device.hex()}"
            )
            return self._refuse_all(verdict, Reason.BAD_SIGNATURE, detail)
        if not identity.active:
            return self._refuse_all(
                verdict, Reason.SUSPENDED_METER, "the device or its owner is suspended"
            )
        state = self.states.get(bundle.meter_id)
        if len(bundle) == 1 and self._single_ok(bundle, identity, now_s, closed_before_s, state):
            verdict.accepted = np.zeros(1, dtype=np.int64)
            self.states[bundle.meter_id] = _state_of(bundle, 0, _gaps_before(bundle, state))
            return verdict
        row_problem = self._row_checks(bundle, identity, now_s, closed_before_s)
        if not any(row_problem) and self._in_order(bundle, state):
            verdict.accepted = np.arange(len(bundle), dtype=np.int64)
            gaps = _gaps_before(bundle, state)
            self.states[bundle.meter_id] = _state_of(bundle, len(bundle) - 1, gaps)
            return verdict
        return self._sequential(verdict, row_problem, state)

    def _single_ok(
        self,
        b: ReadingBundle,
        identity: MeterIdentity,
        now_s: int,
        closed_before_s: int | None,
        state: MeterState | None,
    ) -> bool:
        """Fast path for the usual one-reading bundle: True when it passes every check.

        The same rules as :meth:`_row_checks` and :meth:`_in_order`, on Python ints; any
        doubt falls through to the full checks, which say why.
        """
        p = self.policy
        start = int(b.start[0])
        imp, exp = int(b.import_wh[0]), int(b.export_wh[0])
        reg_i, reg_e = int(b.import_register_wh[0]), int(b.export_register_wh[0])
        if (
            start % p.interval_s
            or start + p.interval_s > now_s + p.future_tolerance_s
            or start < now_s - p.max_age_s
            or (closed_before_s is not None and start < closed_before_s)
            or min(imp, exp, reg_i, reg_e) < 0
            or max(imp, exp) > identity.limit_wh
            or imp > reg_i
            or exp > reg_e
            or (b.stored_wh is not None and int(b.stored_wh[0]) < 0)
        ):
            return False
        for name, column in b.quality.items():
            low, high = QUALITY_RANGES[name]
            if not low <= float(column[0]) <= high:
                return False
        if state is None:
            return True  # a first reading: the gap before it is recorded by the caller
        if start - state.start != p.interval_s:
            return False  # a gap: the full rules keep account of it
        d_i, d_e = reg_i - state.import_register_wh, reg_e - state.export_register_wh
        return int(b.seq[0]) > state.seq and imp == d_i and exp == d_e

    def _refuse_all(self, verdict: Verdict, reason: Reason, detail: str) -> Verdict:
        b = verdict.bundle
        verdict.rejections = [
            Rejection(reason, b.meter_id, int(s), int(q), detail)
            for s, q in zip(b.start.tolist(), b.seq.tolist(), strict=True)
        ]
        return verdict

    def _row_checks(
        self,
        b: ReadingBundle,
        identity: MeterIdentity,
        now_s: int,
        closed_before_s: int | None,
    ) -> list[tuple[Reason, str] | None]:
        """Checks that need no other reading; the first failing one per row."""
        p = self.policy
        checks: list[tuple[np.ndarray, Reason, str]] = [
            (b.start % p.interval_s != 0, Reason.MISALIGNED_INTERVAL,
             f"interval starts must be multiples of {p.interval_s} s since the epoch"),
            # not start + interval > now + tolerance: the sum could wrap around int64
            (b.start > now_s + p.future_tolerance_s - p.interval_s, Reason.FUTURE_TIMESTAMP,
             "the interval has not ended yet (check the meter's clock)"),
            (b.start < now_s - p.max_age_s, Reason.STALE_TIMESTAMP,
             f"older than the {p.max_age_s // SECONDS_PER_HOUR} h the community accepts"),
            ((b.import_wh < 0) | (b.export_wh < 0) | (b.import_register_wh < 0)
             | (b.export_register_wh < 0)
             | (b.stored_wh < 0 if b.stored_wh is not None else np.zeros(len(b), bool)),
             Reason.NEGATIVE_ENERGY, "energy and registers must be >= 0 Wh"),
            ((b.import_wh > identity.limit_wh) | (b.export_wh > identity.limit_wh),
             Reason.EXCEEDS_CAPACITY,
             f"more than the {identity.limit_wh} Wh the meter's rating allows per interval"),
        ]  # fmt: skip
        if closed_before_s is not None:
            checks.append((b.start < closed_before_s, Reason.INTERVAL_CLOSED,
                           "the interval was already closed and committed"))  # fmt: skip
        for name in QUALITY_COLUMNS:
            column = b.quality.get(name)
            if column is not None:
                checks.append((~quality_in_range(name, column), Reason.POWER_QUALITY_OUT_OF_RANGE,
                               f"{name} is outside its physical range"))  # fmt: skip
        checks.append(((b.import_wh > b.import_register_wh) | (b.export_wh > b.export_register_wh),
                       Reason.REGISTER_MISMATCH,
                       "an interval's energy exceeds the meter's cumulative register"))  # fmt: skip
        problems: list[tuple[Reason, str] | None] = [None] * len(b)
        for failed, reason, detail in checks:
            if not np.any(failed):
                continue
            for row in np.flatnonzero(failed).tolist():
                if problems[row] is None:
                    problems[row] = (reason, detail)
        return problems

    def _in_order(self, b: ReadingBundle, state: MeterState | None) -> bool:
        """Fast path: every reading follows the one before it without a gap, and the
        registers add up exactly."""
        interval = self.policy.interval_s
        starts = b.start if state is None else np.concatenate(([state.start], b.start))
        seqs = b.seq if state is None else np.concatenate(([state.seq], b.seq))
        reg_i = b.import_register_wh
        reg_e = b.export_register_wh
        imp, exp = b.import_wh, b.export_wh
        if state is not None:
            reg_i = np.concatenate(([state.import_register_wh], reg_i))
            reg_e = np.concatenate(([state.export_register_wh], reg_e))
            imp = np.concatenate(([0], imp))
            exp = np.concatenate(([0], exp))
        if starts.size < 2:
            return True
        # compare neighbours instead of subtracting them: a difference of two int64
        # sequence numbers can wrap around and look like a step forward
        if (starts[1:] <= starts[:-1]).any() or (seqs[1:] <= seqs[:-1]).any():
            return False
        d_start = np.diff(starts)
        d_i, d_e = np.diff(reg_i), np.diff(reg_e)
        if (d_i < 0).any() or (d_e < 0).any():
            return False
        adjacent = d_start == interval
        exact = (imp[1:] == d_i) & (exp[1:] == d_e)
        return bool(adjacent.all() and exact.all())

    def _sequential(
        self,
        verdict: Verdict,
        problems: list[tuple[Reason, str] | None],
        state: MeterState | None,
    ) -> Verdict:
        b = verdict.bundle
        interval = self.policy.interval_s
        keep: list[int] = []
        for row in range(len(b)):
            start, seq = int(b.start[row]), int(b.seq[row])
            problem = problems[row] or _against(b, row, state, interval)
            if problem == DUPLICATE:
                verdict.duplicates += 1
                continue
            if isinstance(problem, tuple):
                reason, detail = problem
                verdict.rejections.append(Rejection(reason, b.meter_id, start, seq, detail))
                continue
            keep.append(row)
            state = _after_accepting(b, row, state, interval)
        if state is not None:
            horizon = self._now_s - self.policy.max_age_s
            gaps = tuple(g for g in state.gaps if g.before > horizon)[-MAX_GAPS:]
            self.states[b.meter_id] = replace(state, gaps=gaps)
        verdict.accepted = np.array(keep, dtype=np.int64)
        return verdict


DUPLICATE = "duplicate"


def _state_of(b: ReadingBundle, row: int, gaps: tuple[Gap, ...] = ()) -> MeterState:
    return MeterState(*_Row.of(b, row), gaps)


def _prehistory(first: _Row) -> Gap:
    """Everything before a meter's first reading ``first``: one gap."""
    begin_i, begin_e = first.reg_i - first.imp, first.reg_e - first.exp
    return Gap(PREHISTORY, first.start, -(1 << 63), first.seq, 0, 0, begin_i, begin_e)


def _after_accepting(
    b: ReadingBundle, row: int, state: MeterState | None, interval: int
) -> MeterState:
    """The meter's state once reading ``row`` is accepted: newest reading and gaps."""
    r = _Row.of(b, row)
    start, seq, reg_i, reg_e = r.start, r.seq, r.reg_i, r.reg_e
    begin_i, begin_e = reg_i - r.imp, reg_e - r.exp
    if state is None:  # the first reading: everything before it is one gap
        return MeterState(*r, (_prehistory(r),))
    if start > state.start:
        gaps = state.gaps
        if start - state.start > interval:
            gaps += (
                Gap(state.start, start, state.seq, seq, state.import_register_wh,
                    state.export_register_wh, begin_i, begin_e),
            )  # fmt: skip
        return MeterState(*r, gaps)
    gap = _gap_of(state, start)
    if gap is None:
        return state  # an interval reported before: the store keeps its first value
    parts = []
    if start - gap.after > interval:
        parts.append(replace(gap, before=start, seq_high=seq, high_import_wh=begin_i,
                             high_export_wh=begin_e))  # fmt: skip
    if gap.before - start > interval:
        parts.append(replace(gap, after=start, seq_low=seq, low_import_wh=reg_i,
                             low_export_wh=reg_e))  # fmt: skip
    at = state.gaps.index(gap)
    return replace(state, gaps=state.gaps[:at] + tuple(parts) + state.gaps[at + 1 :])


def _gaps_before(b: ReadingBundle, state: MeterState | None) -> tuple[Gap, ...]:
    """Gaps once ``b`` (gap-free, continuing ``state``) is accepted: unchanged, or for
    a meter's first readings the stretch before them."""
    if state is not None:
        return state.gaps
    return (_prehistory(_Row.of(b, 0)),)


def _gap_of(state: MeterState, start: int) -> Gap | None:
    return next((g for g in state.gaps if g.after < start < g.before), None)


class _Row(NamedTuple):
    """One reading of a bundle, as plain integers."""

    start: int
    seq: int
    reg_i: int
    """Import register at the end of the interval, Wh."""
    reg_e: int
    imp: int
    """Energy imported in the interval, Wh."""
    exp: int

    @classmethod
    def of(cls, b: ReadingBundle, row: int) -> _Row:
        return cls(
            int(b.start[row]),
            int(b.seq[row]),
            int(b.import_register_wh[row]),
            int(b.export_register_wh[row]),
            int(b.import_wh[row]),
            int(b.export_wh[row]),
        )


_Finding = tuple[Reason, str] | str | None
"""What one reading's checks found: None (accept), :data:`DUPLICATE`, or a refusal with
its reason and detail."""


def _against(b: ReadingBundle, row: int, state: MeterState | None, interval: int) -> _Finding:
    """Compare one reading with the meter's newest: None (accept), "duplicate" or a refusal."""
    if state is None:
        return None
    r = _Row.of(b, row)
    if r.start == state.start:
        return _against_same_interval(r, state)
    if r.start > state.start:
        return _against_newest(r, state, interval)
    return _against_older(r, state, interval)


def _against_same_interval(r: _Row, state: MeterState) -> _Finding:
    """The newest interval again: a duplicate if every value agrees, else a replay."""
    same = (r.seq, r.reg_i, r.reg_e, r.imp, r.exp) == (
        state.seq,
        state.import_register_wh,
        state.export_register_wh,
        state.import_wh,
        state.export_wh,
    )
    if same:
        return DUPLICATE
    return (
        Reason.REPLAYED_SEQUENCE,
        f"interval already reported with sequence {state.seq} and other values",
    )


def _against_newest(r: _Row, state: MeterState, interval: int) -> _Finding:
    """A newer interval: a higher sequence, registers that only advance, and energy within
    their advance (equal to it for the very next interval)."""
    if r.seq <= state.seq:
        return (
            Reason.REPLAYED_SEQUENCE,
            f"sequence {r.seq} is not above the last accepted {state.seq}",
        )
    d_i = r.reg_i - state.import_register_wh
    d_e = r.reg_e - state.export_register_wh
    if d_i < 0 or d_e < 0:
        return (
            Reason.REGISTER_NOT_MONOTONIC,
            f"registers ran backwards from ({state.import_register_wh}, "
            f"{state.export_register_wh}) Wh to ({r.reg_i}, {r.reg_e}) Wh",
        )
    if r.start - state.start == interval and (r.imp, r.exp) != (d_i, d_e):
        return (
            Reason.REGISTER_MISMATCH,
            f"energy ({r.imp}, {r.exp}) Wh differs from the register advance ({d_i}, {d_e}) Wh",
        )
    if r.imp > d_i or r.exp > d_e:
        return (
            Reason.REGISTER_MISMATCH,
            f"energy ({r.imp}, {r.exp}) Wh exceeds the register advance ({d_i}, {d_e}) Wh",
        )
    return None


def _against_older(r: _Row, state: MeterState, interval: int) -> _Finding:
    """An older interval: it must fill a gap the meter left, within the gap's registers."""
    if r.seq >= state.seq:
        return (
            Reason.SEQUENCE_OUT_OF_ORDER,
            f"sequence {r.seq} for an interval before the newest one (sequence {state.seq})",
        )
    if r.reg_i > state.import_register_wh or r.reg_e > state.export_register_wh:
        return (
            Reason.REGISTER_NOT_MONOTONIC,
            "an earlier interval reports registers above the newest reading's",
        )
    gap = _gap_of(state, r.start)
    if gap is None:
        return None  # reported before: a duplicate or a conflict, the store decides
    return _against_gap(r, gap, interval)


def _against_gap(r: _Row, gap: Gap, interval: int) -> _Finding:
    """A reading inside ``gap``: its sequence and registers between the readings around
    the gap, and meeting them exactly where it is next to one of them."""
    if not gap.seq_low < r.seq < gap.seq_high:
        return (
            Reason.SEQUENCE_OUT_OF_ORDER,
            f"sequence {r.seq} does not fit between {gap.seq_low} and {gap.seq_high}, the "
            "readings around this missing interval",
        )
    begin_i, begin_e = r.reg_i - r.imp, r.reg_e - r.exp
    if (
        begin_i < gap.low_import_wh
        or begin_e < gap.low_export_wh
        or r.reg_i > gap.high_import_wh
        or r.reg_e > gap.high_export_wh
    ):
        return (
            Reason.REGISTER_NOT_MONOTONIC,
            f"registers ({begin_i}..{r.reg_i}, {begin_e}..{r.reg_e}) Wh fall outside the gap's "
            f"({gap.low_import_wh}..{gap.high_import_wh}, {gap.low_export_wh}.."
            f"{gap.high_export_wh}) Wh",
        )
    if r.start - gap.after == interval and (begin_i, begin_e) != (
        gap.low_import_wh,
        gap.low_export_wh,
    ):
        return (
            Reason.REGISTER_MISMATCH,
            "energy differs from the register advance since the previous reading",
        )
    if gap.before - r.start == interval and (r.reg_i, r.reg_e) != (
        gap.high_import_wh,
        gap.high_export_wh,
    ):
        return (
            Reason.REGISTER_MISMATCH,
            "registers differ from where the next reading says they stood",
        )
    return None


@dataclass(frozen=True, slots=True)
class AcceptedBundle:
    """A signed bundle with at least one accepted reading, ready to store.

    ``signed`` is the bundle as received (what the signature covers, kept as evidence);
    ``bundle`` holds only its accepted readings (what goes into the readings table).
    """

    signed: ReadingBundle
    bundle: ReadingBundle
    message: bytes
    """``signed``'s canonical message: what the device's signature covers."""
    meter_index: int
    transport: str
    received_at_s: int
