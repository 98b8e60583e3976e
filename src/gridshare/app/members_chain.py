"""What members do on the chain through the node's API (:class:`MembersChain`): their own
signed transactions relayed (escrow deposits, withdrawals and disputes; certificate
transfers and retirements), gas for them, and their escrow read. The chain work runs on
the node's pipeline thread between intervals (:class:`BetweenIntervals`): the embedded
chain is one thread's, and the operator's gas top-ups share its nonce with the steps."""

from __future__ import annotations

from dataclasses import dataclass

from gridshare.app.pauses import BetweenIntervals
from gridshare.ledger.relay import ChainRelay, MemberCall

__all__ = ["EscrowView", "MembersChain", "Receipt"]

WAIT_S = 120.0
"""Longest a member's request waits for the node to pause between intervals."""


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    status: int | None
    """1 done, 0 reverted, None not mined (yet, or unknown)."""
    block: int | None
    gas_used: int | None


@dataclass(frozen=True, slots=True)
class EscrowView:
    account: str
    escrow_micros: int
    withdrawal_micros: int
    withdrawal_due_s: int
    """0 without a withdrawal request."""


class MembersChain:
    """Members' chain calls, run by the node between intervals."""

    def __init__(self, relay: ChainRelay, pauses: BetweenIntervals) -> None:
        self.relay = relay
        self.pauses = pauses

    def check(self, raw: bytes) -> MemberCall:
        """Who signed ``raw`` and what it calls (no chain access): RelayRefused if the node
        does not relay it."""
        return self.relay.check(raw)

    def send(self, call: MemberCall) -> Receipt:
        """Relay a checked call; its receipt if the chain mined it at once."""

        def work() -> Receipt:
            tx_hash = self.relay.send(call)
            return self._receipt(tx_hash)

        return self.pauses.submit(work, WAIT_S)

    def _receipt(self, tx_hash: str) -> Receipt:
        found = self.relay.receipt(tx_hash)
        if found is None:
            return Receipt(tx_hash, None, None, None)
        status, block, gas_used = found
        return Receipt(tx_hash, status, block, gas_used)

    def receipt(self, tx_hash: str) -> Receipt:
        return self.pauses.submit(lambda: self._receipt(tx_hash), WAIT_S)

    def fund_gas(self, account: str) -> int:
        return self.pauses.submit(lambda: self.relay.fund_gas(account), WAIT_S)

    def escrow(self, account: str) -> EscrowView:
        def work() -> EscrowView:
            held, amount, due_s = self.relay.escrow(account)
            return EscrowView(account, held, amount, due_s)

        return self.pauses.submit(work, WAIT_S)
