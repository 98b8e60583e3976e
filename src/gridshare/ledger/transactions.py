"""The transaction manager: one signer's transactions to one chain, in order.

It checks the chain id before anything is sent, keeps the nonce locally (resynchronising
from the node when the node disagrees), sets gas and fees explicitly (no gas estimation
on the hot path), waits for each receipt, retries transient failures, and turns a failed
transaction into an error that says why (the contract's revert reason).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TimeExhausted
from web3.types import RPCEndpoint, TxParams, Wei

from gridshare.errors import GridshareError
from gridshare.ledger.keys import Signer, TransactionRequest, UnsignedTransaction

T = TypeVar("T")
DEFAULT_GAS = 3_000_000
PRIORITY_FEE_WEI = 1_000_000_000


class TransactionError(GridshareError):
    """A transaction could not be sent or did not succeed."""


class TransactionReverted(TransactionError):
    """The contract refused the transaction; ``reason`` is its revert message."""

    def __init__(self, reason: str, tx_hash: str | None = None) -> None:
        super().__init__(f"transaction reverted: {reason}")
        self.reason = reason
        self.tx_hash = tx_hash


class OutOfGas(TransactionError):
    """The transaction used all the gas it was given."""


class ChainMismatch(TransactionError):
    """The node serves a different chain than the one expected."""


class NodeUnavailable(TransactionError):
    """The node cannot be reached or answers garbage."""


@dataclass(frozen=True, slots=True)
class SentTransaction:
    tx_hash: str
    block_number: int
    gas_used: int


def _revert_reason(exc: Exception) -> str:
    """The contract's reason string, or "" when the node gives none."""
    message = str(getattr(exc, "message", None) or exc).strip()
    marker = "execution reverted"
    if marker in message:
        message = message[message.index(marker) + len(marker) :].removeprefix(":").strip()
    return "" if message in ("b''", 'b""', "0x") else message  # eth-tester's empty reason


