"""EnergyMonitoring: per-interval Merkle commitments of production and consumption
readings, committed once by the operator, and proofs that agree with gridshare.metering."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.ledger.compiled import load_artifact
from gridshare.ledger.deployment import initcode
from gridshare.metering.merkle import MerkleTree, leaf_hash, verify_proof
from tests.contracts.conftest import INTERVAL_S, deploy, transaction_gas

START = 1_735_689_600  # 2025-01-01T00:00:00Z
ROOT_P, ROOT_C = b"\x01" * 32, b"\x02" * 32
DEVICES = [f"0x{i + 1:040x}" for i in range(64)]


def commit_args(start: int = START, readings: int = 3) -> tuple[Any, ...]:
    """Arguments of `commit` with recognisable aggregates."""
    return (start, ROOT_P, ROOT_C, 1_500, 2_250, 1_000, 250, readings)


def tree_of(readings: list[tuple[str, int, int]], start: int = START) -> MerkleTree:
    return MerkleTree.build([leaf_hash(d, start, i, e) for d, i, e in readings])


def commit_tree(
    monitoring: Any,
    operator: str,
    production: MerkleTree,
    consumption: MerkleTree | None = None,
    start: int = START,
) -> None:
    consumption_root = consumption.root if consumption is not None else bytes(32)
    readings = len(production) + (len(consumption) if consumption is not None else 0)
    monitoring.commit(
        start, production.root, consumption_root, 0, 0, 0, 0, readings, sender=operator
    )


def test_deployment(monitoring: Any, registry: Any, operator: str) -> None:
    assert monitoring.registry() == registry.address
    assert monitoring.interval_length_s() == INTERVAL_S
    assert (monitoring.committed_count(), monitoring.last_committed_start()) == (0, 0)
    code = initcode(load_artifact("EnergyMonitoring"), registry.address, 0)
    _, computation = boa.env.deploy(sender=operator, bytecode=bytes.fromhex(code[2:]))
    assert computation.is_error
    assert b"EnergyMonitoring: zero interval length" in computation.output


def test_operator_commits_an_interval(monitoring: Any, operator: str) -> None:
    monitoring.commit(*commit_args(), sender=operator)
    (event,) = monitoring.get_logs()
    assert type(event).__name__ == "IntervalCommitted"
    assert (event.start, event.production_root, event.consumption_root) == (START, ROOT_P, ROOT_C)
    assert (event.production_wh, event.consumption_wh, event.import_wh, event.export_wh) == (
        1_500,
        2_250,
        1_000,
        250,
    )
    assert event.readings == 3
    assert monitoring.commitments(START) == (
        ROOT_P,
        ROOT_C,
        1_500,
        2_250,
        1_000,
        250,
        3,
        boa.env.evm.patch.block_number,
    )
    assert monitoring.is_committed(START)
    assert not monitoring.is_committed(START + INTERVAL_S)
    assert monitoring.committed_production(START) == (True, 1_500)
    assert monitoring.committed_production(START + INTERVAL_S) == (False, 0)
    assert (monitoring.committed_count(), monitoring.last_committed_start()) == (1, START)


def test_only_the_operator_commits(monitoring: Any, accounts: list[str]) -> None:
    with boa.reverts("EnergyMonitoring: caller is not the operator"):
        monitoring.commit(*commit_args(), sender=accounts[0])
    with boa.reverts("EnergyMonitoring: caller is not the operator"):
        monitoring.commit_batch(
            [START], [ROOT_P], [ROOT_C], [1], [1], [1], [1], [1], sender=accounts[0]
        )
    assert not monitoring.is_committed(START)


def test_commitments_are_immutable(monitoring: Any, operator: str) -> None:
    monitoring.commit(*commit_args(), sender=operator)
    with boa.reverts("EnergyMonitoring: already committed"):
        monitoring.commit(START, b"\x09" * 32, ROOT_C, 9, 9, 9, 9, 9, sender=operator)
    assert monitoring.commitments(START)[0] == ROOT_P
    assert monitoring.committed_count() == 1


@pytest.mark.parametrize("start", [START + 1, START + INTERVAL_S // 2, START - 60])
def test_misaligned_starts_are_refused(monitoring: Any, operator: str, start: int) -> None:
    with boa.reverts("EnergyMonitoring: start is not aligned to an interval"):
        monitoring.commit(*commit_args(start), sender=operator)


def test_an_interval_without_readings_is_not_committed(monitoring: Any, operator: str) -> None:
    with boa.reverts("EnergyMonitoring: no readings"):
        monitoring.commit(*commit_args(readings=0), sender=operator)


def test_past_and_future_intervals_are_accepted_and_the_latest_is_kept(
    monitoring: Any, operator: str
) -> None:
    """Simulations commit any year; last_committed_start is the latest start, not the last."""
    future, past = START + 10 * 365 * 86_400, 0
    monitoring.commit(*commit_args(future), sender=operator)
    monitoring.commit(*commit_args(past), sender=operator)
    assert monitoring.last_committed_start() == future
    assert monitoring.committed_count() == 2


def test_commit_batch(monitoring: Any, operator: str) -> None:
    starts = [START + i * INTERVAL_S for i in (2, 0, 1)]
    roots = [bytes([i + 1]) * 32 for i in range(3)]
    monitoring.commit_batch(
        starts,
        roots,
        roots[::-1],
        [10, 20, 30],
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [1, 2, 3],
        sender=operator,
    )
    assert [type(e).__name__ for e in monitoring.get_logs()] == ["IntervalCommitted"] * 3
    assert monitoring.commitments(starts[1])[:7] == (roots[1], roots[1], 20, 2, 5, 8, 2)
    assert (monitoring.committed_count(), monitoring.last_committed_start()) == (3, starts[0])


def test_commit_batch_is_all_or_nothing(monitoring: Any, operator: str) -> None:
    monitoring.commit(*commit_args(), sender=operator)
    later = START + INTERVAL_S
    one = [ROOT_P], [ROOT_C], [1], [1], [1], [1]
    with boa.reverts("EnergyMonitoring: already committed"):
        monitoring.commit_batch([later, START], *([x[0]] * 2 for x in one), [1, 1], sender=operator)
    with boa.reverts("EnergyMonitoring: already committed"):
        monitoring.commit_batch([later, later], *([x[0]] * 2 for x in one), [1, 1], sender=operator)
    with boa.reverts("EnergyMonitoring: no readings"):
        monitoring.commit_batch([later], *one, [0], sender=operator)
    with boa.reverts("EnergyMonitoring: length mismatch"):
        monitoring.commit_batch([later], *one, [1, 1], sender=operator)
    with boa.reverts("EnergyMonitoring: length mismatch"):
        monitoring.commit_batch([later], [ROOT_P, ROOT_P], *one[1:], [1], sender=operator)
    assert not monitoring.is_committed(later)
    assert monitoring.committed_count() == 1


def test_leaf_matches_python(monitoring: Any) -> None:
    for device, start, import_wh, export_wh in [
        (DEVICES[0], START, 0, 0),
        (DEVICES[5], 0, 2**256 - 1, 1),
        ("0x" + "ff" * 20, 2**64 - 1, 12_345, 2**255),
    ]:
        expected = leaf_hash(device, start, import_wh, export_wh)
        assert monitoring.leaf(device, start, import_wh, export_wh) == expected


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_every_proof_of_a_python_tree_verifies(monitoring: Any, operator: str, size: int) -> None:
    readings = [(DEVICES[i], 3 * i, 1_000 + i) for i in range(size)]
    production = tree_of(readings)
    consumption = tree_of([(DEVICES[0], 7, 0)])
    commit_tree(monitoring, operator, production, consumption)
    for device, import_wh, export_wh in readings:
        proof = production.proof(leaf_hash(device, START, import_wh, export_wh))
        assert monitoring.verify_reading(True, device, START, import_wh, export_wh, proof)
        # a production reading is not a consumption reading
        assert not monitoring.verify_reading(False, device, START, import_wh, export_wh, proof)
    assert monitoring.verify_reading(False, DEVICES[0], START, 7, 0, [])


reading_lists = st.sampled_from([1, 2, 3, 7, 64]).flatmap(
    lambda n: st.lists(
        st.tuples(
            st.sampled_from(DEVICES),
            st.integers(0, 2**256 - 1),
            st.integers(0, 2**256 - 1),
        ),
        min_size=n,
        max_size=n,
        unique_by=lambda r: r[0],
    )
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(readings=reading_lists, interval=st.integers(0, 2**32), data=st.data())
def test_fuzz_python_and_contract_merkle_agree(
    monitoring: Any,
    operator: str,
    readings: list[tuple[str, int, int]],
    interval: int,
    data: st.DataObject,
) -> None:
    start = interval * INTERVAL_S
    tree = tree_of(readings, start)
    with boa.env.anchor():
        commit_tree(monitoring, operator, tree, start=start)
        for device, import_wh, export_wh in readings:
            leaf = leaf_hash(device, start, import_wh, export_wh)
            proof = tree.proof(leaf)
            assert verify_proof(leaf, proof, tree.root)
            assert monitoring.verify_reading(True, device, start, import_wh, export_wh, proof)
        device, import_wh, export_wh = data.draw(st.sampled_from(readings))
        proof = tree.proof(leaf_hash(device, start, import_wh, export_wh))
        wrong = data.draw(st.integers(0, 2**256 - 1).filter(lambda v: v != export_wh))
        assert not monitoring.verify_reading(True, device, start, import_wh, wrong, proof)


def test_wrong_readings_do_not_verify(monitoring: Any, operator: str) -> None:
    readings = [(DEVICES[i], 0, 100 * (i + 1)) for i in range(7)]
    tree = tree_of(readings)
    commit_tree(monitoring, operator, tree)
    device, import_wh, export_wh = readings[3]
    proof = tree.proof(leaf_hash(device, START, import_wh, export_wh))
    assert monitoring.verify_reading(True, device, START, import_wh, export_wh, proof)
    # another value, another device (one in the tree, one not), a truncated proof
    assert not monitoring.verify_reading(True, device, START, import_wh, export_wh + 1, proof)
    assert not monitoring.verify_reading(True, device, START, import_wh + 1, export_wh, proof)
    assert not monitoring.verify_reading(True, DEVICES[4], START, import_wh, export_wh, proof)
    assert not monitoring.verify_reading(True, DEVICES[9], START, import_wh, export_wh, proof)
    assert not monitoring.verify_reading(True, device, START, import_wh, export_wh, proof[:-1])
    assert not monitoring.verify_reading(True, device, START, import_wh, export_wh, [])


def test_a_proof_is_bound_to_its_interval(monitoring: Any, operator: str) -> None:
    """The leaf holds the interval start: even the same root at another start refuses it."""
    readings = [(DEVICES[0], 0, 500), (DEVICES[1], 0, 600)]
    tree = tree_of(readings)
    commit_tree(monitoring, operator, tree)
    later = START + INTERVAL_S
    proof = tree.proof(leaf_hash(DEVICES[0], START, 0, 500))
    assert not monitoring.verify_reading(True, DEVICES[0], later, 0, 500, proof)  # uncommitted
    commit_tree(monitoring, operator, tree, start=later)
    assert not monitoring.verify_reading(True, DEVICES[0], later, 0, 500, proof)
    assert monitoring.verify_reading(True, DEVICES[0], START, 0, 500, proof)


def test_gas_of_commits() -> None:
    """Gas of one commit and of a 96-interval batch (a day of 15-minute intervals)."""
    with boa.swap_env(boa.Env()):
        operator = str(boa.env.generate_address("operator"))
        own_registry = deploy("ParticipantRegistry", sender=operator)
        monitoring = deploy("EnergyMonitoring", own_registry.address, INTERVAL_S, sender=operator)
        # the counters already hold a value, as they do on a chain in use
        monitoring.commit(*commit_args(START - INTERVAL_S), sender=operator)
        single = transaction_gas(monitoring.commit, *commit_args(), sender=operator)
        count = 96
        starts = [START + (i + 1) * INTERVAL_S for i in range(count)]
        roots = [bytes([i + 1]) * 32 for i in range(count)]
        values = [[1_000 + i for i in range(count)] for _ in range(4)]
        batch = transaction_gas(
            monitoring.commit_batch, starts, roots, roots, *values, [40] * count, sender=operator
        )
        assert monitoring.committed_count() == 2 + count
    print(f"\ngas: commit {single}, commit_batch of {count} {batch} ({batch // count}/interval)")
    assert single < 250_000
    assert batch < count * 200_000
