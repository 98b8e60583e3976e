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


@dataclass(frozen=True, slots=True)
class LeafRow:
    """One stored reading as the commitment sees it."""

    production: bool
    device: bytes
    import_wh: int
    export_wh: int
    pcc: bool = False
    grid: bool = False

    @classmethod
    def of(cls, kind: MeterKind | str, device: bytes, import_wh: int, export_wh: int) -> LeafRow:
        """The row of a reading by a meter of ``kind``."""
        kind = MeterKind(kind)
        return cls(
            kind is MeterKind.PRODUCTION,
            device,
            import_wh,
            export_wh,
            kind is MeterKind.PCC,
            kind is MeterKind.GRID,
        )


def trees_of_rows(start_s: int, rows: Sequence[LeafRow]) -> CommittedTrees:
    """Both trees and the aggregates of one interval's readings."""
    production = [
        leaf_hash(r.device, start_s, r.import_wh, r.export_wh) for r in rows if r.production
    ]
    consumption = [
        leaf_hash(r.device, start_s, r.import_wh, r.export_wh) for r in rows if not r.production
    ]
    p_tree, c_tree = MerkleTree.build(production), MerkleTree.build(consumption)
    commitment = IntervalCommitment(
        start_s,
        p_tree.root,
        c_tree.root,
        sum(r.export_wh for r in rows if r.production),
        sum(r.import_wh for r in rows if r.grid),
        sum(r.import_wh for r in rows if r.pcc),
        sum(r.export_wh for r in rows if r.pcc),
        len(rows),
    )
    return CommittedTrees(commitment, p_tree, c_tree)


def leaf_rows(
    batch: ReadingBatch, kind_code: NDArray[np.int64], devices: Sequence[bytes | None]
) -> list[LeafRow]:
    rows = []
    for meter, imp, exp in zip(
        batch.meter_index.tolist(), batch.import_wh.tolist(), batch.export_wh.tolist(), strict=True
    ):
        device = devices[meter]
        if device is None:
            raise ValueError(
                f"meter #{meter} has no registered device: its reading cannot be committed"
            )
        rows.append(LeafRow.of(METER_KINDS[int(kind_code[meter])], device, imp, exp))
    return rows


def interval_trees(
    batch: ReadingBatch, kind_code: NDArray[np.int64], devices: Sequence[bytes | None]
) -> CommittedTrees:
    """Build both trees of ``batch`` (``devices``: 20-byte address per meter position)."""
    return trees_of_rows(batch.interval.start_s, leaf_rows(batch, kind_code, devices))


def reading_proof(
    trees: CommittedTrees, row: LeafRow, start_s: int
) -> tuple[bytes, list[bytes], MerkleTree]:
    """The leaf of one reading, its proof and its tree; ``KeyError`` if it is not in it."""
    leaf = leaf_hash(row.device, start_s, row.import_wh, row.export_wh)
    tree = trees.production if row.production else trees.consumption
    return leaf, tree.proof(leaf), tree
