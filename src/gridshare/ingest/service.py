"""The ingest service: every transport (MQTT, HTTP, Modbus poller) hands bundles here.

For each micro-batch it validates the bundles (:mod:`gridshare.metering.validation`),
writes the accepted readings, their provenance and the quarantined refusals in *one*
store transaction, and only then reports success (so the MQTT adapter acknowledges a
message after it is durable). Counts are kept per outcome and per refusal reason; every
reading offered ends in exactly one of inserted, duplicate, conflict or rejected.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gridshare.metering.validation import (
    AcceptedBundle,
    MeterIdentity,
    ReadingValidator,
    Reason,
    Rejection,
    ValidationPolicy,
    capacity_w,
    interval_limit_wh,
)
from gridshare.metering.wire import MalformedBundle, ReadingBundle
from gridshare.model import NOT_REPORTED, Community, MeterKind, ReadingBatch, WriteReport
from gridshare.model.records import RejectedReadingRecord
from gridshare.model.summary import IngestFigures, JsonValue, record_json
from gridshare.storage.store import SqlStore
from gridshare.units import SECONDS_PER_DAY, Interval

MAX_PAYLOAD_KEPT = 65_536
"""Bytes of a refused payload kept in quarantine (enough for any real bundle)."""

DEFAULT_CONNECTION_KW = {"residential": 43.5, "commercial": 250.0, "industrial": 2_000.0}
"""Physical connection rating assumed for a member's grid meter (3 x 63 A residential)."""


@dataclass(frozen=True, slots=True)
class Offered:
    """One item received by a transport: a parsed bundle or why it could not be parsed."""

    bundle: ReadingBundle | None
    payload: bytes | None = None
    error: MalformedBundle | None = None
    topic_meter: str | None = None
    """For MQTT: the meter the topic names (must match the payload's)."""


@dataclass(slots=True)
class IngestCounts:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list, compare=False, repr=False)
    """The refusals themselves: filled in on the counts :meth:`IngestService.submit`
    returns for one batch, left empty in the service's cumulative counts."""

    def add(self, written: WriteReport, duplicates: int, rejected: Sequence[Rejection]) -> None:
        self.inserted += written.inserted
        self.duplicates += written.duplicates + duplicates
        self.conflicts += written.conflicts
        self.rejected.update(r.reason.value for r in rejected)
        self.received += written.offered + duplicates + len(rejected)

    def figures(self) -> IngestFigures:
        """The counts so far, as the run summary reports them."""
        return IngestFigures(
            received=self.received,
            inserted=self.inserted,
            duplicates=self.duplicates,
            conflicts=self.conflicts,
            rejected=dict(sorted(self.rejected.items())),
        )

    def as_json(self) -> dict[str, JsonValue]:
        return record_json(self.figures())


def _text(value: str) -> str:
    """Text any database stores: NUL characters (refused by PostgreSQL) escaped."""
    return value.replace("\x00", "\\u0000")


def _quarantined(
    rejection: Rejection, payload: bytes | None, transport: str, now_s: int
) -> RejectedReadingRecord:
    """The row that quarantines a refused reading: text escaped, meter id and payload cut
    to what the table keeps."""
    return RejectedReadingRecord(
        received_at_s=now_s,
        transport=transport,
        meter_id=None if rejection.meter_id is None else _text(rejection.meter_id)[:200],
        interval_start_s=rejection.start,
        seq=rejection.seq,
        reason=rejection.reason.value,
        detail=_text(rejection.detail),
        payload=None
        if payload is None
        else _text(payload[:MAX_PAYLOAD_KEPT].decode("utf-8", "replace")),
    )


def meter_limits_wh(community: Community) -> list[int]:
    """Most energy each meter may register per interval (each direction), from ratings.

    Production and storage meters: the asset's rated power; grid meters: the member's
    connection rating plus its assets; the PCC: twice the larger contractual limit, or all
    the community's assets at full power if that is more (contractual limits can be
    exceeded; physics cannot). Each with the metering margin (:func:`capacity_w`), so a
    production reading accepted here is never above what EnergyCertificate will mint.
    """
    interval_s = int(community.interval_length.total_seconds())
    assets_kw: dict[str, float] = {}
    for asset in community.assets:
        assets_kw[asset.participant_id] = assets_kw.get(asset.participant_id, 0.0) + (
            asset.rated_power_kw
        )
    participants = {p.participant_id: p for p in community.participants}
    total_assets_kw = sum(assets_kw.values())
    tariff = community.tariff
    limits = []
    for meter in community.meters:
        if meter.kind in (MeterKind.PRODUCTION, MeterKind.STORAGE):
            kw = community.asset(meter.asset_id or "").rated_power_kw
        elif meter.kind is MeterKind.PCC:
            kw = max(2 * max(tariff.import_limit_kw, tariff.export_limit_kw), total_assets_kw)
        else:
            category = participants[meter.participant_id].category.value
            kw = DEFAULT_CONNECTION_KW[category] + assets_kw.get(meter.participant_id, 0.0)
        limits.append(interval_limit_wh(capacity_w(kw), interval_s))
    return limits


