"""One stored reading proved against the chain (``gridshare verify --reading``).

The reading's leaf and Merkle proof are rebuilt from the readings the store holds for its
interval, and checked twice against the root the EnergyMonitoring contract holds: here,
and by the contract itself (``verify_reading``). A reading that came in a signed bundle
must also be what its device signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridshare.ledger.metering import MeteringLedger
from gridshare.metering.commitment import LeafRow, reading_proof, trees_of_rows
from gridshare.metering.merkle import verify_proof
from gridshare.storage.store import SqlStore


@dataclass(frozen=True, slots=True)
class DeviceSignature:
    """What the meter's device signed for the reading (from the first bundle carrying it)."""

    seq: int
    import_wh: int
    export_wh: int
    transport: str
    is_match: bool
    """The device signed the energy the store holds."""


@dataclass(frozen=True, slots=True)
class ReadingProof:
    """One stored reading, its leaf and proof, the root from the store and from the chain."""

    meter_id: str
    kind: str
    start_s: int
    row: LeafRow
    leaf: bytes
    proof: list[bytes]
    store_root: bytes
    chain_root: bytes | None
    """None: the chain holds no commitment for the interval."""
    signed: DeviceSignature | None
    """None: no signed bundle is stored for the reading (simulated meters)."""
    is_proven: bool
    """The leaf and proof lead to the chain's root (checked here)."""
    is_accepted_by_contract: bool
    """The EnergyMonitoring contract accepts the reading with the proof."""

    @property
    def tree_name(self) -> str:
        return "production" if self.row.production else "consumption"

    @property
    def ok(self) -> bool:
        """Proven here and by the contract, and signed as stored (when signed at all)."""
        signed_as_stored = self.signed is None or self.signed.is_match
        return self.is_proven and self.is_accepted_by_contract and signed_as_stored


def prove_reading(
    store: SqlStore, ledger: MeteringLedger, meter_id: str, start_s: int
) -> ReadingProof | None:
    """The proof of ``meter_id``'s reading of the interval starting ``start_s``; None when
    the store holds no such reading. ``KeyError`` if the reading is not in its own tree."""
    found = store.meter_leaf(meter_id, start_s)
    if found is None:
        return None
    community_id, kind, row = found
    trees = trees_of_rows(start_s, store.leaf_rows(community_id, start_s))
    leaf, proof, tree = reading_proof(trees, row, start_s)
    onchain = ledger.commitment(start_s)
    root = (
        None
        if onchain is None
        else (onchain.production_root if row.production else onchain.consumption_root)
    )
    provenance = store.provenance(meter_id, start_s)
    signed = (
        None
        if provenance is None
        else DeviceSignature(
            seq=provenance.seq,
            import_wh=provenance.import_wh,
            export_wh=provenance.export_wh,
            transport=provenance.transport,
            is_match=(provenance.import_wh, provenance.export_wh) == (row.import_wh, row.export_wh),
        )
    )
    return ReadingProof(
        meter_id=meter_id,
        kind=kind,
        start_s=start_s,
        row=row,
        leaf=leaf,
        proof=proof,
        store_root=tree.root,
        chain_root=root,
        signed=signed,
        is_proven=root is not None and verify_proof(leaf, proof, root),
        is_accepted_by_contract=root is not None
        and ledger.verify_reading(
            row.production, row.device, start_s, row.import_wh, row.export_wh, proof
        ),
    )
