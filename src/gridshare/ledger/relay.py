"""Members' own transactions, relayed: a member signs a transaction in their wallet (their
key never leaves it) and the node passes it to the chain.

Only calls a member makes on their own behalf are relayed, to the community's contracts:
their escrow (deposit, withdrawal request and withdrawal, cancelling nonces, disputes
and fill challenges), their certificates (transfer, approval, retirement with
beneficiary and purpose) and their credit (approve, transfer). Anything else is refused
before it reaches the chain (:class:`RelayRefused`, with a code); the contracts check
the rest (a member's call moves only the member's own money and certificates).

Members pay their own gas. On a community chain only the operator holds its native
token, so the node tops a member's account up to a small stipend on request
(:meth:`ChainRelay.fund_gas`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from gridshare.errors import GridshareError
from gridshare.ledger.compiled import load_artifact
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.transactions import TransactionManager

__all__ = ["GAS_STIPEND_WEI", "MEMBER_CALLS", "ChainRelay", "MemberCall", "RelayRefused"]

MEMBER_CALLS: dict[str, tuple[str, ...]] = {
    "P2PTrading": (
        "deposit",
        "request_withdrawal",
        "withdraw",
        "cancel",
        "dispute",
        "dispute_day",
        "challenge_fill",
    ),
    "EnergyCertificate": (
        "safeTransferFrom",
        "safeBatchTransferFrom",
        "setApprovalForAll",
        "retire",
    ),
    "CommunityCredit": ("approve", "transfer"),
}
"""The functions a member calls on their own behalf, per contract."""

GAS_STIPEND_WEI = 10**16
"""What the node tops a member's account up to (0.01 of the chain's native token: a few
hundred member transactions at the embedded chain's fees)."""


class RelayRefused(GridshareError):
    """A transaction the node does not relay: ``code`` for programs, the message for
    people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class MemberCall:
    """A member's signed transaction, checked: who signed it and what it calls."""

    sender: str
    """0x-hex, lower case."""
    contract: str
    function: str
    tx_hash: str
    raw: bytes


def _selectors(deployment: Deployment) -> dict[str, tuple[str, dict[bytes, str]]]:
    """Contract address (lower case) -> (contract name, selector -> function name)."""
    found: dict[str, tuple[str, dict[bytes, str]]] = {}
    for name, allowed in MEMBER_CALLS.items():
        selectors: dict[bytes, str] = {}
        for entry in load_artifact(name).abi:
            if entry.get("type") == "function" and entry.get("name") in allowed:
                selector = function_abi_to_4byte_selector(entry)
                selectors[bytes(selector)] = str(entry.get("name"))
        found[deployment.address(name).lower()] = (name, selectors)
    return found


class ChainRelay:
    """Checks and relays members' transactions; reads what they need to follow them.
    Not thread-safe: the node calls it from its pipeline thread, between intervals."""

    def __init__(self, transactions: TransactionManager, deployment: Deployment) -> None:
        self.transactions = transactions
        self.web3: Web3 = transactions.web3
        self.chain_id = transactions.chain_id
        self.deployment = deployment
        self._selectors = _selectors(deployment)
        self._p2p = self.web3.eth.contract(
            address=to_checksum_address(deployment.address("P2PTrading")),
            abi=load_artifact("P2PTrading").abi,
        )

    def check(self, raw: bytes) -> MemberCall:
        """Who signed ``raw`` and which member function it calls; :class:`RelayRefused`
        for anything the node does not relay."""
        try:
            if not raw or raw[0] != 2:
                raise RelayRefused(
                    "not_eip1559",
                    "send an EIP-1559 (type 2) transaction, signed, as 0x-hex",
                )
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            sender = str(Account.recover_transaction(raw)).lower()
        except RelayRefused:
            raise
        except Exception:  # noqa: BLE001 - any malformed encoding or signature
            raise RelayRefused(
                "malformed_transaction", "not a signed EIP-1559 transaction"
            ) from None
        if int(fields.get("chainId", 0)) != self.chain_id:
            raise RelayRefused(
                "wrong_chain", f"the transaction is for chain {fields.get('chainId')}, "
                f"this community's is {self.chain_id}",
            )  # fmt: skip
        to = fields.get("to")
        target = self._selectors.get(("0x" + bytes(to).hex()) if to else "")
        if target is None:
            raise RelayRefused(
                "not_a_community_contract",
                "the node relays calls to the community's P2PTrading, EnergyCertificate and "
                "CommunityCredit contracts only",
            )
        if int(fields.get("value", 0)):
            raise RelayRefused("value_not_allowed", "member calls carry no native token")
        contract, selectors = target
        data = bytes(fields.get("data", b""))
        function = selectors.get(data[:4])
        if function is None:
            raise RelayRefused(
                "not_a_member_call",
                f"{contract}: the node relays only {', '.join(MEMBER_CALLS[contract])}",
            )
        return MemberCall(sender, contract, function, "0x" + keccak(raw).hex(), raw)

    def send(self, call: MemberCall) -> str:
        """Pass the member's transaction to the chain; its hash. :class:`RelayRefused`
        when the chain refuses it outright (a revert on submission, a used nonce, no
        gas money)."""
        try:
            self.web3.eth.send_raw_transaction(call.raw)
        except ContractLogicError as exc:
            raise RelayRefused("reverted", f"the contract refused it: {exc}") from None
        except GridshareError:
            raise
        except Exception as exc:  # noqa: BLE001 - nodes and eth-tester raise different types
            raise RelayRefused("refused_by_chain", f"the chain refused it: {exc}") from None
        return call.tx_hash

    def receipt(self, tx_hash: str) -> tuple[int, int, int] | None:
        """Status (1 ok, 0 reverted), block and gas used of a mined transaction; None
        while it is not mined (or unknown)."""
        try:
            found = self.web3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        return int(found["status"]), int(found["blockNumber"]), int(found["gasUsed"])

    def fund_gas(self, account: str) -> int:
        """Top ``account`` up to :data:`GAS_STIPEND_WEI` (sent by the operator); the wei
        sent (0: it holds half the stipend or more)."""
        address = to_checksum_address(account)
        balance = int(self.web3.eth.get_balance(address))
        if balance >= GAS_STIPEND_WEI // 2:
            return 0
        self.transactions.send({"to": address, "value": GAS_STIPEND_WEI - balance}, gas=21_000)
        return GAS_STIPEND_WEI - balance

    def escrow(self, account: str) -> tuple[int, int, int]:
        """The member's escrow, the amount of their withdrawal request and when it is due
        (micro-units, micro-units, unix s; 0, 0 without a request)."""
        address = to_checksum_address(account)
        held = int(self._p2p.functions.escrow(address).call())
        amount, due_at = self._p2p.functions.withdrawals(address).call()
        return held, int(amount), int(due_at)
