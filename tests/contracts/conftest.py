"""Titanoboa fixtures: contracts deployed from the app's own compiled artifacts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boa
import pytest

from gridshare.ledger.compiled import load_artifact
from gridshare.ledger.deployment import initcode

ROLE_OPERATOR, ROLE_PRODUCER, ROLE_CONSUMER, ROLE_PROSUMER = 1, 2, 3, 4
INTERVAL_S = 900
CERTIFICATE_URI = "gridshare://certificate/{id}"


def deploy(name: str, *args: Any, sender: str) -> Any:
    """Deploy ``name`` from its committed artifact (not from source) as ``sender``."""
    artifact = load_artifact(name)
    code = bytes.fromhex(initcode(artifact, *args).removeprefix("0x"))
    address, _ = boa.env.deploy(sender=sender, bytecode=code)
    return boa.loads_abi(json.dumps(artifact.abi), name=name).at(address)


def transaction_gas(function: Any, *args: Any, sender: str) -> int:
    """Gas a transaction calling ``function(*args)`` would use on a node.

    titanoboa runs calls as messages, not transactions: storage keeps its "original"
    values and addresses and slots stay warm from one call to the next. This marks a
    transaction boundary first (only outside ``boa.env.anchor()``: run it in a fresh
    ``boa.swap_env(boa.Env())``), then adds the intrinsic gas (21000 and calldata) and
    applies the refund cap (a fifth) and the EIP-7623 calldata floor.
    """
    boa.env.evm.vm.state.lock_changes()
    function(*args, sender=sender)
    computation = function.contract._computation
    data = function.prepare_calldata(*args)
    zeros = data.count(0)
    tokens = zeros + 4 * (len(data) - zeros)
    used = 21_000 + 4 * tokens + computation.get_gas_used()
    used -= min(computation.get_gas_refund(), used // 5)
    return max(used, 21_000 + 10 * tokens)


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    """Every test starts from the same chain state and leaves nothing behind."""
    with boa.env.anchor():
        yield


@pytest.fixture
def operator() -> str:
    return str(boa.env.generate_address("operator"))


@pytest.fixture
def accounts() -> list[str]:
    return [str(boa.env.generate_address(f"member-{i}")) for i in range(6)]


@pytest.fixture
def registry(operator: str) -> Any:
    return deploy("ParticipantRegistry", sender=operator)


@pytest.fixture
def credit(registry: Any, operator: str) -> Any:
    return deploy("CommunityCredit", registry.address, sender=operator)


@pytest.fixture
def monitoring(registry: Any, operator: str) -> Any:
    return deploy("EnergyMonitoring", registry.address, INTERVAL_S, sender=operator)


@pytest.fixture
def certificate(registry: Any, monitoring: Any, operator: str) -> Any:
    return deploy(
        "EnergyCertificate", registry.address, monitoring.address, CERTIFICATE_URI, sender=operator
    )


@pytest.fixture
def trading(registry: Any, credit: Any, monitoring: Any, operator: str) -> Any:
    """P2PTrading with the operator as the community fund, trusted by CommunityCredit."""
    deployed = deploy(
        "P2PTrading",
        registry.address,
        credit.address,
        monitoring.address,
        operator,
        sender=operator,
    )
    credit.set_trusted(deployed.address, True, sender=operator)
    return deployed
