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


def deploy(name: str, *args: Any, sender: str) -> Any:
    """Deploy ``name`` from its committed artifact (not from source) as ``sender``."""
    artifact = load_artifact(name)
    code = bytes.fromhex(initcode(artifact, *args).removeprefix("0x"))
    address, _ = boa.env.deploy(sender=sender, bytecode=code)
    return boa.loads_abi(json.dumps(artifact.abi), name=name).at(address)


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
