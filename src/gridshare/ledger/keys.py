"""Keys of the community's operator, participants and devices.

Private keys live in encrypted Ethereum (Web3 Secret Storage, version 3) keystore files,
one per key, in a directory. All signing goes through the :class:`Signer` protocol, so a
hardware security module can replace :class:`LocalSigner` without touching the callers.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import HexStr
from eth_utils.address import to_checksum_address

from gridshare.errors import GridshareError

PASSWORD_ENV = "GRIDSHARE_KEY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class KeystoreError(GridshareError):
    """A key is missing, unreadable or its password is wrong."""


class TransactionRequest(TypedDict, total=False):
    """What a caller asks the transaction manager to send: the recipient (none: deploy
    ``data`` as a contract), the calldata (0x-hex) and the value in wei (default 0)."""

    to: str
    data: str
    value: int


UnsignedTransaction = TypedDict(  # "from" is a keyword: the functional form
    "UnsignedTransaction",
    {
        "chainId": int,
        "from": str,
        "gas": int,
        "nonce": int,
        "type": int,
        "value": int,
        "maxFeePerGas": int,
        "maxPriorityFeePerGas": int,
        "to": NotRequired[str],
        "data": NotRequired[str],
    },
)
"""An EIP-1559 (type 2) transaction as the transaction manager has it signed: every
field eth-account reads, in its JSON-RPC spelling; wei amounts and gas as ints."""


def _signable(transaction: UnsignedTransaction) -> TransactionDictType:
    """``transaction`` in eth-account's own dict type (hex strings as ``HexStr``)."""
    signable: TransactionDictType = {
        "chainId": transaction["chainId"],
        "from": HexStr(transaction["from"]),
        "gas": transaction["gas"],
        "nonce": transaction["nonce"],
        "type": transaction["type"],
        "value": transaction["value"],
        "maxFeePerGas": transaction["maxFeePerGas"],
        "maxPriorityFeePerGas": transaction["maxPriorityFeePerGas"],
    }
    if "to" in transaction:
        signable["to"] = HexStr(transaction["to"])
    if "data" in transaction:
        signable["data"] = HexStr(transaction["data"])
    return signable


class Signer(Protocol):
    """Something that holds one private key and signs with it."""

    @property
    def address(self) -> str:
        """The checksummed address of the key."""
        ...

    def sign_transaction(self, transaction: UnsignedTransaction) -> bytes:
        """The raw signed transaction, ready for ``eth_sendRawTransaction``."""
        ...


class LocalSigner:
    """A key held in this process (decrypted from a keystore file)."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_transaction(self, transaction: UnsignedTransaction) -> bytes:
        return bytes(self._account.sign_transaction(_signable(transaction)).raw_transaction)

    def sign_message(self, text: str) -> bytes:
        """The EIP-191 ``personal_sign`` of ``text`` (r ++ s ++ v, v = 27 or 28): what a
        wallet signs a Sign-In with Ethereum message with."""
        return bytes(self._account.sign_message(encode_defunct(text=text)).signature)

    @classmethod
    def generate(cls) -> LocalSigner:
        """A fresh random key (for tests and simulations that keep no keystore)."""
        return cls(Account.create())


class Keystore:
    """Encrypted keystore files named ``<name>.json`` in ``directory``."""

    def __init__(self, directory: Path, *, kdf_iterations: int | None = None) -> None:
        self.directory = directory
        self.kdf_iterations = kdf_iterations
        """PBKDF2 iterations; ``None`` keeps eth-account's scrypt default (slow, strong)."""

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeystoreError(f"key name {name!r} must be lower-case letters, digits, . _ -")
        return self.directory / f"{name}.json"

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def create(self, name: str, password: str) -> str:
        """Generate and store a new key; returns its address."""
        return self._write(name, Account.create(), password)

    def import_key(self, name: str, private_key: bytes, password: str) -> str:
        """Store an existing private key; returns its address."""
        return self._write(name, Account.from_key(private_key), password)

    def _write(self, name: str, account: LocalAccount, password: str) -> str:
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"a key named {name!r} exists already at {path}")
        if not password:
            raise KeystoreError(f"set a password for key {name!r} (or {PASSWORD_ENV})")
        if self.kdf_iterations is None:
            encrypted = Account.encrypt(account.key, password)
        else:
            encrypted = Account.encrypt(
                account.key, password, kdf="pbkdf2", iterations=self.kdf_iterations
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(encrypted), encoding="utf-8")
        temporary.chmod(0o600)
        temporary.replace(path)
        return str(account.address)

    def address(self, name: str) -> str:
        """The address of a stored key, without decrypting it."""
        data = self._read(name)
        if "address" not in data:
            raise KeystoreError(f"key file of {name!r} does not record its address")
        return str(to_checksum_address("0x" + str(data["address"]).removeprefix("0x")))

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeystoreError(
                f"no key named {name!r} in {self.directory}; create it with "
                f"`gridshare keys create {name}`"
            ) from None
        except (OSError, ValueError) as exc:
            raise KeystoreError(f"key file {path} is unreadable: {exc}") from None
        return data

    def load(self, name: str, password: str | None = None) -> LocalSigner:
        """Decrypt key ``name`` with ``password`` (default: ``$GRIDSHARE_KEY_PASSWORD``)."""
        data = self._read(name)
        secret = password if password is not None else os.environ.get(PASSWORD_ENV)
        if secret is None:
            raise KeystoreError(f"no password for key {name!r}: pass one or set {PASSWORD_ENV}")
        try:
            private_key = Account.decrypt(data, secret)
        except ValueError:
            raise KeystoreError(f"wrong password for key {name!r}") from None
        return LocalSigner(Account.from_key(private_key))
