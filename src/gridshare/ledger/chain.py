"""Opening the community's chain: embedded by default, any EVM node by URL.

Switching from the embedded chain to a real network (Besu or Nethermind proof of
authority, Energy Web Chain) is a configuration change: set ``GRIDSHARE_CHAIN_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address
from web3 import HTTPProvider, Web3

from gridshare.ledger.deployment import Deployment, deploy_or_load, deployment_path
from gridshare.ledger.embedded import EmbeddedChain
from gridshare.ledger.keys import Signer
from gridshare.ledger.transactions import TransactionManager

OPERATOR_GENESIS_WEI = 10**24
"""Gas money the embedded chain's genesis gives the operator."""


@dataclass
class ChainConnection:
    """A connected chain, the operator's transaction manager and where things are kept."""

    web3: Web3
    transactions: TransactionManager
    directory: Path
    backend: str
    embedded: EmbeddedChain | None = None

    def deploy(self) -> Deployment:
        """Deploy gridshare's contracts, or reuse (after checking) those deployed before."""
        return deploy_or_load(self.transactions, self.directory)

    def deployment_file(self) -> Path:
        return deployment_path(self.directory, self.transactions.chain_id)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.close()


def open_chain(
    directory: Path, operator: Signer, url: str | None = None, *, poll_latency_s: float = 0.01
) -> ChainConnection:
    """Connect to the node at ``url``, or open the embedded chain in ``directory/chain``."""
    if url is None:
        embedded = EmbeddedChain(directory / "chain", {operator.address: OPERATOR_GENESIS_WEI})
        embedded.web3.eth.default_account = to_checksum_address(operator.address)
        tm = TransactionManager(
            embedded.web3,
            operator,
            expected_chain_id=embedded.chain_id,
            receipt_reader=embedded.receipt,
        )
        return ChainConnection(embedded.web3, tm, directory, "embedded", embedded)
    web3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 10}))
    web3.eth.default_account = to_checksum_address(operator.address)
    tm = TransactionManager(web3, operator, poll_latency_s=poll_latency_s)
    return ChainConnection(web3, tm, directory, url)
