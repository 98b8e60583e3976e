"""What is committed on chain for a closed interval: two Merkle roots and aggregates.

Production meters' readings go into the *production* tree (certificates are proven
against it); every other meter's (members' grid connections, storage, the PCC) into the
*consumption* tree. Only the roots and community aggregates go on chain; the readings
themselves stay in the community's store, and any one of them can later be proven
against its root (:func:`reading_proof`).

Aggregates: ``production_wh`` = energy exported by production meters; ``consumption_wh``
= energy imported by members' grid meters; ``import_wh``/``export_wh`` = the PCC's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridshare.metering.merkle import MerkleTree, leaf_hash
from gridshare.model import MeterKind, ReadingBatch
from gridshare.model.community import METER_KINDS

PRODUCTION = METER_KINDS.index(MeterKind.PRODUCTION)
GRID = METER_KINDS.index(MeterKind.GRID)
PCC = METER_KINDS.index(MeterKind.PCC)


@dataclass(frozen=True, slots=True)
class IntervalCommitment:
    start_s: int
    production_root: bytes
    consumption_root: bytes
    production_wh: int
    consumption_wh: int
    import_wh: int
    export_wh: int
    readings: int


@dataclass(frozen=True, slots=True)
class CommittedTrees:
    commitment: IntervalCommitment
    production: MerkleTree
    consumption: MerkleTree


def interval_trees(
    batch: ReadingBatch, kind_code: NDArray[np.int64], devices: Sequence[bytes | None]
) -> CommittedTrees:
    """Build both trees of ``batch`` (``devices``: 20-byte address per meter position)."""
    start = batch.interval.start_s
    production: list[bytes] = []
    consumption: list[bytes] = []
    rows = zip(
        batch.meter_index.tolist(), batch.import_wh.tolist(), batch.export_wh.tolist(), strict=True
    )
    for meter, imp, exp in rows:
        device = devices[meter]
        if device is None:
            raise ValueError(
                f"meter #{meter} has no registered device: its reading cannot be committed"
            )
        leaf = leaf_hash(device, start, imp, exp)
        (production if kind_code[meter] == PRODUCTION else consumption).append(leaf)
    kinds = kind_code[batch.meter_index]
    commitment = IntervalCommitment(
        start,
        MerkleTree.build(production).root if production else bytes(32),
        MerkleTree.build(consumption).root if consumption else bytes(32),
        int(batch.export_wh[kinds == PRODUCTION].sum()),
        int(batch.import_wh[kinds == GRID].sum()),
        int(batch.import_wh[kinds == PCC].sum()),
        int(batch.export_wh[kinds == PCC].sum()),
        len(batch),
    )
    return CommittedTrees(commitment, MerkleTree.build(production), MerkleTree.build(consumption))


def reading_proof(
    trees: CommittedTrees,
    production: bool,
    device: bytes,
    start_s: int,
    import_wh: int,
    export_wh: int,
) -> tuple[bytes, list[bytes]]:
    """The leaf of one reading and its proof; ``KeyError`` if the reading is not in the tree."""
    leaf = leaf_hash(device, start_s, import_wh, export_wh)
    tree = trees.production if production else trees.consumption
    return leaf, tree.proof(leaf)