def meter_directory(
    community: Community, devices: dict[str, str], inactive: set[str] | None = None
) -> dict[str, MeterIdentity]:
    """Identities of the community's meters that have a registered device."""
    limits = meter_limits_wh(community)
    inactive = inactive or set()
    directory = {}
    for index, meter in enumerate(community.meters):
        address = devices.get(meter.meter_id)
        if address is None:
            continue
        directory[meter.meter_id] = MeterIdentity(
            meter.meter_id,
            index,
            bytes.fromhex(address.removeprefix("0x")),
            meter.meter_id not in inactive,
            limits[index],
        )
    return directory


class IngestService:
    """Validates, stores and counts bundles from any transport (thread-safe)."""

    def __init__(
        self,
        store: SqlStore,
        validator: ReadingValidator,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.validator = validator
        self.now = now
        self.counts = IngestCounts()
        self.closed_before_s: int | None = None
        """Intervals starting before this are closed: late readings are quarantined."""
        self._lock = threading.Lock()
        self._positions = {m.meter_id: i for i, m in enumerate(store.community.meters)}
        self._received: dict[int, set[int]] = {}
        self._stored_kind = np.array(
            [m.kind is MeterKind.STORAGE for m in store.community.meters], dtype=bool
        )

    @classmethod
    def for_store(
        cls,
        store: SqlStore,
        *,
        now: Callable[[], float] = time.time,
        max_age_s: int = 7 * SECONDS_PER_DAY,
        inactive: set[str] | None = None,
        closed_before_s: int | None = None,
    ) -> IngestService:
        """A service for the store's community, its registered devices and meter states.

        Intervals before ``closed_before_s`` count as closed; by default, those the store
        recorded as committed (so a restarted service refuses late readings for them).
        """
        community = store.community
        policy = ValidationPolicy(
            int(community.interval_length.total_seconds()), max_age_s=max_age_s
        )
        directory = meter_directory(community, store.meter_devices(), inactive)
        validator = ReadingValidator(directory, policy, store.meter_states())
        service = cls(store, validator, now=now)
        committed = store.commitments(community.community_id)["interval_start_s"]
        ends = [int(committed.max()) + policy.interval_s] if len(committed) else []
        if closed_before_s is not None:
            ends.append(closed_before_s)
        service.closed_before_s = max(ends) if ends else None
        return service

    def set_inactive(self, inactive: set[str]) -> None:
        """Mark these meters suspended (and all others active), e.g. from the registry."""
        with self._lock:
            directory = self.validator.directory
            self.validator.directory = {
                meter: replace(identity, active=meter not in inactive)
                for meter, identity in directory.items()
            }

    def submit(self, offered: Sequence[Offered], transport: str) -> IngestCounts:
        """Validate and durably store a micro-batch; returns this batch's counts.

        If anything fails, nothing of the batch is stored or counted and the validator's
        memory of each meter is reloaded from the store, so the batch can be offered
        again (or item by item, see :meth:`submit_each`).
        """
        with self._lock:
            try:
                return self._submit(offered, transport)
            except BaseException:
                self.validator.states.clear()
                self.validator.states.update(self.store.meter_states())
                raise

    def submit_each(
        self, offered: Sequence[Offered], transport: str
    ) -> tuple[IngestCounts, list[tuple[Offered, BaseException]]]:
        """Offer items one at a time: what a failed micro-batch falls back to, so one
        item the store cannot take does not hold up the others. Returns the counts of
        what was stored and the items that failed, with their errors."""
        total = IngestCounts()
        failed: list[tuple[Offered, BaseException]] = []
        for item in offered:
            try:
                counts = self.submit([item], transport)
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                failed.append((item, exc))
                continue
            total.received += counts.received
            total.inserted += counts.inserted
            total.duplicates += counts.duplicates
            total.conflicts += counts.conflicts
            total.rejected.update(counts.rejected)
            total.rejections += counts.rejections
        return total, failed

    def _submit(self, offered: Sequence[Offered], transport: str) -> IngestCounts:
        now_s = int(self.now())
        accepted: list[AcceptedBundle] = []
        rejections: list[tuple[Rejection, bytes | None]] = []
        duplicates = 0
        changed: set[str] = set()
        for item in offered:
            bundle = item.bundle
            if bundle is None:
                error = item.error or MalformedBundle("unreadable payload")
                rejections.append(
                    (Rejection(Reason.MALFORMED, error.meter_id, None, None, error.detail),
                     item.payload)
                )  # fmt: skip
                continue
            if item.topic_meter is not None and item.topic_meter != bundle.meter_id:
                detail = f"topic names meter {item.topic_meter!r}, payload {bundle.meter_id!r}"
                rejections.extend(
                    (Rejection(Reason.TOPIC_MISMATCH, bundle.meter_id, int(s), int(q), detail),
                     item.payload)
                    for s, q in zip(bundle.start.tolist(), bundle.seq.tolist(), strict=True)
                )  # fmt: skip
                continue
            verdict = self.validator.check(bundle, now_s, self.closed_before_s)
            duplicates += verdict.duplicates
            rejections.extend((r, item.payload) for r in verdict.rejections)
            if verdict.accepted.size:
                accepted.append(
                    AcceptedBundle(
                        bundle,
                        verdict.rows(),
                        verdict.message,
                        verdict.meter_index,
                        transport,
                        now_s,
                    )
                )
                changed.add(bundle.meter_id)
        written = self._store(accepted, rejections, changed, transport, now_s)
        batch = IngestCounts(rejections=[r for r, _ in rejections])
        batch.add(written, duplicates, batch.rejections)
        for name in ("received", "inserted", "duplicates", "conflicts"):
            setattr(self.counts, name, getattr(self.counts, name) + getattr(batch, name))
        self.counts.rejected.update(batch.rejected)
        for stored in accepted:
            for start in stored.bundle.start.tolist():
                self._received.setdefault(start, set()).add(stored.meter_index)
        return batch

    def _store(
        self,
        accepted: list[AcceptedBundle],
        rejections: list[tuple[Rejection, bytes | None]],
        changed: set[str],
        transport: str,
        now_s: int,
    ) -> WriteReport:
        written = WriteReport()
        with self.store.transaction() as tx:
            if accepted:
                starts = np.concatenate([a.bundle.start for a in accepted])
                index = np.concatenate(
                    [np.full(len(a.bundle), a.meter_index, dtype=np.int64) for a in accepted]
                )
                imp = np.concatenate([a.bundle.import_wh for a in accepted])
                exp = np.concatenate([a.bundle.export_wh for a in accepted])
                stored = np.concatenate(
                    [
                        a.bundle.stored_wh
                        if a.bundle.stored_wh is not None and self._stored_kind[a.meter_index]
                        else np.full(len(a.bundle), NOT_REPORTED, dtype=np.int64)
                        for a in accepted
                    ]
                )
                pks = self.store.meter_pks(index)
                keys = starts * (1 << 32) + pks
                _, first = np.unique(keys, return_index=True)
                if first.size == keys.size:
                    written = tx.write_columns(starts, pks, imp, exp, stored, keys_checked=True)
                else:  # the same reading twice in one batch: first wins, then the rest
                    rest = np.setdiff1d(np.arange(keys.size), first)
                    for part in (np.sort(first), rest):
                        written += tx.write_columns(
                            starts[part], pks[part], imp[part], exp[part], stored[part]
                        )
                tx.write_bundles(accepted)
            tx.write_rejections(
                [_quarantined(r, payload, transport, now_s) for r, payload in rejections]
            )
            states = self.validator.states
            tx.save_meter_states({self._positions[m]: states[m] for m in changed if m in states})
        return written

    # -- what the live pipeline asks ---------------------------------------------------
    def reported(self, interval: Interval) -> int:
        """How many meters have readings stored for ``interval`` (this process's view)."""
        with self._lock:
            return len(self._received.get(interval.start_s, ()))

    def recall(self, from_s: int) -> int:
        """Count as reported what the store already holds for intervals starting at or
        after ``from_s`` (readings stored before a restart); returns those readings."""
        starts, positions = self.store.reported_since(from_s)
        with self._lock:
            for start, position in zip(starts.tolist(), positions.tolist(), strict=True):
                self._received.setdefault(start, set()).add(position)
        return int(starts.size)

    def close_interval(self, interval: Interval) -> None:
        """Mark ``interval`` (and all before it) closed: later readings are quarantined."""
        with self._lock:
            self.closed_before_s = max(
                self.closed_before_s or 0, interval.start_s + interval.length_s
            )
            for start in [s for s in self._received if s < self.closed_before_s]:
                del self._received[start]


class StoredReadingSource:
    """The live pipeline's ReadingSource: the service stored readings on arrival.

    ``durable = True`` tells the loop not to write them again but to read, inside the
    interval's transaction, what the store holds (what the commitment will cover).
    ``collect`` closes the interval for the service, so later readings are quarantined.
    """

    durable = True

    def __init__(self, service: IngestService) -> None:
        self.service = service

    def collect(self, interval: Interval) -> ReadingBatch:
        self.service.close_interval(interval)
        return ReadingBatch.empty(interval)
