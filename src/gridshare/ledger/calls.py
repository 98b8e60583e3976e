"""Calldata for gridshare's contracts, encoded with eth-abi directly.

web3's ``Contract.encode_abi`` validates and normalises every argument on each call; for
batches of 256 addresses that costs more than the chain takes to run the transaction.
This encoder looks each function up once in the artifact's ABI and encodes with eth-abi.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar

from eth_abi.abi import encode
from eth_typing import ABIComponent
from eth_utils.crypto import keccak

from gridshare.ledger.compiled import ArtifactError, load_artifact
from gridshare.ledger.transactions import SentTransaction, TransactionManager

MAX_BATCH = 256
"""Items per call of the contracts' batch functions."""

T = TypeVar("T")


def _abi_type(item: ABIComponent) -> str:
    """The canonical type of an ABI input: structs (``tuple``) spelled out as ``(...)``."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item.get("components", ()))
        return f"({inner}){kind.removeprefix('tuple')}"
    return kind


@lru_cache(maxsize=128)
def _function(contract: str, function: str) -> tuple[bytes, tuple[str, ...]]:
    for item in load_artifact(contract).abi:
        if item["type"] == "function" and item["name"] == function:
            types = tuple(_abi_type(i) for i in item["inputs"])
            selector = keccak(text=f"{function}({','.join(types)})")[:4]
            return selector, types
    raise ArtifactError(f"{contract} has no function {function!r}")


def selector(contract: str, function: str) -> bytes:
    """The 4-byte selector that starts the calldata of ``contract.function``."""
    return _function(contract, function)[0]


def calldata(contract: str, function: str, *args: object) -> str:
    """Hex calldata of ``contract.function(*args)``."""
    selector, types = _function(contract, function)
    return "0x" + (selector + encode(list(types), list(args))).hex()


def send_in_batches(
    tm: TransactionManager,
    address: str,
    contract: str,
    function: str,
    columns: Sequence[Sequence[object]],
    *,
    batch_size: int = MAX_BATCH,
    gas_per_item: int = 80_000,
    base_gas: int = 100_000,
) -> list[SentTransaction]:
    """Call a batch function (``register_batch``, ``transfer_batch``) over long columns.

    ``columns`` are the function's array arguments, aligned; each transaction carries up
    to ``batch_size`` items (the contracts accept 256) and gas for that many.
    """
    lengths = {len(column) for column in columns}
    if len(lengths) != 1:
        raise ArtifactError(f"{function}: the argument columns differ in length: {sorted(lengths)}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ArtifactError(f"batch_size must be within 1..{MAX_BATCH}")
    (count,) = lengths
    sent = []
    for start in range(0, count, batch_size):
        chunk = [list(column[start : start + batch_size]) for column in columns]
        data = calldata(contract, function, *chunk)
        gas = base_gas + gas_per_item * len(chunk[0])
        sent.append(tm.send({"to": address, "data": data}, gas=gas))
    return sent


def not_on_chain(
    ours: Sequence[T], onchain: Sequence[T | None], refuse: Callable[[T, T], Exception]
) -> list[T]:
    """The records of ``ours`` the chain does not hold yet; ``onchain`` is what it holds
    for each (aligned, None for nothing). A record it holds with other values is never
    rewritten: ``refuse(ours, theirs)`` is raised."""
    fresh = []
    for mine, theirs in zip(ours, onchain, strict=True):
        if theirs is None:
            fresh.append(mine)
        elif theirs != mine:
            raise refuse(mine, theirs)
    return fresh
