"""gridshare.evm against the Ethereum libraries it replaces in the domain: eth-hash's keccak,
eth-abi's encoding, eth-utils' EIP-55 checksums and eth-keys' signature recovery."""

from __future__ import annotations

import coincurve
import eth_abi
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from gridshare.evm import (
    HALF_CURVE_ORDER,
    UINT256_MAX,
    EvmEncodingError,
    address_of_public_key,
    checksum_address,
    keccak256,
    parse_address,
    personal_message_digest,
    recover_address,
    recover_personal_signer,
    uint_word,
    uint_words,
)

CURVE_ORDER = 2 * HALF_CURVE_ORDER + 1
private_keys = st.integers(1, CURVE_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))


@given(st.binary(max_size=300))
def test_keccak256_is_ethereums_keccak(data: bytes) -> None:
    assert keccak256(data) == keccak(data)


def test_keccak256_of_nothing_is_the_published_empty_hash() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@given(st.lists(st.integers(0, UINT256_MAX), max_size=6))
def test_uint_words_are_abi_encoded_uint256s(values: list[int]) -> None:
    assert uint_words(values) == eth_abi.encode(["uint256"] * len(values), values)


@pytest.mark.parametrize("value", [-1, UINT256_MAX + 1])
def test_uint_word_refuses_what_is_not_a_uint256(value: int) -> None:
    with pytest.raises(EvmEncodingError, match="does not fit a uint256"):
        uint_word(value)


@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_is_eip55(address: bytes) -> None:
    assert checksum_address(address) == to_checksum_address(address)


def test_checksum_address_matches_eip55s_published_examples() -> None:
    for published in (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ):
        assert checksum_address(bytes.fromhex(published[2:])) == published


def test_checksum_address_refuses_a_wrong_length() -> None:
    with pytest.raises(EvmEncodingError, match="20 bytes"):
        checksum_address(bytes(19))


@given(private_keys, st.binary(min_size=32, max_size=32))
def test_recover_address_finds_the_signer_eth_keys_finds(key: bytes, digest: bytes) -> None:
    raw = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    expected = keys.PrivateKey(key).public_key.to_canonical_address()
    assert address_of_public_key(coincurve.PrivateKey(key).public_key.format(False)) == expected
    assert recover_address(digest, raw[:64], raw[64]) == expected
    # The same recovery through eth-keys, from the signature alone.
    recovered = keys.Signature(raw).recover_public_key_from_msg_hash(digest)
    assert recovered.to_canonical_address() == expected


@given(private_keys, st.binary(min_size=32, max_size=32))
def test_recover_address_refuses_the_high_s_twin(key: bytes, digest: bytes) -> None:
    raw = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    twin = r + (CURVE_ORDER - s).to_bytes(32, "big")
    assert recover_address(digest, twin, 1 - v) is None


@pytest.mark.parametrize(
    ("rs", "recovery_id"),
    [(bytes(63), 0), (bytes(65), 0), (b"\x01" * 64, 2), (b"\x01" * 64, 27), (bytes(64), 0)],
)
def test_recover_address_refuses_malformed_signatures(rs: bytes, recovery_id: int) -> None:
    assert recover_address(bytes(32), rs, recovery_id) is None


@given(st.binary(min_size=20, max_size=20))
def test_parse_address_reads_back_the_checksummed_form(address: bytes) -> None:
    assert parse_address(checksum_address(address)) == address
    assert parse_address("0x" + address.hex(), checksummed=False) == address


@pytest.mark.parametrize(
    "text",
    [
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",  # all lower case: not EIP-55
        "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
        "0xZZAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ],
)
def test_parse_address_refuses_what_is_not_a_checksummed_address(text: str) -> None:
    with pytest.raises(EvmEncodingError):
        parse_address(text)


@pytest.mark.parametrize(
    "text", ["0x" + "abab " * 8, "0x" + "ab" * 19 + " a", "0x" + "ab\n" * 13 + "c"]
)
def test_parse_address_refuses_whitespace_among_the_digits(text: str) -> None:
    assert len(text) == 42
    with pytest.raises(EvmEncodingError, match="not hexadecimal"):
        parse_address(text, checksummed=False)


@given(st.binary(max_size=400))
def test_personal_message_digest_is_eip191s(message: bytes) -> None:
    signable = encode_defunct(primitive=message)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert personal_message_digest(message) == expected


@given(private_keys, st.text(max_size=300))
def test_recover_personal_signer_finds_who_eth_account_signed_as(key: bytes, text: str) -> None:
    account = Account.from_key(key)
    signed = Account.sign_message(encode_defunct(text=text), key)
    signature = bytes(signed.signature)
    assert signature[64] in (27, 28)
    recovered = recover_personal_signer(text.encode(), signature)
    assert recovered is not None
    assert checksum_address(recovered) == account.address
    # v as 0/1 recovers the same signer; another message recovers someone else
    lowered = signature[:64] + bytes([signature[64] - 27])
    assert recover_personal_signer(text.encode(), lowered) == recovered
    assert recover_personal_signer(text.encode() + b"!", signature) != recovered


def test_recover_personal_signer_refuses_a_short_signature() -> None:
    assert recover_personal_signer(b"hello", bytes(64)) is None
