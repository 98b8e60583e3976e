"""The metering contracts from Python: onboarding devices, commitments, certificates.

Sends go through the operator's :class:`TransactionManager` in batches sized to stay well
inside a 30 M gas block (commitments cost ~185 k gas each, certificate mints ~55 k).
Sends are idempotent across restarts: an interval already committed with the same values
and certificates already minted are skipped after asking the chain, so a pipeline that
crashed between its chain transaction and its database commit can run again; an interval
committed with *other* values stops the run with :class:`CommitmentMismatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from gridshare.balancing.schedule import meter_key
from gridshare.certificates.issuance import Issue, token_id
from gridshare.errors import GridshareError
from gridshare.ledger.calls import not_on_chain, send_in_batches
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.transactions import (
    SentTransaction,
    TransactionManager,
    TransactionReverted,
)
from gridshare.metering.commitment import IntervalCommitment

COMMITS_PER_TX = 96
MINTS_PER_TX = 256
REGISTRATIONS_PER_TX = 128
AUDIT_BATCH = 256


@dataclass(frozen=True, slots=True)
class Generator:
    device: bytes
    source: int
    capacity_w: int
    latitude_e6: int
    longitude_e6: int
    avoided_g_per_kwh: int


T = TypeVar("T")


def _send_new(
    items: Sequence[T],
    done: Callable[[T], bool],
    send: Callable[[Sequence[T]], list[SentTransaction]],
    chunk: int,
) -> list[SentTransaction]:
    """Send ``items`` in chunks, skipping those the chain already has.

    Asking the chain about every item costs a call each; a chunk is atomic on chain, so
    only its first and last item are asked, and a chunk that reverts (it overlapped an
    earlier, differently cut one) is filtered item by item and sent again.
    """
    sent: list[SentTransaction] = []
    for first in range(0, len(items), chunk):
        part = items[first : first + chunk]
        if done(part[0]) or done(part[-1]):
            part = [item for item in part if not done(item)]
            if not part:
                continue
        try:
            sent += send(part)
        except TransactionReverted:
            part = [item for item in part if not done(item)]
            if part:
                sent += send(part)
    return sent


class CommitmentMismatch(GridshareError):
    """The chain holds a different commitment for an interval than the store gives."""


def _address(raw: bytes) -> str:
    return to_checksum_address("0x" + raw.hex())


def _commitment(start_s: int, row: Sequence[Any]) -> IntervalCommitment | None:
    """A commitment from the contract's struct (None where ``readings`` is 0: none made)."""
    if row[6] == 0:
        return None
    return IntervalCommitment(start_s, bytes(row[0]), bytes(row[1]), *map(int, row[2:7]))


