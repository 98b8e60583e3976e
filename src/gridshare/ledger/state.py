"""Current on-chain state of the community's contracts, read through views."""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from web3 import Web3

from gridshare.ledger.deployment import Deployment, contract


class CommunityState:
    """Views of ParticipantRegistry and CommunityCredit (implements ``ChainState``)."""

    def __init__(self, web3: Web3, deployment: Deployment) -> None:
        self.registry = contract(web3, deployment, "ParticipantRegistry")
        self.credit = contract(web3, deployment, "CommunityCredit")

    def role_of(self, account: str) -> int:
        return int(self.registry.functions.role_of(to_checksum_address(account)).call())

    def is_active(self, account: str) -> bool:
        return bool(self.registry.functions.is_active(to_checksum_address(account)).call())

    def balance_of(self, account: str) -> int:
        return int(self.credit.functions.balanceOf(to_checksum_address(account)).call())

    def total_supply(self) -> int:
        return int(self.credit.functions.totalSupply().call())
