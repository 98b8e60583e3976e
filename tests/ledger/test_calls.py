"""The eth-abi calldata encoder agrees with web3's own encoder."""

from __future__ import annotations

import pytest
from web3 import Web3

from gridshare.ledger.calls import calldata, send_in_batches
from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.compiled import ArtifactError, load_artifact
from gridshare.ledger.deployment import contract
from gridshare.ledger.keys import LocalSigner


def test_calldata_matches_web3_encode_abi() -> None:
    receivers = [LocalSigner.generate().address for _ in range(5)]
    amounts = [1, 2, 3, 4, 2**255]
    credit = Web3().eth.contract(abi=load_artifact("CommunityCredit").abi)
    expected = credit.encode_abi("transfer_batch", args=[receivers, amounts])
    assert calldata("CommunityCredit", "transfer_batch", receivers, amounts) == expected
    registry = Web3().eth.contract(abi=load_artifact("ParticipantRegistry").abi)
    expected = registry.encode_abi("register", args=[receivers[0], 4])
    assert calldata("ParticipantRegistry", "register", receivers[0], 4) == expected


def test_unknown_function_is_named() -> None:
    with pytest.raises(ArtifactError, match="CommunityCredit has no function 'steal'"):
        calldata("CommunityCredit", "steal")


def test_long_batches_are_split_into_transactions(chain: ChainConnection) -> None:
    deployment = chain.deploy()
    accounts = [LocalSigner.generate().address for _ in range(600)]
    address = deployment.address("ParticipantRegistry")
    sent = send_in_batches(
        chain.transactions, address, "ParticipantRegistry", "register_batch", [accounts, [3] * 600]
    )
    assert len(sent) == 3  # 256 + 256 + 88
    registry = contract(chain.web3, deployment, "ParticipantRegistry")
    assert registry.functions.participant_count().call() == 601
    assert registry.functions.all_active(accounts[-256:]).call()
    with pytest.raises(ArtifactError, match="differ in length"):
        send_in_batches(
            chain.transactions, address, "ParticipantRegistry", "register_batch", [accounts, [3]]
        )
