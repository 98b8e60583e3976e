"""Merkle trees over an interval's readings, as the monitoring contract checks them.

A leaf is ``keccak256(abi.encode(address device, uint256 interval_start, uint256 import_wh,
uint256 export_wh))``: always 128 bytes of preimage, so a leaf can never be mistaken for
an inner node (64 bytes). Inner nodes hash the *sorted* pair of their children
(``keccak256(min(a, b) ++ max(a, b))``), so a proof is a plain list of sibling hashes and
needs no left/right bits. Leaves are sorted by hash before the tree is built, which makes
the root independent of the order readings arrived in; an odd node at the end of a level
is carried up unchanged. The root of no leaves is 32 zero bytes.

The same rules are written in Vyper in ``contracts/EnergyMonitoring.vy``; tests check the
two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gridshare.evm import keccak256, uint_word

EMPTY_ROOT = bytes(32)


def address_bytes(device: str | bytes) -> bytes:
    """A 20-byte address from ``0x``-hex or raw bytes."""
    raw = bytes.fromhex(device.removeprefix("0x")) if isinstance(device, str) else device
    if len(raw) != 20:
        raise ValueError(f"a device address has 20 bytes, got {len(raw)}")
    return raw


def leaf_hash(device: str | bytes, interval_start_s: int, import_wh: int, export_wh: int) -> bytes:
    """The leaf of one reading: what the contract recomputes from a claimed reading."""
    preimage = (
        bytes(12)
        + address_bytes(device)
        + uint_word(interval_start_s)
        + uint_word(import_wh)
        + uint_word(export_wh)
    )
    return keccak256(preimage)


def _parent(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b if a <= b else b + a)


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """All levels of a tree, leaves first (sorted), root last."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        if any(len(leaf) != 32 for leaf in leaves):
            raise ValueError("every leaf must be a 32-byte hash")
        level = tuple(sorted(leaves))
        if len(set(level)) != len(level):
            raise ValueError("two leaves are identical: a reading was included twice")
        levels = [level]
        while len(level) > 1:
            paired = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = tuple(paired)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        top = self.levels[-1]
        return top[0] if top else EMPTY_ROOT

    def __len__(self) -> int:
        return len(self.levels[0])

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from ``leaf`` up to the root; ``KeyError`` if it is not a leaf."""
        leaves = self.levels[0]
        try:
            index = leaves.index(leaf)
        except ValueError:
            raise KeyError(leaf.hex()) from None
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over ``leaves``."""
    return MerkleTree.build(leaves).root


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` leads from ``leaf`` to ``root``."""
    node = leaf
    for sibling in proof:
        node = _parent(node, sibling)
    return node == root
