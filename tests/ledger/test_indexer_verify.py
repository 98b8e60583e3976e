"""Indexing contract events into the store, and `verify` catching planted mismatches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.events import EventReader
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.state import CommunityState
from gridshare.ledger.transactions import TransactionManager, TransactionReverted
from gridshare.pipeline.chain_sync import ChainSyncError, index_chain, verify
from gridshare.storage import SqlStore, open_store
from tests.ledger.conftest import send_call

PROSUMER = 4
REF = b"\x05" * 32


@pytest.fixture
def store(sqlite_url: str) -> Iterator[SqlStore]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def _community_activity(chain: ChainConnection, deployment: Deployment) -> list[LocalSigner]:
    members = [LocalSigner.generate() for _ in range(4)]
    send_call(
        chain,
        deployment,
        "ParticipantRegistry",
        "register_batch",
        [m.address for m in members],
        [PROSUMER] * 4,
    )
    send_call(chain, deployment, "CommunityCredit", "mint", members[0].address, 9_000, REF)
    chain.transactions.send({"to": members[0].address, "value": 10**17}, gas=21_000)
    payer = TransactionManager(chain.web3, members[0])
    receivers = [m.address for m in members[1:]]
    send_call(
        chain,
        deployment,
        "CommunityCredit",
        "transfer_batch",
        receivers,
        [1_000, 2_000, 3_000],
        tm=payer,
    )
    return members


def _index(chain: ChainConnection, deployment: Deployment, store: SqlStore) -> int:
    reader = EventReader(chain.web3, deployment)
    report = index_chain(
        reader, store, deployment.chain_id, chain.web3.eth.block_number, blocks_per_batch=3
    )
    return report.new_events


def test_index_is_complete_idempotent_and_verifies(chain: ChainConnection, store: SqlStore) -> None:
    deployment = chain.deploy()
    members = _community_activity(chain, deployment)
    new = _index(chain, deployment, store)
    events = store.chain_events(deployment.chain_id)
    assert new == len(events)
    names = [e.event for e in events]
    assert names.count("ParticipantRegistered") == 5  # the operator and four members
    assert names.count("Transfer") == 4
    assert names.count("Deposit") == 1
    assert _index(chain, deployment, store) == 0  # nothing new, nothing twice
    state = CommunityState(chain.web3, deployment)
    report = verify(store, EventReader(chain.web3, deployment), state, deployment.chain_id)
    assert report.ok, report.mismatches
    assert report.events_checked == len(events)
    assert state.balance_of(members[3].address) == 3_000


def test_indexing_resumes_after_new_blocks(chain: ChainConnection, store: SqlStore) -> None:
    deployment = chain.deploy()
    _index(chain, deployment, store)
    before = len(store.chain_events(deployment.chain_id))
    _community_activity(chain, deployment)
    assert _index(chain, deployment, store) == len(store.chain_events(deployment.chain_id)) - before
    position = store.last_indexed_block(deployment.chain_id)
    assert position is not None
    assert position[0] == chain.web3.eth.block_number


def test_verify_reports_a_planted_mismatch(chain: ChainConnection, store: SqlStore) -> None:
    deployment = chain.deploy()
    members = _community_activity(chain, deployment)
    _index(chain, deployment, store)
    with store.engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT block_number, log_index, args_json FROM chain_events "
                "WHERE event = 'Transfer' ORDER BY block_number DESC, log_index DESC LIMIT 1"
            )
        ).one()
        args = json.loads(row.args_json)
        args[2][1] = 3_500  # the last transfer: 3,000 -> 3,500 in the store only
        conn.execute(
            text(
                "UPDATE chain_events SET args_json = :a WHERE block_number = :b AND log_index = :l"
            ),
            {"a": json.dumps(args), "b": row.block_number, "l": row.log_index},
        )
    state = CommunityState(chain.web3, deployment)
    report = verify(store, EventReader(chain.web3, deployment), state, deployment.chain_id)
    assert not report.ok
    text_report = "\n".join(report.mismatches)
    assert "stored Transfer" in text_report
    assert (
        f"credit balance of {members[3].address}: store implies 3500, chain holds 3000"
        in text_report
    )
    # the payer's balance too; the supply is unchanged, a transfer creates no credit
    assert f"credit balance of {members[0].address}: store implies 2500, chain holds 3000" in (
        text_report
    )
    assert "credit supply" not in text_report


def test_verify_reports_missing_and_extra_events(chain: ChainConnection, store: SqlStore) -> None:
    deployment = chain.deploy()
    _community_activity(chain, deployment)
    _index(chain, deployment, store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM chain_events WHERE event = 'Deposit'"))
        conn.execute(
            text(
                "INSERT INTO chain_events VALUES "
                "(:c, 999999, 0, '0x00', 'CommunityCredit', 'Deposit', '[]')"
            ),
            {"c": deployment.chain_id},
        )
    report = verify(
        store,
        EventReader(chain.web3, deployment),
        CommunityState(chain.web3, deployment),
        deployment.chain_id,
    )
    text_report = "\n".join(report.mismatches)
    assert "Deposit on chain is missing from the store" in text_report
    assert "block 999999 log 0: the store holds Deposit the chain lacks" in text_report


def test_a_failed_transaction_leaves_nothing_in_the_store(
    chain: ChainConnection, store: SqlStore
) -> None:
    deployment = chain.deploy()
    _index(chain, deployment, store)
    before = store.chain_events(deployment.chain_id)
    member = LocalSigner.generate()
    with pytest.raises(TransactionReverted, match="CommunityCredit: account is not an active"):
        send_call(chain, deployment, "CommunityCredit", "mint", member.address, 5, REF)
    assert _index(chain, deployment, store) == 0
    assert store.chain_events(deployment.chain_id) == before
    position = store.last_indexed_block(deployment.chain_id)
    assert position is not None
    assert position[0] == chain.web3.eth.block_number


def test_a_reset_chain_is_not_mixed_into_the_index(
    tmp_path: Path, operator: LocalSigner, store: SqlStore
) -> None:
    """A new chain with the same id (deployment file removed, chain deleted) is refused."""
    first = open_chain(tmp_path / "a", operator)
    deployment = first.deploy()
    _community_activity(first, deployment)
    _index(first, deployment, store)
    first.close()
    second = open_chain(tmp_path / "b", operator)  # same chain id, different history
    try:
        fresh = second.deploy()
        with pytest.raises(ChainSyncError, match="reset or reorganised"):
            _index(second, fresh, store)
        report = verify(
            store,
            EventReader(second.web3, fresh),
            CommunityState(second.web3, fresh),
            fresh.chain_id,
        )
        assert not report.ok
    finally:
        second.close()
