"""Current on-chain state of the community's contracts, read through views."""

from __future__ import annotations

from copy import copy

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import BlockIdentifier

from gridshare.ledger.deployment import Deployment, contract


class CommunityState:
    """Views of ParticipantRegistry and CommunityCredit (implements ``ChainState``).

    ``at_block`` pins every view to one block (the last indexed one, for ``verify``);
    ``None`` reads the latest state.
    """

    def __init__(self, web3: Web3, deployment: Deployment, at_block: int | None = None) -> None:
        self.registry = contract(web3, deployment, "ParticipantRegistry")
        self.credit = contract(web3, deployment, "CommunityCredit")
        self.block: BlockIdentifier = "latest" if at_block is None else at_block

    def at(self, block: int) -> CommunityState:
        pinned = copy(self)
        pinned.block = block
        return pinned

    def role_of(self, account: str) -> int:
        view = self.registry.functions.role_of(to_checksum_address(account))
        return int(view.call(block_identifier=self.block))

    def is_active(self, account: str) -> bool:
        view = self.registry.functions.is_active(to_checksum_address(account))
        return bool(view.call(block_identifier=self.block))

    def balance_of(self, account: str) -> int:
        view = self.credit.functions.balanceOf(to_checksum_address(account))
        return int(view.call(block_identifier=self.block))

    def total_supply(self) -> int:
        return int(self.credit.functions.totalSupply().call(block_identifier=self.block))
