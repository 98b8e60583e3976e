"""Calldata for gridshare's contracts, encoded with eth-abi directly.

web3's ``Contract.encode_abi`` validates and normalises every argument on each call; for
batches of 256 addresses that costs more than the chain takes to run the transaction.
This encoder looks each function up once in the artifact's ABI and encodes with eth-abi.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from gridshare.ledger.compiled import ArtifactError, load_artifact


@lru_cache(maxsize=128)
def _function(contract: str, function: str) -> tuple[bytes, tuple[str, ...]]:
    for item in load_artifact(contract).abi:
        if item["type"] == "function" and item["name"] == function:
            types = tuple(str(i["type"]) for i in item["inputs"])
            selector = keccak(text=f"{function}({','.join(types)})")[:4]
            return selector, types
    raise ArtifactError(f"{contract} has no function {function!r}")


def calldata(contract: str, function: str, *args: Any) -> str:
    """Hex calldata of ``contract.function(*args)``."""
    selector, types = _function(contract, function)
    return "0x" + (selector + encode(list(types), list(args))).hex()
