"""Deployment, transactions and errors, on the embedded chain and on anvil alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address

from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.compiled import CONTRACT_NAMES
from gridshare.ledger.deployment import (
    Deployment,
    DeploymentError,
    contract,
    deploy_or_load,
    deployment_path,
)
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import OutOfGas, TransactionManager, TransactionReverted
from tests.ledger.conftest import send_call

PROSUMER = 4
REF = b"\x01" * 32


def test_operator_registers_and_mints_and_members_transfer(
    chain: ChainConnection, operator: LocalSigner
) -> None:
    deployment = chain.deploy()
    members = [LocalSigner.generate() for _ in range(3)]
    send_call(
        chain,
        deployment,
        "ParticipantRegistry",
        "register_batch",
        [m.address for m in members],
        [PROSUMER] * 3,
    )
    send_call(chain, deployment, "CommunityCredit", "mint", members[0].address, 5_000_000, REF)
    credit = contract(chain.web3, deployment, "CommunityCredit")
    assert credit.functions.balanceOf(members[0].address).call() == 5_000_000
    assert credit.functions.totalSupply().call() == 5_000_000


def test_revert_reason_reaches_the_caller(chain: ChainConnection, operator: LocalSigner) -> None:
    deployment = chain.deploy()
    with pytest.raises(TransactionReverted, match="ParticipantRegistry: unknown role"):
        send_call(chain, deployment, "ParticipantRegistry", "register", operator.address, 9)
    # the nonce is still in step: the next transaction goes through
    member = LocalSigner.generate()
    send_call(chain, deployment, "ParticipantRegistry", "register", member.address, PROSUMER)
    registry = contract(chain.web3, deployment, "ParticipantRegistry")
    assert registry.functions.is_active(member.address).call()


def test_unregistered_sender_is_refused(chain: ChainConnection, operator: LocalSigner) -> None:
    deployment = chain.deploy()
    outsider = LocalSigner.generate()
    fund = {"to": outsider.address, "value": 10**18}
    chain.transactions.send(fund, gas=21_000)
    outsider_tm = TransactionManager(chain.web3, outsider)
    registry = contract(chain.web3, deployment, "ParticipantRegistry")
    data = registry.encode_abi("register", args=[outsider.address, PROSUMER])
    with pytest.raises(
        TransactionReverted, match="ParticipantRegistry: caller is not the operator"
    ):
        outsider_tm.send({"to": registry.address, "data": data}, gas=200_000)


def test_out_of_gas_is_named(chain: ChainConnection) -> None:
    deployment = chain.deploy()
    member = LocalSigner.generate()
    with pytest.raises(OutOfGas, match="ran out of its 30000 gas"):
        send_call(
            chain,
            deployment,
            "ParticipantRegistry",
            "register",
            member.address,
            PROSUMER,
            gas=30_000,
        )


def test_tampered_deployment_file_is_refused(chain: ChainConnection, tmp_path: Path) -> None:
    deployment = chain.deploy()
    path = chain.deployment_file()
    original = path.read_text()
    data = json.loads(original)
    registry = data["contracts"]["ParticipantRegistry"]
    credit = data["contracts"]["CommunityCredit"]
    registry["address"], credit["address"] = credit["address"], registry["address"]
    path.write_text(json.dumps(data))
    with pytest.raises(DeploymentError, match="does not match the deployment file's code hash"):
        chain.deploy()
    data = json.loads(original)
    data["contracts"]["ParticipantRegistry"]["address"] = to_checksum_address("0x" + "12" * 20)
    path.write_text(json.dumps(data))
    with pytest.raises(DeploymentError, match="no contract at"):
        chain.deploy()
    path.write_text(original)
    assert chain.deploy() == deployment


def test_deployment_file_of_another_chain_is_refused(chain: ChainConnection) -> None:
    deployment = chain.deploy()
    foreign = Deployment(deployment.chain_id + 1, deployment.deployer, deployment.contracts)
    path = deployment_path(chain.directory, chain.transactions.chain_id)
    foreign.write(path)
    with pytest.raises(DeploymentError, match="is for chain id"):
        chain.deploy()


def test_embedded_deployment_survives_a_restart(tmp_path: Path, operator: LocalSigner) -> None:
    first = open_chain(tmp_path, operator)
    deployment = first.deploy()
    member = LocalSigner.generate()
    send_call(first, deployment, "ParticipantRegistry", "register", member.address, PROSUMER)
    first.close()
    second = open_chain(tmp_path, operator)
    try:
        assert second.deploy() == deployment
        registry = contract(second.web3, deployment, "ParticipantRegistry")
        assert registry.functions.is_active(member.address).call()
        send_call(
            second, deployment, "CommunityCredit", "mint", member.address, 1, REF
        )  # nonce continues
    finally:
        second.close()


def test_out_of_gas_in_a_nested_call_is_named(chain: ChainConnection) -> None:
    """A transfer's registry STATICCALL starves: the outer call reverts with gas left."""
    deployment = chain.deploy()
    member = LocalSigner.generate()
    send_call(chain, deployment, "ParticipantRegistry", "register", member.address, PROSUMER)
    send_call(chain, deployment, "CommunityCredit", "mint", member.address, 10, REF)
    chain.transactions.send({"to": member.address, "value": 10**18}, gas=21_000)
    payer = TransactionManager(chain.web3, member)
    with pytest.raises(OutOfGas, match="out of gas"):
        send_call(
            chain,
            deployment,
            "CommunityCredit",
            "transfer",
            member.address,
            1,
            gas=30_000,
            tm=payer,
        )


