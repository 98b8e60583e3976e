"""The schedule hash: canonical (row order and idle rows do not matter), equal to an
independent recomputation with eth_abi and eth_utils, and strict about its inputs."""

from __future__ import annotations

import random

import eth_abi
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.schedule import (
    ScheduleError,
    Setpoint,
    meter_key,
    net_setpoints,
    schedule_hash,
    schedule_rows,
)
from gridshare.errors import DataError

START = 1_717_200_000


def reference_hash(start_s: int, setpoints: list[list[tuple[str, int, int]]]) -> bytes:
    """The docstring's definition with eth_abi.encode and eth_utils.keccak."""
    rows = sorted(
        (k, keccak(text=m), c, d) for k, step in enumerate(setpoints) for m, c, d in step if c or d
    )
    preimage = eth_abi.encode(
        ["uint256", "uint256", "(uint256,bytes32,uint256,uint256)[]"],
        [start_s, len(setpoints), rows],
    )
    return keccak(preimage)


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def test_the_encoding_by_hand() -> None:
    """The ABI layout of two static words and a dynamic array of static tuples, written
    out byte by byte: start, steps, offset of the array (3 words), its length, rows."""
    setpoints = [[Setpoint("meter-b", 0, 700), Setpoint("meter-a", 1_200, 0)], []]
    key_a, key_b = keccak(text="meter-a"), keccak(text="meter-b")
    rows = sorted([(0, key_a, 1_200, 0), (0, key_b, 0, 700)])
    preimage = word(START) + word(2) + word(96) + word(2)
    for step, key, charge, discharge in rows:
        preimage += word(step) + key + word(charge) + word(discharge)
    assert schedule_hash(START, setpoints) == keccak(preimage)
    assert schedule_rows(setpoints) == rows


meters = st.sampled_from([f"meter-{i}" for i in range(8)])
steps = st.lists(
    st.lists(
        st.tuples(meters, st.integers(0, 10**9), st.integers(0, 10**9)),
        unique_by=lambda row: row[0],
        max_size=6,
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**40), steps)
def test_equals_an_independent_recomputation(
    start_s: int, setpoints: list[list[tuple[str, int, int]]]
) -> None:
    assert schedule_hash(start_s, setpoints) == reference_hash(start_s, setpoints)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**40), steps, st.randoms(use_true_random=False), st.data())
def test_independent_of_row_order_and_idle_rows(
    start_s: int,
    setpoints: list[list[tuple[str, int, int]]],
    rnd: random.Random,
    data: st.DataObject,
) -> None:
    shuffled = []
    for step in setpoints:
        rows = list(step)
        free = sorted({f"meter-{i}" for i in range(8)} - {m for m, _, _ in rows})
        idle = data.draw(st.lists(st.sampled_from(free), unique=True)) if free else []
        rows += [(m, 0, 0) for m in idle]
        rnd.shuffle(rows)
        shuffled.append(rows)
    assert schedule_hash(start_s, shuffled) == schedule_hash(start_s, setpoints)


def test_a_meter_key_and_its_meter_id_hash_alike() -> None:
    by_id = [[Setpoint("meter-1", 500, 0)]]
    by_key = [[Setpoint(meter_key("meter-1"), 500, 0)]]
    assert meter_key("meter-1") == keccak(text="meter-1")
    assert schedule_hash(START, by_id) == schedule_hash(START, by_key)


def test_the_hash_depends_on_what_it_covers() -> None:
    base = [[("m", 100, 0)]]
    h = schedule_hash(START, base)
    assert schedule_hash(START + 900, base) != h
    assert schedule_hash(START, [[("m", 0, 100)]]) != h
    assert schedule_hash(START, [[("m", 101, 0)]]) != h
    assert schedule_hash(START, [[("n", 100, 0)]]) != h
    assert schedule_hash(START, [[], [("m", 100, 0)]]) != h  # another step
    assert schedule_hash(START, [[("m", 100, 0)], []]) != h  # steps counts the intervals
    assert schedule_hash(START, [[]]) != schedule_hash(START, [[], []])
    assert len(h) == 32


def test_net_setpoints_sign_convention() -> None:
    """> 0 is a charge (taken from the network), < 0 a discharge (given to it)."""
    assert net_setpoints(["a", "b", "c"], [300, -450, 0]) == [
        Setpoint("a", 300, 0),
        Setpoint("b", 0, 450),
        Setpoint("c", 0, 0),
    ]
    rows = net_setpoints(["a", "b"], [7, -7])
    assert all(type(r.charge_wh) is int and type(r.discharge_wh) is int for r in rows)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(10**9), 10**9), max_size=8))
def test_net_setpoints_round_trip(net: list[int]) -> None:
    ids = [f"m{i}" for i in range(len(net))]
    rows = net_setpoints(ids, net)
    assert [r.charge_wh - r.discharge_wh for r in rows] == net
    assert all(r.charge_wh >= 0 and r.discharge_wh >= 0 for r in rows)
    assert all(r.charge_wh == 0 or r.discharge_wh == 0 for r in rows)
    assert [r.meter_id for r in rows] == ids


def test_net_setpoints_need_one_value_per_meter() -> None:
    with pytest.raises(ValueError, match="zip"):
        net_setpoints(["a", "b"], [1])


def test_a_meter_twice_in_one_step_is_refused() -> None:
    with pytest.raises(ScheduleError, match="two setpoints"):
        schedule_hash(START, [[("m", 100, 0), ("m", 0, 0)]])
    # also when given once by id and once by its 32-byte key
    with pytest.raises(ScheduleError, match="two setpoints"):
        schedule_hash(START, [[("m", 100, 0), (meter_key("m"), 0, 5)]])
    # the same meter in two steps is fine
    assert len(schedule_hash(START, [[("m", 100, 0)], [("m", 100, 0)]])) == 32


@pytest.mark.parametrize("row", [("m", -1, 0), ("m", 0, -1), ("m", -5, -5)])
def test_negative_energies_are_refused(row: tuple[str, int, int]) -> None:
    with pytest.raises(ScheduleError, match="Wh >= 0"):
        schedule_hash(START, [[row]])


def test_an_empty_schedule_is_refused() -> None:
    with pytest.raises(ScheduleError, match="at least one interval"):
        schedule_hash(START, [])


@pytest.mark.parametrize("size", [0, 31, 33])
def test_a_meter_identifier_has_32_bytes(size: int) -> None:
    with pytest.raises(ScheduleError, match=f"32 bytes, got {size}"):
        schedule_hash(START, [[(b"\x01" * size, 100, 0)]])


def test_schedule_errors_are_data_errors() -> None:
    assert issubclass(ScheduleError, DataError)
