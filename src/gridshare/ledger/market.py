"""The P2PTrading contract from Python: escrow deposits, settlement, release, history.

Only orders that traded go on chain: an order with no fill moves no money. One
``settle`` transaction per interval carries the interval's orders with their
signatures, their fills (with the sellers' metered deliveries) and the trades root; the
contract checks every signature, limit and quantity again. Sends are idempotent across
restarts: an interval the chain has settled already is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract

from gridshare.ledger.calls import calldata
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.transactions import SentTransaction, TransactionManager
from gridshare.market.orders import MarketRules, domain_separator
from gridshare.market.session import IntervalClearing
from gridshare.market.settlement import DayBatch, Settlement, chain_delivered

MAX_ORDERS = 512
SETTLE_BASE_GAS = 600_000
SETTLE_GAS_PER_ORDER = 80_000
"""Measured: 33-59 k per settled order (the most when makers and the day are new)."""
RELEASE_GAS_PER_ACCOUNT = 30_000
DAY_BASE_GAS = 300_000
DAY_GAS_PER_ACCOUNT = 40_000


class MarketLedger:
    """The community's P2PTrading contract, driven by the operator's key."""

    def __init__(self, tm: TransactionManager, deployment: Deployment) -> None:
        self.tm = tm
        self.web3 = tm.web3
        self.deployment = deployment
        self.address = to_checksum_address(deployment.address("P2PTrading"))
        self.p2p: Contract = contract(self.web3, deployment, "P2PTrading")
        self.credit: Contract = contract(self.web3, deployment, "CommunityCredit")
        self.domain = domain_separator(tm.chain_id, bytes.fromhex(self.address[2:]))
        self.sent: list[SentTransaction] = []
        self.block_gas_limit = int(self.web3.eth.get_block("latest")["gasLimit"])

    def _send(self, contract_name: str, to: str, function: str, *args: object, gas: int) -> None:
        data = calldata(contract_name, function, *args)
        self.sent.append(self.tm.send({"to": to, "data": data}, gas=gas))

    def configure(
        self, rules: MarketRules, *, dispute_window_s: int, withdrawal_delay_s: int
    ) -> None:
        """Set the contract's fees, price band and windows to the community's rules."""
        self._send(
            "P2PTrading",
            self.address,
            "set_parameters",
            rules.fee_per_kwh,
            rules.fee_bps,
            rules.min_price,
            rules.max_price,
            dispute_window_s,
            withdrawal_delay_s,
            gas=200_000,
        )

    def fund(self, accounts: Mapping[str, int], reference: str) -> None:
        """Top up members' escrow (micro-units by account): the operator mints the
        total against one deposit reference (the members' payments it received) and
        deposits each member's share for them. Skipped when the reference was minted."""
        total = sum(accounts.values())
        ref = keccak(text=reference)
        if total == 0 or self.credit.functions.deposit_used(ref).call():
            return
        operator = self.tm.signer.address
        credit = to_checksum_address(self.deployment.address("CommunityCredit"))
        self._send("CommunityCredit", credit, "mint", operator, total, ref, gas=150_000)
        self._send("CommunityCredit", credit, "approve", self.address, total, gas=80_000)
        for account, amount in accounts.items():
            if amount:
                self._send(
                    "P2PTrading",
                    self.address,
                    "deposit_for",
                    to_checksum_address(account),
                    amount,
                    gas=120_000,
                )

    def settle(self, settled: Sequence[tuple[IntervalClearing, Settlement, bytes]]) -> int:
        """Settle each interval's traded orders; returns the transactions sent."""
        sent = 0
        for clearing, settlement, root in settled:
            traded = [i for i, f in enumerate(clearing.filled_wh) if f > 0]
            if not traded or self.p2p.functions.settled(clearing.start_s).call():
                continue
            if len(traded) > MAX_ORDERS:
                raise ValueError(
                    f"interval {clearing.start_s}: {len(traded)} orders traded; one settlement "
                    f"carries at most {MAX_ORDERS}"
                )
            orders = [clearing.orders[i].as_tuple() for i in traded]
            signatures = [clearing.orders[i].signature for i in traded]
            fills = [
                (
                    clearing.filled_wh[i],
                    clearing.amount[i],
                    chain_delivered(clearing, settlement, i),
                )
                for i in traded
            ]
            gas = min(SETTLE_BASE_GAS + SETTLE_GAS_PER_ORDER * len(traded), self.block_gas_limit)
            self._send(
                "P2PTrading",
                self.address,
                "settle",
                clearing.start_s,
                orders,
                signatures,
                fills,
                root,
                gas=gas,
            )
            sent += 1
        return sent

    def settle_day(self, batch: DayBatch, fills_root: bytes) -> int:
        """Settle a UTC day as one batch (skipped when the chain has it already)."""
        if not batch.accounts:
            return 0
        if self.p2p.functions.day_settlements(batch.day).call()[3] != 0:  # release_at
            return 0
        accounts = [to_checksum_address("0x" + a.hex()) for a in batch.accounts]
        gas = min(DAY_BASE_GAS + DAY_GAS_PER_ACCOUNT * len(accounts), self.block_gas_limit)
        self._send(
            "P2PTrading",
            self.address,
            "settle_day",
            batch.day,
            accounts,
            batch.debits,
            batch.credits,
            fills_root,
            batch.volume_wh,
            gas=gas,
        )
        return 1

    def release(self, accounts: Sequence[bytes], epoch: int) -> int:
        """Move the accounts' pending credit of ``epoch`` (a UTC day) into escrow."""
        sent = 0
        for first in range(0, len(accounts), MAX_ORDERS):
            part = [
                to_checksum_address("0x" + a.hex()) for a in accounts[first : first + MAX_ORDERS]
            ]
            self._send(
                "P2PTrading",
                self.address,
                "release",
                part,
                epoch,
                gas=100_000 + RELEASE_GAS_PER_ACCOUNT * len(part),
            )
            sent += 1
        return sent

    def escrow_of(self, account: str) -> int:
        return int(self.p2p.functions.escrow(to_checksum_address(account)).call())

    def escrow(self, account: bytes) -> int:
        """What the contract holds in escrow for the 20-byte ``account`` (micro-units)."""
        return self.escrow_of("0x" + account.hex())

    @property
    def gas_used(self) -> int:
        return sum(s.gas_used for s in self.sent)
