"""Merkle trees over an interval's readings, checked against a naive recursive tree."""

from __future__ import annotations

import random

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.metering.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    address_bytes,
    leaf_hash,
    merkle_root,
    verify_proof,
)

DEVICE = "0x" + "ab" * 20
B0 = 1_748_822_400


def _h(data: bytes) -> bytes:
    return bytes(keccak(data))


def naive_root(leaves: list[bytes]) -> bytes:
    """The documented rules, written recursively: sort the leaves, hash sorted pairs,
    carry an odd last node up unchanged; no leaves -> 32 zero bytes."""

    def up(level: list[bytes]) -> bytes:
        if len(level) == 1:
            return level[0]
        parents = [_h(min(a, b) + max(a, b)) for a, b in zip(level[::2], level[1::2], strict=False)]
        return up(parents + ([level[-1]] if len(level) % 2 else []))

    return up(sorted(leaves)) if leaves else b"\x00" * 32


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(DEVICE, B0 + 900 * i, i + salt, 7 * i) for i in range(n)]


def test_leaf_is_keccak_of_the_abi_encoded_reading() -> None:
    """leaf = keccak256(abi.encode(address, uint256 start, uint256 import, uint256 export))."""
    expected = _h(abi_encode(["address", "uint256", "uint256", "uint256"], [DEVICE, B0, 1_234, 56]))
    assert leaf_hash(DEVICE, B0, 1_234, 56) == expected
    assert leaf_hash(bytes.fromhex("ab" * 20), B0, 1_234, 56) == expected
    assert leaf_hash(DEVICE, B0, 56, 1_234) != expected
    assert leaf_hash(DEVICE, B0 + 900, 1_234, 56) != expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("0x" + "ab" * 19, B0, 1, 1), "20 bytes, got 19"),
        ((b"\x01" * 21, B0, 1, 1), "20 bytes, got 21"),
        ((DEVICE, -1, 1, 1), "does not fit a uint256"),
        ((DEVICE, B0, 1 << 256, 1), "does not fit a uint256"),
        ((DEVICE, B0, 1, -5), "does not fit a uint256"),
    ],
)
def test_leaf_refuses_bad_address_or_values(args: tuple[object, ...], match: str) -> None:
    """Wrong address lengths and values outside uint256 raise ValueError."""
    with pytest.raises(ValueError, match=match):
        leaf_hash(*args)  # type: ignore[arg-type]


def test_address_bytes_accepts_hex_with_or_without_prefix() -> None:
    assert address_bytes(DEVICE) == address_bytes("ab" * 20) == bytes.fromhex("ab" * 20)


def test_empty_tree_root_is_zero_bytes() -> None:
    assert merkle_root([]) == EMPTY_ROOT == bytes(32)
    assert len(MerkleTree.build([])) == 0


def test_single_leaf_is_its_own_root_with_an_empty_proof() -> None:
    (leaf,) = _leaves(1)
    tree = MerkleTree.build([leaf])
    assert tree.root == leaf
    assert tree.proof(leaf) == []
    assert verify_proof(leaf, [], tree.root)


@pytest.mark.parametrize("n", range(1, 34))
def test_every_size_matches_the_naive_tree_and_every_proof_verifies(n: int) -> None:
    """Sizes 1..33 (odd carries at several levels): same root, every leaf provable,
    a changed leaf or a proof from another position fails."""
    leaves = _leaves(n)
    tree = MerkleTree.build(leaves)
    assert len(tree) == n
    assert tree.root == naive_root(leaves) == merkle_root(leaves)
    outsider = leaf_hash(DEVICE, B0, 10**9, 0)
    for leaf in leaves:
        proof = tree.proof(leaf)
        assert len(proof) <= max(1, (n - 1).bit_length())
        assert verify_proof(leaf, proof, tree.root)
        assert not verify_proof(outsider, proof, tree.root)
        changed = bytes([leaf[0] ^ 1]) + leaf[1:]
        assert not verify_proof(changed, proof, tree.root)
        if proof:
            assert not verify_proof(leaf, proof[:-1], tree.root)
            assert not verify_proof(leaf, [bytes(32), *proof[1:]], tree.root)


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), max_size=40, unique=True),
    seed=st.integers(0, 2**32),
)
def test_root_is_independent_of_leaf_order(leaves: list[bytes], seed: int) -> None:
    """Any permutation of the leaves gives the same root, equal to the naive tree's."""
    shuffled = list(leaves)
    random.Random(seed).shuffle(shuffled)
    root = merkle_root(leaves)
    assert merkle_root(shuffled) == root == naive_root(leaves)
    tree = MerkleTree.build(shuffled)
    for leaf in leaves:
        assert verify_proof(leaf, tree.proof(leaf), root)


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True),
    data=st.data(),
)
def test_changing_any_leaf_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    """Replacing one leaf by another value changes the root; its old proof then fails."""
    index = data.draw(st.integers(0, len(leaves) - 1))
    replacement = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b not in leaves))
    tree = MerkleTree.build(leaves)
    changed = [*leaves[:index], replacement, *leaves[index + 1 :]]
    assert merkle_root(changed) != tree.root
    assert not verify_proof(replacement, tree.proof(leaves[index]), tree.root)


def test_duplicate_and_malformed_leaves_are_refused() -> None:
    leaf = _leaves(1)[0]
    with pytest.raises(ValueError, match="included twice"):
        MerkleTree.build([leaf, leaf])
    with pytest.raises(ValueError, match="32-byte hash"):
        MerkleTree.build([leaf, b"\x01" * 31])


def test_proof_of_an_unknown_leaf_is_a_key_error() -> None:
    tree = MerkleTree.build(_leaves(5))
    with pytest.raises(KeyError):
        tree.proof(_leaves(6)[5])