class MeteringLedger:
    """ParticipantRegistry, EnergyMonitoring and EnergyCertificate of one deployment."""

    def __init__(self, tm: TransactionManager, deployment: Deployment) -> None:
        self.tm = tm
        self.web3: Web3 = tm.web3
        self.deployment = deployment
        self.registry: Contract = contract(self.web3, deployment, "ParticipantRegistry")
        self.monitoring: Contract = contract(self.web3, deployment, "EnergyMonitoring")
        self.certificate: Contract = contract(self.web3, deployment, "EnergyCertificate")
        self.sent: list[SentTransaction] = []

    # -- onboarding -------------------------------------------------------------------
    def register(
        self,
        participants: Sequence[tuple[str, int]],
        devices: Sequence[tuple[bytes, str, str]],
        generators: Sequence[Generator],
    ) -> None:
        """Register participants (account, role), devices (address, owner account, meter
        id) and generator metadata, skipping what the chain already holds."""
        participants = [(to_checksum_address(a), r) for a, r in participants]
        devices = [(d, to_checksum_address(owner), m) for d, owner, m in devices]
        role_of = self.registry.functions.role_of
        new_participants = [(a, r) for a, r in participants if role_of(a).call() == 0]
        if new_participants:
            self.sent += send_in_batches(
                self.tm,
                self.registry.address,
                "ParticipantRegistry",
                "register_batch",
                [[a for a, _ in new_participants], [r for _, r in new_participants]],
            )
        owner_of = self.registry.functions.device_owner
        new_devices = [d for d in devices if int(owner_of(_address(d[0])).call(), 16) == 0]
        if new_devices:
            self.sent += send_in_batches(
                self.tm,
                self.registry.address,
                "ParticipantRegistry",
                "register_device_batch",
                [
                    [_address(d) for d, _, _ in new_devices],
                    [owner for _, owner, _ in new_devices],
                    [meter_key(m) for _, _, m in new_devices],
                ],
                batch_size=REGISTRATIONS_PER_TX,
                gas_per_item=120_000,
            )
        generator_of = self.certificate.functions.generators
        new_generators = [g for g in generators if generator_of(_address(g.device)).call()[0] == 0]
        if new_generators:
            self.sent += send_in_batches(
                self.tm,
                self.certificate.address,
                "EnergyCertificate",
                "register_generator_batch",
                [
                    [_address(g.device) for g in new_generators],
                    [g.source for g in new_generators],
                    [g.capacity_w for g in new_generators],
                    [g.latitude_e6 for g in new_generators],
                    [g.longitude_e6 for g in new_generators],
                    [g.avoided_g_per_kwh for g in new_generators],
                ],
                batch_size=REGISTRATIONS_PER_TX,
                gas_per_item=160_000,
            )

    # -- commitments ------------------------------------------------------------------
    def commit(self, commitments: Sequence[IntervalCommitment]) -> list[SentTransaction]:
        """Commit intervals not yet on chain (in batches of ``COMMITS_PER_TX``).

        An interval the chain already holds (a re-run after a crash between the chain
        transaction and the database commit) is skipped when it is identical and refused
        with :class:`CommitmentMismatch` when it is not: a commitment is never rewritten.
        """
        todo = [c for c in commitments if c.readings]
        if not todo:
            return []
        fresh = not_on_chain(
            todo,
            self.commitments([c.start_s for c in todo]),
            lambda ours, theirs: CommitmentMismatch(
                f"interval {ours.start_s} is already committed on chain with other values "
                f"({theirs}) than the store now gives ({ours}); readings changed after "
                "the commitment: investigate with `gridshare verify`"
            ),
        )
        if not fresh:
            return []
        sent = send_in_batches(
            self.tm,
            self.monitoring.address,
            "EnergyMonitoring",
            "commit_batch",
            [
                [c.start_s for c in fresh],
                [c.production_root for c in fresh],
                [c.consumption_root for c in fresh],
                [c.production_wh for c in fresh],
                [c.consumption_wh for c in fresh],
                [c.import_wh for c in fresh],
                [c.export_wh for c in fresh],
                [c.readings for c in fresh],
            ],
            batch_size=COMMITS_PER_TX,
            gas_per_item=200_000,
        )
        self.sent += sent
        return sent

    def committed_starts(self) -> list[int]:
        """Every interval the chain holds a commitment for (from IntervalCommitted logs)."""
        first = self.deployment.contracts["EnergyMonitoring"].block_number
        logs = self.monitoring.events.IntervalCommitted.get_logs(from_block=first)
        return sorted(int(log["args"]["start"]) for log in logs)

    def inactive_devices(self, devices: Sequence[bytes]) -> set[bytes]:
        """Devices the registry does not treat as active (unknown, or it or its owner
        suspended), asked 256 at a time."""
        inactive: set[bytes] = set()
        for first in range(0, len(devices), AUDIT_BATCH):
            part = list(devices[first : first + AUDIT_BATCH])
            owners = self.registry.functions.active_device_owners(
                [_address(d) for d in part]
            ).call()
            inactive |= {d for d, owner in zip(part, owners, strict=True) if int(owner, 16) == 0}
        return inactive

    def latest_block(self) -> int:
        return int(self.web3.eth.block_number)

    def registry_changes(self, after_block: int) -> tuple[int, bool]:
        """The newest block, and whether the registry logged anything (a registration,
        suspension, reinstatement or removal) in the blocks after ``after_block``."""
        latest = self.latest_block()
        if latest <= after_block:
            return latest, False
        logs = self.web3.eth.get_logs(
            {"address": self.registry.address, "fromBlock": after_block + 1, "toBlock": latest}
        )
        return latest, bool(logs)

    def last_committed_end(self) -> int | None:
        """End of the newest committed interval, or None before the first commitment."""
        if int(self.monitoring.functions.committed_count().call()) == 0:
            return None
        last = int(self.monitoring.functions.last_committed_start().call())
        return last + int(self.monitoring.functions.interval_length_s().call())

    def commitment(self, start_s: int) -> IntervalCommitment | None:
        """What the chain holds for the interval starting at ``start_s``."""
        return _commitment(start_s, self.monitoring.functions.commitments(start_s).call())

    # -- certificates -----------------------------------------------------------------
    def mint(self, issues: Sequence[Issue]) -> list[SentTransaction]:
        """Mint certificates not yet minted (in batches of ``MINTS_PER_TX``)."""
        minted = self.certificate.functions.minted

        def send(todo: Sequence[Issue]) -> list[SentTransaction]:
            return send_in_batches(
                self.tm,
                self.certificate.address,
                "EnergyCertificate",
                "mint_batch",
                [
                    [_address(i.device) for i in todo],
                    [i.start_s for i in todo],
                    [i.amount_wh for i in todo],
                ],
                batch_size=MINTS_PER_TX,
                gas_per_item=70_000,
            )

        sent = _send_new(
            issues,
            lambda i: int(minted(token_id(i.device, i.start_s)).call()) > 0,
            send,
            MINTS_PER_TX,
        )
        self.sent += sent
        return sent

    def commitments(self, starts: Sequence[int]) -> list[IntervalCommitment | None]:
        """What the chain holds for many intervals (one call per 256)."""
        found: list[IntervalCommitment | None] = []
        for first in range(0, len(starts), AUDIT_BATCH):
            part = list(starts[first : first + AUDIT_BATCH])
            rows = self.monitoring.functions.commitments_of(part).call()
            found += [_commitment(start, row) for start, row in zip(part, rows, strict=True)]
        return found

    def minted_in_intervals(self, starts: Sequence[int]) -> list[int]:
        """Certificates minted per interval for many intervals (one call per 256)."""
        found: list[int] = []
        for first in range(0, len(starts), AUDIT_BATCH):
            part = list(starts[first : first + AUDIT_BATCH])
            found += [int(v) for v in self.certificate.functions.minted_in_intervals(part).call()]
        return found

    def verify_reading(
        self,
        production: bool,
        device: bytes,
        start_s: int,
        import_wh: int,
        export_wh: int,
        proof: Sequence[bytes],
    ) -> bool:
        """The monitoring contract's own check of a Merkle proof."""
        return bool(
            self.monitoring.functions.verify_reading(
                production, _address(device), start_s, import_wh, export_wh, list(proof)
            ).call()
        )
