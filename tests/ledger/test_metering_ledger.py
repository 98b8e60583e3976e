"""The metering contracts through the app's ledger adapter, on the embedded chain and
on anvil: idempotent commitments that are never rewritten, batch mints, the registry's
view of suspended devices, and capacity bounds that agree with ingest."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address

from gridshare.certificates.issuance import Issue
from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.metering import CommitmentMismatch, Generator, MeteringLedger
from gridshare.ledger.transactions import TransactionReverted
from gridshare.metering.commitment import IntervalCommitment
from gridshare.metering.validation import capacity_w, interval_limit_wh
from gridshare.metering.wire import device_address

T0 = 1_748_822_400
PV = device_address(bytes(range(1, 33)))
HOME = device_address(bytes(range(2, 34)))
MEMBER = "0x" + "ab" * 20


def commitment(start: int, production_wh: int, root: bytes = b"\x01" * 32) -> IntervalCommitment:
    return IntervalCommitment(start, root, b"\x02" * 32, production_wh, 500, 100, 0, 3)


@pytest.fixture
def ledger(chain: ChainConnection) -> MeteringLedger:
    ledger = MeteringLedger(chain.transactions, chain.deploy())
    ledger.register(
        [(MEMBER, 4)],
        [(PV, MEMBER, "t:m0/pv/meter"), (HOME, MEMBER, "t:m0/grid")],
        [Generator(PV, 1, capacity_w(5.0), 36_100_000, -79_950_000, 380)],
    )
    return ledger


def test_commitments_are_sent_once_and_never_rewritten(ledger: MeteringLedger) -> None:
    first = [commitment(T0, 1_000), commitment(T0 + 900, 900)]
    assert len(ledger.commit(first)) == 1
    assert ledger.commit(first) == []  # a re-run after a crash: identical, nothing sent
    assert ledger.committed_starts() == [T0, T0 + 900]
    assert ledger.last_committed_end() == T0 + 1800
    with pytest.raises(CommitmentMismatch, match=f"interval {T0 + 900}"):
        ledger.commit([commitment(T0 + 900, 900, root=b"\x09" * 32)])
    assert ledger.commitments([T0, T0 + 1800]) == [first[0], None]


def test_batch_mints_are_idempotent_and_bounded_by_the_commitment(ledger: MeteringLedger) -> None:
    ledger.commit([commitment(T0, 1_000)])
    issue = Issue(PV, T0, 1_000, 0)
    assert len(ledger.mint([issue])) == 1
    assert ledger.mint([issue]) == []
    assert ledger.minted_in_intervals([T0, T0 + 900]) == [1_000, 0]
    ledger.commit([commitment(T0 + 900, 10)])
    with pytest.raises(TransactionReverted, match="committed production"):
        ledger.mint([Issue(PV, T0 + 900, 11, 0)])


def test_the_contract_mints_exactly_up_to_what_ingest_accepts(ledger: MeteringLedger) -> None:
    limit = interval_limit_wh(capacity_w(5.0), 900)  # the validator's bound for this meter
    ledger.commit([commitment(T0, limit + 5), commitment(T0 + 900, limit + 5)])
    assert len(ledger.mint([Issue(PV, T0, limit, 0)])) == 1
    with pytest.raises(TransactionReverted, match="capacity"):
        ledger.mint([Issue(PV, T0 + 900, limit + 1, 0)])


def test_suspended_devices_are_reported_inactive(
    ledger: MeteringLedger, chain: ChainConnection
) -> None:
    assert ledger.inactive_devices([PV, HOME]) == set()
    registry = ledger.registry
    tx = registry.functions.set_device_suspended(
        to_checksum_address("0x" + HOME.hex()), True
    ).build_transaction({"from": chain.transactions.signer.address, "gas": 200_000})
    chain.transactions.send({"to": tx["to"], "data": tx["data"]}, gas=200_000)
    assert ledger.inactive_devices([PV, HOME]) == {HOME}


def test_the_registry_says_when_it_changed_since_a_block(
    ledger: MeteringLedger, chain: ChainConnection
) -> None:
    """The node re-reads devices' states only after the registry logged something."""
    latest = ledger.latest_block()
    assert ledger.registry_changes(-1) == (latest, True)  # onboarding registered devices
    assert ledger.registry_changes(latest) == (latest, False)
    ledger.commit([commitment(T0 + 7 * 900, 10)])  # another contract's transaction
    after_commit, changed = ledger.registry_changes(latest)
    assert after_commit > latest
    assert not changed
    tx = ledger.registry.functions.set_device_suspended(
        to_checksum_address("0x" + PV.hex()), True
    ).build_transaction({"from": chain.transactions.signer.address, "gas": 200_000})
    chain.transactions.send({"to": tx["to"], "data": tx["data"]}, gas=200_000)
    after_suspension, changed = ledger.registry_changes(after_commit)
    assert changed
    assert ledger.registry_changes(after_suspension) == (after_suspension, False)
