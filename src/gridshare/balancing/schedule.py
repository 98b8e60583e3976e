"""The hash of a dispatch schedule, as the GridBalancing contract records it (pure).

``setpoints[k]`` holds the setpoints of interval ``interval_start_s + k * length`` of a
plan made for ``interval_start_s``, as :class:`Setpoint` rows ``(meter_id, charge_wh,
discharge_wh)``: the meter of a battery or plant (its gridshare meter id, or the
registry's 32-byte meter identifier) and the AC energy it is to take from (charge) and
give to (discharge) the community's network in the interval, non-negative int Wh (a
signed net charge ``x`` is ``(max(x, 0), max(-x, 0))``; a plant's output is a
discharge). A meter absent from a step is idle. ``steps = len(setpoints)`` is how many
intervals the hash covers (1 for the dispatched interval of a receding-horizon plan)::

    rows = sorted((k, meter_key, charge_wh, discharge_wh) ... if charge_wh or discharge_wh)
    schedule_hash = keccak256(abi.encode(uint256 interval_start_s, uint256 steps,
                                         (uint256, bytes32, uint256, uint256)[] rows))

where ``meter_key = keccak256(utf-8 meter id)``, as ParticipantRegistry stores meter ids.
Sorting and leaving idle rows out make the hash independent of row order, so
``gridshare verify`` recomputes it from the stored setpoints; the contract's
``schedule_hash`` view computes the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from gridshare.errors import DataError
from gridshare.evm import keccak256, uint_word, uint_words


class ScheduleError(DataError):
    """A schedule cannot be hashed as given."""


class Setpoint(NamedTuple):
    """One device's dispatch in one interval, AC Wh at its meter (both >= 0)."""

    meter_id: str | bytes
    """The gridshare meter id, or the registry's 32-byte meter identifier."""
    charge_wh: int
    discharge_wh: int


def meter_key(meter_id: str) -> bytes:
    """The registry's meter identifier: keccak256 of the gridshare meter id."""
    return keccak256(meter_id.encode())


def _meter_bytes(meter_id: str | bytes) -> bytes:
    if isinstance(meter_id, bytes):
        if len(meter_id) != 32:
            raise ScheduleError(f"a meter identifier has 32 bytes, got {len(meter_id)}")
        return meter_id
    return meter_key(meter_id)


def net_setpoints(meter_ids: Sequence[str], net_charge_wh: Sequence[int]) -> list[Setpoint]:
    """Rows for signed net charges (> 0 charge, < 0 discharge) of the given meters."""
    return [
        Setpoint(m, max(int(x), 0), max(-int(x), 0))
        for m, x in zip(meter_ids, net_charge_wh, strict=True)
    ]


def schedule_rows(
    setpoints: Sequence[Sequence[Setpoint | tuple[str | bytes, int, int]]],
) -> list[tuple[int, bytes, int, int]]:
    """The canonical rows ``(step, meter key, charge_wh, discharge_wh)`` of a schedule:
    idle rows left out, sorted by step and meter key."""
    rows = []
    for step, entries in enumerate(setpoints):
        seen: set[bytes] = set()
        for meter_id, charge_wh, discharge_wh in entries:
            key = _meter_bytes(meter_id)
            if key in seen:
                raise ScheduleError(f"step {step}: meter {meter_id!r} has two setpoints")
            seen.add(key)
            if charge_wh < 0 or discharge_wh < 0:
                raise ScheduleError(
                    f"step {step}, meter {meter_id!r}: charge and discharge are Wh >= 0, got "
                    f"{charge_wh} and {discharge_wh}"
                )
            if charge_wh or discharge_wh:
                rows.append((step, key, int(charge_wh), int(discharge_wh)))
    return sorted(rows)


def schedule_hash(
    interval_start_s: int,
    setpoints: Sequence[Sequence[Setpoint | tuple[str | bytes, int, int]]],
) -> bytes:
    """The 32-byte hash of a schedule for ``interval_start_s`` (unix seconds)."""
    if not setpoints:
        raise ScheduleError("a schedule hash covers at least one interval's setpoints")
    rows = schedule_rows(setpoints)
    # abi.encode(uint256, uint256, (uint256,bytes32,uint256,uint256)[]): two head words, the
    # array's offset (three words in), then its length and each static tuple's four words.
    head = uint_words((interval_start_s, len(setpoints), 3 * 32, len(rows)))
    body = b"".join(
        uint_word(step) + key + uint_words((charge_wh, discharge_wh))
        for step, key, charge_wh, discharge_wh in rows
    )
    return keccak256(head + body)
