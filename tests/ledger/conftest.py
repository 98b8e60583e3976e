"""Ledger fixtures: every test runs on the embedded chain and on a real anvil node.

anvil comes from npm (``python3 scripts/dev.py test`` installs it into ``.tools``); when it
is missing the anvil tests fail with instructions, they never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from gridshare.ledger.calls import calldata
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import SentTransaction, TransactionManager
from tests.integration.conftest import free_port, poll_until

ROOT = Path(__file__).resolve().parents[2]


def anvil_binary() -> str:
    candidates = [
        os.environ.get("GRIDSHARE_ANVIL"),
        str(ROOT / ".tools" / "node_modules" / ".bin" / "anvil"),
        shutil.which("anvil"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "anvil is required for the ledger tests: run `python3 scripts/dev.py test` (it installs "
        "@foundry-rs/anvil from npm into .tools) or set GRIDSHARE_ANVIL"
    )


class Anvil:
    """A fresh anvil node on a free loopback port, with its cache in a temp dir."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - our own test node
            [
                anvil_binary(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--prune-history",
                "--cache-path",
                str(directory / "anvil-cache"),
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        web3 = Web3(HTTPProvider(self.url))

        def answers_or_exited() -> bool:
            return self.process.poll() is not None or web3.is_connected()

        if not poll_until(answers_or_exited, 20, 0.05) or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"anvil did not start on {self.url}")
        self.web3 = web3

    def fund(self, address: str, wei: int) -> None:
        self.web3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path)
    yield node
    node.stop()


@pytest.fixture
def operator() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture(params=["embedded", "anvil"])
def chain(
    request: pytest.FixtureRequest, tmp_path: Path, operator: LocalSigner
) -> Iterator[ChainConnection]:
    """The operator's connection to a fresh chain: embedded, or a real anvil node."""
    if request.param == "embedded":
        connection = open_chain(tmp_path, operator)
    else:
        node: Anvil = request.getfixturevalue("anvil")
        node.fund(operator.address, 10**24)
        connection = open_chain(tmp_path, operator, node.url)
    yield connection
    connection.close()


def send_call(
    connection: ChainConnection,
    deployment: Deployment,
    contract_name: str,
    function: str,
    *args: object,
    gas: int = 2_000_000,
    tm: TransactionManager | None = None,
) -> SentTransaction:
    """Send ``contract_name.function(*args)`` as the operator (or ``tm``'s signer)."""
    sender = tm or connection.transactions
    data = calldata(contract_name, function, *args)
    return sender.send({"to": deployment.address(contract_name), "data": data}, gas=gas)