class TransactionManager:
    """Sends ``signer``'s transactions to ``web3`` and waits for them."""

    def __init__(
        self,
        web3: Web3,
        signer: Signer,
        *,
        expected_chain_id: int | None = None,
        receipt_timeout_s: float = 60.0,
        poll_latency_s: float = 0.01,
        retries: int = 3,
        receipt_reader: Callable[[str], tuple[int, int, int] | None] | None = None,
    ) -> None:
        self.web3 = web3
        self.signer = signer
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_latency_s = poll_latency_s
        self.retries = retries
        self.receipt_reader = receipt_reader
        """Reads (status, block, gas used) straight from an in-process chain, if given."""
        chain_id = self._with_retries(lambda: int(web3.eth.chain_id))
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ChainMismatch(
                f"the node serves chain id {chain_id}, expected {expected_chain_id}: check "
                "GRIDSHARE_CHAIN_URL or the deployment file"
            )
        self.chain_id = chain_id
        self._nonce: int | None = None
        self.on_confirmed: Callable[[TransactionRequest, SentTransaction], None] | None = None
        """Called with each transaction that succeeded on chain, once its receipt is in (the
        composition root's fault injection, :mod:`gridshare.app.faults`; None: nothing)."""

    def _with_retries(self, action: Callable[[], T]) -> T:
        """Run a read against the node, retrying connection failures with back-off."""
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                return action()
            except ContractLogicError:
                raise
            except (OSError, TimeoutError, ValueError) as exc:
                if attempt == self.retries:
                    raise NodeUnavailable(
                        f"the chain node did not answer properly after {attempt + 1} tries: "
                        f"{exc}. Is it running, and is the URL right?"
                    ) from exc
                time.sleep(delay)
                delay *= 2
        raise NodeUnavailable("no attempt was made")  # only when retries < 0

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self._with_retries(
                lambda: int(
                    self.web3.eth.get_transaction_count(
                        to_checksum_address(self.signer.address), "pending"
                    )
                )
            )
        return self._nonce

    def _max_fee_per_gas(self) -> int:
        """Twice the latest block's base fee plus the priority fee (wei per gas)."""
        block = self._with_retries(lambda: self.web3.eth.get_block("latest"))
        base_fee = int(block.get("baseFeePerGas", 0) or 0)
        return 2 * base_fee + PRIORITY_FEE_WEI

    def send(self, transaction: TransactionRequest, *, gas: int = DEFAULT_GAS) -> SentTransaction:
        """Sign ``transaction`` (``to``, ``data``, ``value``), send it and wait for it."""
        tx: UnsignedTransaction = {
            "chainId": self.chain_id,
            "from": self.signer.address,
            "gas": gas,
            "nonce": self._next_nonce(),
            "type": 2,
            "value": transaction.get("value", 0),
            "maxFeePerGas": self._max_fee_per_gas(),
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
        }
        if "to" in transaction:
            tx["to"] = transaction["to"]
        if "data" in transaction:
            tx["data"] = transaction["data"]
        raw = self.signer.sign_transaction(tx)
        tx_hash = "0x" + keccak(raw).hex()
        try:
            self.web3.eth.send_raw_transaction(raw)
        except ContractLogicError as exc:  # nodes that execute on submission
            self._nonce = None
            raise TransactionReverted(_revert_reason(exc), tx_hash) from None
        except GridshareError:
            self._nonce = None
            raise
        except Exception as exc:  # nodes, eth-tester and py-evm raise different types
            self._nonce = None  # resynchronise: the node may know better
            if not self._node_has(tx_hash):
                message = str(exc)
                if isinstance(exc, OSError | TimeoutError):
                    raise NodeUnavailable(
                        f"could not send transaction {tx_hash}: {message}"
                    ) from exc
                raise TransactionError(
                    f"the node refused transaction {tx_hash}: {message}"
                ) from exc
            # The node took it although the answer was lost: wait for it, never resend.
        self._nonce = tx["nonce"] + 1
        try:
            status, block_number, gas_used = self._wait_for_receipt(tx_hash)
        except TransactionError:
            self._nonce = None  # it may have been dropped: ask the node next time
            raise
        if status != 1:
            if gas_used >= gas:
                raise OutOfGas(f"transaction {tx_hash} ran out of its {gas} gas")
            reason = self._replay_reason(tx)
            if reason is None:
                raise OutOfGas(
                    f"transaction {tx_hash} ran out of gas in a nested call (it succeeds with "
                    f"more than its {gas} gas)"
                )
            raise TransactionReverted(reason, tx_hash)
        sent = SentTransaction(tx_hash, block_number, gas_used)
        if self.on_confirmed is not None:
            self.on_confirmed(transaction, sent)
        return sent

    def _node_has(self, tx_hash: str) -> bool:
        """Whether the node knows ``tx_hash`` (sent, although the answer was lost)."""
        try:
            self.web3.eth.get_transaction(HexStr(tx_hash))
        except Exception:  # noqa: BLE001 - not found, or the node is unreachable
            return False
        return True

    def _wait_for_receipt(self, tx_hash: str) -> tuple[int, int, int]:
        """Status, block number and gas used of a mined transaction.

        On JSON-RPC nodes the receipt is read raw: web3's receipt formatting of hundreds
        of logs costs more than the node takes to run a batch.
        """
        if self.receipt_reader is not None:
            found = self.receipt_reader(tx_hash)
            if found is not None:  # an in-process chain mines on submission
                return found
        if not isinstance(self.web3.provider, HTTPProvider):
            try:
                receipt = self.web3.eth.wait_for_transaction_receipt(
                    HexStr(tx_hash),
                    timeout=self.receipt_timeout_s,
                    poll_latency=self.poll_latency_s,
                )
            except TimeExhausted:
                raise TransactionError(
                    f"transaction {tx_hash} was not mined within {self.receipt_timeout_s} s"
                ) from None
            return int(receipt["status"]), int(receipt["blockNumber"]), int(receipt["gasUsed"])
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            response = self.web3.provider.make_request(
                RPCEndpoint("eth_getTransactionReceipt"), [tx_hash]
            )
            if "error" in response:
                raise NodeUnavailable(f"the node failed to return a receipt: {response['error']}")
            result = response.get("result")
            if result:
                return (
                    int(result["status"], 16),
                    int(result["blockNumber"], 16),
                    int(result["gasUsed"], 16),
                )
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"transaction {tx_hash} was not mined within {self.receipt_timeout_s} s"
                )
            time.sleep(self.poll_latency_s)

    def _replay_reason(self, tx: UnsignedTransaction) -> str | None:
        """The revert reason, replayed on the latest state with the transaction's gas
        (nodes that prune history cannot serve the block before); ``None`` when the call
        succeeds with unlimited gas, i.e. a nested call ran out of gas."""
        call: TxParams = {"from": tx["from"], "value": Wei(tx["value"])}
        if "to" in tx:
            call["to"] = tx["to"]
        if "data" in tx:
            call["data"] = HexStr(tx["data"])
        try:
            self.web3.eth.call({**call, "gas": tx["gas"]})
        except Exception as exc:  # noqa: BLE001 - nodes and eth-tester raise different types
            reason = _revert_reason(exc)
            if reason:
                return reason
        else:
            return "unknown reason (the call succeeds when replayed)"
        try:
            self.web3.eth.call(call)
        except Exception as exc:  # noqa: BLE001
            return _revert_reason(exc) or "reverted without a reason"
        return None
