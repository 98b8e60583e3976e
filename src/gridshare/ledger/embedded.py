"""The embedded chain: py-evm behind web3.py's eth-tester provider, persisted to disk.

No server: the chain's key-value store is a SQLite file. Every mined block is committed
to it in one SQLite transaction, so state, blocks, receipts and logs survive restarts and
a hard kill between blocks (a kill mid-block loses only that block's uncommitted writes).
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.typing import AccountDetails
from eth.vm.forks.prague import PragueVM
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import get_default_genesis_params
from eth_tester.exceptions import TransactionNotFound
from eth_typing import BlockNumber
from eth_utils.address import to_canonical_address
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return

from gridshare.errors import GridshareError

EMBEDDED_CHAIN_ID = 20_241_125
"""EIP-155 chain id of embedded gridshare chains (not a public network's id)."""
BLOCK_GAS_LIMIT = 60_000_000
"""Gas per block: room for batched settlement transactions."""


class ChainError(GridshareError):
    """The chain cannot be opened, or a transaction failed."""


class WrongChainError(ChainError):
    """A transaction or deployment belongs to another chain."""


class SqliteKeyValueStore(BaseDB):
    """py-evm's key-value database on a SQLite file; writes commit with :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level="DEFERRED")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self._db.commit()

    def __getitem__(self, key: bytes) -> bytes:
        row = self._db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        if self._db.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self._db.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def __iter__(self) -> Iterator[bytes]:
        return (bytes(k) for (k,) in self._db.execute("SELECT k FROM kv").fetchall())

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM kv").fetchone()[0])

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is None

    def commit(self) -> None:
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()

    def close(self) -> None:
        self._db.rollback()
        self._db.close()


def _chain_class(chain_id: int) -> type[MiningChain]:
    class GridshareChain(MiningChain):
        vm_configuration = ((BlockNumber(0), PragueVM),)

        def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
            header_params["gas_limit"] = parent_header.gas_limit  # constant gas limit
            return super().create_header_from_parent(parent_header, **header_params)

        def get_transaction_builder(self) -> Any:
            return self.get_vm().get_transaction_builder()

    GridshareChain.chain_id = chain_id
    return GridshareChain


class PersistentPyEVMBackend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend on a :class:`SqliteKeyValueStore`.

    The backend holds no keys: transactions arrive signed (see the keystore).
    """

    def __init__(self, store: SqliteKeyValueStore, chain_id: int, funded: dict[str, int]) -> None:
        self._store = store
        self._chain_id = chain_id
        self._funded = funded
        super().__init__()

    def reset_to_genesis(self, *_args: Any, **_kwargs: Any) -> None:
        chain_class = _chain_class(self._chain_id)
        database = AtomicDB(self._store)
        if self._store.is_empty():
            params = get_default_genesis_params(
                {"gas_limit": BLOCK_GAS_LIMIT, "timestamp": int(time.time())}
            )
            state = {
                to_canonical_address(address): AccountDetails(
                    balance=balance, nonce=0, code=b"", storage={}
                )
                for address, balance in self._funded.items()
            }
            self.chain = chain_class.from_genesis(database, params, state)
        else:
            self.chain = chain_class(database)
        self.account_keys = ()
        self._store.commit()

    def send_raw_transaction(self, raw_transaction: bytes) -> Any:
        """Refuse transactions signed for another chain (EIP-155 replay protection)."""
        vm = self.chain.get_vm()
        transaction = vm.get_transaction_builder().decode(raw_transaction)
        chain_id = getattr(transaction, "chain_id", None)
        if chain_id != self._chain_id:
            raise WrongChainError(
                f"transaction is signed for chain id {chain_id}, this chain is {self._chain_id}"
            )
        try:
            return super().send_raw_transaction(raw_transaction)
        except BaseException:
            self._discard_pending()
            raise

    def _discard_pending(self) -> None:
        """Forget uncommitted writes and the pending block built on them."""
        self._store.rollback()
        self.chain = _chain_class(self._chain_id)(AtomicDB(self._store))

    def mine_blocks(self, num_blocks: int = 1, coinbase: Any = None) -> tuple[bytes, ...]:
        try:
            if coinbase is None:
                hashes = super().mine_blocks(num_blocks)
            else:
                hashes = super().mine_blocks(num_blocks, coinbase)
        except BaseException:
            self._discard_pending()
            raise
        self._store.commit()
        return tuple(hashes)


class EmbeddedChain:
    """A persistent single-node chain in a directory, reachable through web3.py."""

    def __init__(self, directory: Path, funded: dict[str, int], chain_id: int = EMBEDDED_CHAIN_ID):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = (directory / "chain.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ChainError(
                f"the embedded chain in {directory} is open in another process; stop it, or "
                "point GRIDSHARE_DATA_DIR elsewhere"
            ) from None
        self.store = SqliteKeyValueStore(directory / "chain.sqlite")
        try:
            self.backend = PersistentPyEVMBackend(self.store, chain_id, funded)
        except Exception as exc:
            self.store.close()
            self._lock.close()
            raise ChainError(f"cannot open the embedded chain in {directory}: {exc}") from exc
        self.chain_id = chain_id
        self.tester = EthereumTester(backend=self.backend, auto_mine_transactions=True)
        endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = static_return(chain_id)
        endpoints["net"]["version"] = static_return(str(chain_id))
        provider = EthereumTesterProvider(ethereum_tester=self.tester, api_endpoints=endpoints)
        self.web3 = Web3(provider)

    def receipt(self, tx_hash: str) -> tuple[int, int, int] | None:
        """(status, block number, gas used) of a mined transaction, without web3's
        formatting of its logs; ``None`` while it is not mined."""
        try:
            found = self.tester.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        return int(found["status"]), int(found["block_number"]), int(found["gas_used"])

    def close(self) -> None:
        self.store.close()
        self._lock.close()