def test_deploy_records_contracts_and_a_second_start_reuses_them(
    chain: ChainConnection, operator: LocalSigner
) -> None:
    deployment = chain.deploy()
    assert set(deployment.contracts) == set(CONTRACT_NAMES)
    registry = contract(chain.web3, deployment, "ParticipantRegistry")
    assert registry.functions.operator().call() == operator.address
    credit = contract(chain.web3, deployment, "CommunityCredit")
    assert credit.functions.registry().call() == registry.address
    monitoring = contract(chain.web3, deployment, "EnergyMonitoring")
    assert monitoring.functions.registry().call() == registry.address
    assert monitoring.functions.interval_length_s().call() == 900
    certificate = contract(chain.web3, deployment, "EnergyCertificate")
    assert certificate.functions.monitoring().call() == monitoring.address
    assert certificate.functions.uri(1).call() == "gridshare://certificate/{id}"
    block = chain.web3.eth.block_number
    assert chain.deploy() == deployment
    assert chain.web3.eth.block_number == block


def test_deployment_file_mixing_two_communities_is_refused(chain: ChainConnection) -> None:
    ours = chain.deploy()
    theirs = deploy_or_load(chain.transactions, chain.directory / "other-community")
    for swapped in ("CommunityCredit", "EnergyMonitoring", "EnergyCertificate"):
        mixed = Deployment(
            ours.chain_id, ours.deployer, {**ours.contracts, swapped: theirs.contracts[swapped]}
        )
        mixed.write(chain.deployment_file())
        with pytest.raises(DeploymentError, match=f"{swapped} at .* mixes two communities"):
            chain.deploy()


def test_a_deployment_predating_the_energy_contracts_is_refused(chain: ChainConnection) -> None:
    ours = chain.deploy()
    kept = ("ParticipantRegistry", "CommunityCredit")
    old = {k: v for k, v in ours.contracts.items() if k in kept}
    Deployment(ours.chain_id, ours.deployer, old).write(chain.deployment_file())
    with pytest.raises(DeploymentError, match="predates EnergyMonitoring, EnergyCertificate"):
        chain.deploy()


def test_the_interval_length_is_kept(chain: ChainConnection) -> None:
    chain.deploy()
    with pytest.raises(DeploymentError, match="meters 900 s intervals, not the 300 s"):
        deploy_or_load(chain.transactions, chain.directory, interval_length_s=300)
    other = deploy_or_load(chain.transactions, chain.directory / "hourly", interval_length_s=3600)
    monitoring = contract(chain.web3, other, "EnergyMonitoring")
    assert monitoring.functions.interval_length_s().call() == 3600
