"""Commitment and certification: two pipeline steps, and the audit that checks them.

:class:`CommitmentStep` builds the interval's two Merkle trees (production and
consumption), records the commitment in the store and sends it to the EnergyMonitoring
contract; :class:`CertificationStep` mints one certificate per Wh each production meter
exported, on the EnergyCertificate contract, after the interval is committed. Both
buffer up to ``flush_every`` intervals and send them in batched transactions (live
operation uses 1, so each interval is on chain when it closes).

:func:`audit_metering` is what ``gridshare verify`` runs: it recomputes every committed
interval's roots and aggregates from the readings the store holds now and compares them
with the chain, and checks that the certificates minted per interval equal the metered
production.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gridshare.certificates.issuance import Issue, certificates_for
from gridshare.metering.commitment import (
    IntervalCommitment,
    LeafRow,
    interval_trees,
    trees_of_rows,
)
from gridshare.model import Community
from gridshare.model.records import CommitmentRecord
from gridshare.model.summary import CertificateSummary, CommitSummary, JsonValue
from gridshare.pipeline.context import IntervalContext
from gridshare.pipeline.ports import CommitmentStore, StoreTransaction


class MeteringChain(Protocol):
    """The monitoring and certificate contracts (``ledger.metering.MeteringLedger``)."""

    def commit(self, commitments: Sequence[IntervalCommitment]) -> Sequence[object]: ...

    def mint(self, issues: Sequence[Issue]) -> Sequence[object]: ...

    def commitments(self, starts: Sequence[int]) -> list[IntervalCommitment | None]: ...

    def minted_in_intervals(self, starts: Sequence[int]) -> list[int]: ...


class _ChainStep:
    """What both steps share: the community's meters, their devices, the chain, and a
    buffer of ``flush_every`` intervals sent in batched transactions. They read only the
    closed interval's readings."""

    requires: tuple[type, ...] = ()
    provides: tuple[type, ...] = ()

    def __init__(
        self,
        community: Community,
        devices: Sequence[bytes | None],
        chain: MeteringChain,
        *,
        flush_every: int = 1,
    ) -> None:
        self.community = community
        self.devices = devices
        self.chain = chain
        self.flush_every = flush_every
        self._kinds = community.catalogue.kind_code
        self.transactions = 0
        self._start()

    def _start(self) -> None:
        """Set up what the step accumulates."""

    def flush(self) -> None:
        raise NotImplementedError

    def finish(self, run_id: str, tx: StoreTransaction) -> None:
        self.flush()


class CommitmentStep(_ChainStep):
    """Commit each closed interval's Merkle roots and aggregates on chain."""

    name = "commit"

    def _start(self) -> None:
        self._pending: list[IntervalCommitment] = []
        self.committed = 0
        self.committed_readings = 0

    def run(self, ctx: IntervalContext, tx: CommitmentStore) -> None:
        closed = ctx.closed
        if not len(closed.batch):
            return
        commitment = interval_trees(closed.batch, self._kinds, self.devices).commitment
        tx.write_commitment(
            CommitmentRecord(
                community_id=self.community.community_id,
                interval_start_s=commitment.start_s,
                production_root="0x" + commitment.production_root.hex(),
                consumption_root="0x" + commitment.consumption_root.hex(),
                production_wh=commitment.production_wh,
                consumption_wh=commitment.consumption_wh,
                import_wh=commitment.import_wh,
                export_wh=commitment.export_wh,
                readings=commitment.readings,
                certified_wh=commitment.production_wh,
                tx_hash=None,
            )
        )
        self._pending.append(commitment)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.transactions += len(self.chain.commit(self._pending))
            self.committed += len(self._pending)
            self.committed_readings += sum(c.readings for c in self._pending)
            self._pending = []

    def summary(self) -> CommitSummary:
        return CommitSummary(self.committed, self.committed_readings, self.transactions)


class CertificationStep(_ChainStep):
    """Mint granular certificates for each committed interval's production (1 token = 1 Wh)."""

    name = "certify"

    def _start(self) -> None:
        self._pending: list[Issue] = []
        self._intervals = 0
        self.issued_wh = 0
        self.certificates = 0

    def run(self, ctx: IntervalContext, tx: StoreTransaction) -> None:
        closed = ctx.closed
        if len(closed.batch):
            self._pending += certificates_for(closed.batch, self._kinds, self.devices)
            self._intervals += 1
        if self._intervals >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.transactions += len(self.chain.mint(self._pending))
            self.issued_wh += sum(i.amount_wh for i in self._pending)
            self.certificates += len(self._pending)
        self._pending = []
        self._intervals = 0

    def summary(self) -> CertificateSummary:
        return CertificateSummary(self.issued_wh, self.certificates, self.transactions)


@dataclass
class MeteringAudit:
    """What ``verify`` found for the metering commitments and certificates."""

    intervals_checked: int = 0
    production_wh: int = 0
    certified_wh: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "intervals_checked": self.intervals_checked,
            "production_wh": self.production_wh,
            "certified_wh": self.certified_wh,
            "problems": list(self.problems),
        }


def audit_metering(
    committed_starts: Sequence[int],
    rows_of: Callable[[int], Sequence[LeafRow]],
    chain: MeteringChain,
    progress: Callable[[int, int], None] | None = None,
) -> MeteringAudit:
    """Recompute each committed interval from the store and compare it with the chain.

    ``rows_of(start)`` gives the readings the store holds now for the interval.
    """
    audit = MeteringAudit()
    onchain = chain.commitments(committed_starts)
    minted_per_interval = chain.minted_in_intervals(committed_starts)
    rows = zip(committed_starts, onchain, minted_per_interval, strict=True)
    for done, (start, theirs, minted) in enumerate(rows, 1):
        ours = trees_of_rows(start, rows_of(start)).commitment
        audit.intervals_checked += 1
        audit.production_wh += ours.production_wh
        audit.certified_wh += minted
        when = f"interval {start}"
        if theirs is None:
            audit.problems.append(
                f"{when}: the store says it was committed; the chain has no commitment"
            )
        else:
            for name in ("production_root", "consumption_root"):
                if getattr(ours, name) != getattr(theirs, name):
                    audit.problems.append(
                        f"{when}: {name.replace('_', ' ')} of the stored readings "
                        f"0x{getattr(ours, name).hex()} differs from the chain's "
                        f"0x{getattr(theirs, name).hex()}: a reading was changed, added or "
                        "removed after it was committed"
                    )
            for name in ("production_wh", "consumption_wh", "import_wh", "export_wh", "readings"):
                if getattr(ours, name) != getattr(theirs, name):
                    audit.problems.append(
                        f"{when}: {name} is {getattr(ours, name)} in the store, "
                        f"{getattr(theirs, name)} on chain"
                    )
        if minted != ours.production_wh:
            audit.problems.append(
                f"{when}: {minted} Wh of certificates minted for {ours.production_wh} Wh of "
                "metered production"
            )
        if progress is not None:
            progress(done, len(committed_starts))
    return audit
