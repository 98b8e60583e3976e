"""What every GridBalancing call shares: the contract, the operator's transactions, batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from eth_utils.address import to_checksum_address
from web3.contract import Contract

from gridshare.ledger.balancing.records import CONTRACT
from gridshare.ledger.calls import calldata
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.transactions import SentTransaction, TransactionManager

T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (the contract's batch limits)."""
    for first in range(0, len(items), size):
        yield items[first : first + size]


class GridBalancingContract:
    """The community's GridBalancing contract (and the CommunityCredit it pays with), driven
    by the operator's key: the plumbing the schedule, budget, island and demand-response
    calls share."""

    def __init__(self, tm: TransactionManager, deployment: Deployment) -> None:
        self.tm = tm
        self.web3 = tm.web3
        self.deployment = deployment
        self.address = to_checksum_address(deployment.address(CONTRACT))
        self.balancing: Contract = contract(self.web3, deployment, CONTRACT)
        self.credit: Contract = contract(self.web3, deployment, "CommunityCredit")
        self.sent: list[SentTransaction] = []

    def _send(self, contract_name: str, to: str, function: str, *args: object, gas: int) -> None:
        data = calldata(contract_name, function, *args)
        self.sent.append(self.tm.send({"to": to, "data": data}, gas=gas))

    def _send_batches(
        self,
        function: str,
        items: Sequence[T],
        size: int,
        arguments: Callable[[Sequence[T]], tuple[object, ...]],
        *,
        base_gas: int,
        gas_per_item: int,
    ) -> int:
        """Call GridBalancing's ``function`` once per batch of at most ``size`` ``items``
        with ``arguments(batch)``, gas ``base_gas + gas_per_item * len(batch)``; returns the
        transactions sent."""
        sent = 0
        for part in batches(items, size):
            gas = base_gas + gas_per_item * len(part)
            self._send(CONTRACT, self.address, function, *arguments(part), gas=gas)
            sent += 1
        return sent

    @property
    def gas_used(self) -> int:
        return sum(s.gas_used for s in self.sent)
