"""The EVM's encodings that the domain commits to, in plain functions with no I/O.

Meter readings, orders, fills and schedules are hashed here exactly as the contracts hash
them: keccak-256 over ABI words (32-byte big-endian), addresses as the last 20 bytes of the
keccak of a public key, and signatures in the low-``s`` form that ``ecrecover`` accepts
(EIP-2). The domain uses this module rather than an Ethereum client library, so the core
does not depend on web3's stack; the tests check each function against eth-abi, eth-hash
and eth-utils.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import coincurve
from Crypto.Hash import keccak as _keccak

__all__ = [
    "HALF_CURVE_ORDER",
    "UINT256_MAX",
    "EvmEncodingError",
    "address_of_public_key",
    "checksum_address",
    "keccak256",
    "parse_address",
    "personal_message_digest",
    "recover_address",
    "recover_personal_signer",
    "uint_word",
    "uint_words",
]

UINT256_MAX = 2**256 - 1
HALF_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
"""Half the order of secp256k1: larger ``s`` values are the malleable twin signatures."""
_ADDRESS_CACHE_LIMIT = 1_000_000
_ADDRESS_OF_KEY: dict[bytes, bytes] = {}


class EvmEncodingError(ValueError):
    """A value that has no EVM encoding (a negative or oversized uint256)."""


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 hash (Ethereum's, not NIST SHA3-256) of ``data``."""
    return _keccak.new(digest_bits=256, data=data).digest()


def uint_word(value: int) -> bytes:
    """``abi.encode(uint256 value)``: one 32-byte big-endian word."""
    if not 0 <= value <= UINT256_MAX:
        raise EvmEncodingError(f"{value} does not fit a uint256 (0 to 2**256 - 1)")
    return int(value).to_bytes(32, "big")


def uint_words(values: Iterable[int]) -> bytes:
    """``abi.encode`` of a run of uint256 values: their words, concatenated."""
    return b"".join(uint_word(v) for v in values)


def address_of_public_key(public_key: bytes) -> bytes:
    """The 20-byte address of an uncompressed (65-byte, 0x04-prefixed) secp256k1 key."""
    address = _ADDRESS_OF_KEY.get(public_key)
    if address is None:
        address = keccak256(public_key[1:])[-20:]
        if len(_ADDRESS_OF_KEY) < _ADDRESS_CACHE_LIMIT:
            _ADDRESS_OF_KEY[public_key] = address
    return address


def recover_address(digest: bytes, rs: bytes, recovery_id: int) -> bytes | None:
    """The address whose key signed the 32-byte ``digest`` with ``rs`` (``r ++ s``) and
    ``recovery_id`` (0 or 1); None for a malformed, high-``s`` or unrecoverable signature,
    so that one message has exactly one valid signature per key."""
    if len(rs) != 64 or recovery_id not in (0, 1):
        return None
    if int.from_bytes(rs[32:], "big") > HALF_CURVE_ORDER:
        return None
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            rs + bytes([recovery_id]), digest, hasher=None
        )
    except (ValueError, TypeError):
        return None
    return address_of_public_key(key.format(False))


def checksum_address(address: bytes) -> str:
    """The EIP-55 mixed-case hex form of a 20-byte address."""
    if len(address) != 20:
        raise EvmEncodingError(f"an address has 20 bytes, got {len(address)}")
    lower = address.hex()
    nibbles = keccak256(lower.encode()).hex()
    cased = (c.upper() if int(n, 16) >= 8 else c for c, n in zip(lower, nibbles[:40], strict=True))
    return "0x" + "".join(cased)


def parse_address(text: str, *, checksummed: bool = True) -> bytes:
    """The 20 bytes of a ``0x``-hex address; with ``checksummed`` the text must be its
    EIP-55 form (mixed case as :func:`checksum_address` writes it)."""
    if len(text) != 42 or not text.startswith("0x"):
        raise EvmEncodingError(f"an address is 0x and 40 hex digits, got {text!r}")
    digits = text[2:]
    if digits.strip(string.hexdigits):  # bytes.fromhex alone would skip spaces
        raise EvmEncodingError(f"{text!r} is not hexadecimal")
    address = bytes.fromhex(digits)
    if checksummed and checksum_address(address) != text:
        raise EvmEncodingError(f"{text!r} is not in its EIP-55 checksummed form")
    return address


def personal_message_digest(message: bytes) -> bytes:
    """The EIP-191 (version ``0x45``) digest that ``personal_sign`` signs:
    keccak-256 of ``"\\x19Ethereum Signed Message:\\n" + len(message) + message``."""
    prefix = b"\x19Ethereum Signed Message:\n" + str(len(message)).encode()
    return keccak256(prefix + message)


def recover_personal_signer(message: bytes, signature: bytes) -> bytes | None:
    """The address that ``personal_sign``-ed ``message`` with the 65-byte ``r ++ s ++ v``
    ``signature`` (``v`` 27/28 as wallets send it, or 0/1); None when it recovers none."""
    if len(signature) != 65:
        return None
    v = signature[64]
    recovery_id = v - 27 if v >= 27 else v
    return recover_address(personal_message_digest(message), signature[:64], recovery_id)
