"""Metering: signed bundles, quarantined readings, validator state, devices, commitments."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import astuple
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, delete, func, select

from gridshare.metering.commitment import LeafRow
from gridshare.metering.validation import AcceptedBundle, Gap, MeterState
from gridshare.metering.wire import QUALITY_COLUMNS, ReadingBundle, bundle_from_message
from gridshare.model.records import (
    CommitmentRecord,
    ReadingProvenance,
    RejectedReadingRecord,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase, TransactionBase

_UPSERT_STATE = {  # one statement per meter: insert, or replace the remembered reading
    False: "INSERT INTO meter_states (meter_pk, start_s, seq, import_register_wh, "
    "export_register_wh, import_wh, export_wh, gaps_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (meter_pk) DO UPDATE SET start_s = excluded.start_s, seq = excluded.seq, "
    "import_register_wh = excluded.import_register_wh, "
    "export_register_wh = excluded.export_register_wh, import_wh = excluded.import_wh, "
    "export_wh = excluded.export_wh, gaps_json = excluded.gaps_json",
    True: "INSERT INTO meter_states (meter_pk, start_s, seq, import_register_wh, "
    "export_register_wh, import_wh, export_wh, gaps_json) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (meter_pk) DO UPDATE SET start_s = excluded.start_s, seq = excluded.seq, "
    "import_register_wh = excluded.import_register_wh, "
    "export_register_wh = excluded.export_register_wh, import_wh = excluded.import_wh, "
    "export_wh = excluded.export_wh, gaps_json = excluded.gaps_json",
}


def _leaf_select(*leading: ColumnElement[Any], isouter: bool) -> Select[Any]:
    """Stored readings as commitment leaves: ``leading`` columns, then the meter's kind,
    its device's address, import and export; ``isouter`` keeps readings without a device
    (their address None)."""
    return (
        select(
            *leading,
            t.meters.c.kind,
            t.meter_devices.c.device_address,
            t.readings.c.import_wh,
            t.readings.c.export_wh,
        )
        .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
        .join(t.meter_devices, t.meter_devices.c.meter_pk == t.readings.c.meter_pk, isouter=isouter)
    )


def _leaf_row(kind: str, device: str, import_wh: int, export_wh: int) -> LeafRow:
    """A leaf from a row of :func:`_leaf_select` (the device's 0x-address decoded)."""
    return LeafRow.of(kind, bytes.fromhex(device[2:]), import_wh, export_wh)


_INSERT_BUNDLE = {  # a bundle received again (same meter and signature) is kept once
    False: "INSERT INTO reading_bundles (meter_pk, first_start_s, last_start_s, readings, "
    "transport, received_at_s, message, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING",
    True: "INSERT INTO reading_bundles (meter_pk, first_start_s, last_start_s, readings, "
    "transport, received_at_s, message, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING",
}


class MeteringWrites(TransactionBase):
    """The metering writes of a unit of work (part of ``SqlTransaction``)."""

    def write_bundles(self, bundles: Sequence[AcceptedBundle]) -> None:
        """Keep each signed bundle as received: its canonical message and signature.

        One row per bundle (not per reading): the message holds every reading's sequence
        number, registers and power quality, and ``gridshare verify`` re-proves stored
        readings against it.
        """
        if not bundles:
            return
        pks = self.store.meter_pks(np.array([b.meter_index for b in bundles], dtype=np.int64))
        rows = [
            (
                int(pk),
                int(b.signed.start[0]),
                int(b.signed.start[-1]),
                len(b.signed),
                b.transport,
                b.received_at_s,
                b.message,
                b.signed.signature,
            )
            for pk, b in zip(pks.tolist(), bundles, strict=True)
        ]
        sql = _INSERT_BUNDLE[self.dialect == "postgresql"]
        driver = self.connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def write_rejections(self, rejections: Sequence[RejectedReadingRecord]) -> None:
        """Quarantine refused readings with their reasons (rows of ``rejected_readings``)."""
        if rejections:
            self.connection.execute(t.rejected_readings.insert(), [as_row(r) for r in rejections])

    def save_meter_states(self, states: dict[int, MeterState]) -> None:
        """Remember each meter's newest accepted reading (keyed by meter position)."""
        if not states:
            return
        pks = self.store.meter_pks(np.array(list(states), dtype=np.int64)).tolist()
        rows = [
            (
                int(pk), st.start, st.seq, st.import_register_wh, st.export_register_wh,
                st.import_wh, st.export_wh,
                json.dumps([astuple(g) for g in st.gaps]) if st.gaps else "[]",
            )
            for pk, st in zip(pks, states.values(), strict=True)
        ]  # fmt: skip
        driver = self.connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_UPSERT_STATE[self.dialect == "postgresql"], rows)
        finally:
            cursor.close()

    def write_commitment(self, commitment: CommitmentRecord) -> None:
        """Record what was committed on chain for an interval (replacing an earlier row)."""
        table = t.interval_commitments
        self.connection.execute(
            delete(table).where(
                table.c.community_id == commitment.community_id,
                table.c.interval_start_s == commitment.interval_start_s,
            )
        )
        self.connection.execute(table.insert(), as_row(commitment))


class MeteringQueries(StoreBase):
    """The metering part of ``SqlStore``."""

    def meter_devices(self) -> dict[str, str]:
        """Device address (0x-hex) registered for each meter of the community."""
        pks = self.meter_pks_list()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meters.c.meter_id, t.meter_devices.c.device_address)
                .join(t.meter_devices, t.meter_devices.c.meter_pk == t.meters.c.meter_pk)
                .where(t.meters.c.meter_pk.in_(pks))
            ).all()
        return {row.meter_id: row.device_address for row in rows}

    def device_links(self) -> dict[str, tuple[str, str]]:
        """(participant id, community time zone) of each device address (lower case) bound
        to a meter, across every community in the store."""
        query = (
            select(
                t.meter_devices.c.device_address,
                t.meters.c.participant_id,
                t.communities.c.time_zone,
            )
            .join(t.meters, t.meters.c.meter_pk == t.meter_devices.c.meter_pk)
            .join(t.communities, t.communities.c.community_id == t.meters.c.community_id)
        )
        with self.engine.connect() as conn:
            return {
                str(device).lower(): (str(participant), str(zone))
                for device, participant, zone in conn.execute(query)
            }

    def set_meter_devices(self, devices: dict[str, str]) -> None:
        """Bind meters (by id) to device addresses, replacing earlier bindings."""
        positions = {m.meter_id: i for i, m in enumerate(self.community.meters)}
        unknown = sorted(set(devices) - set(positions))
        if unknown:
            raise StorageError(f"no such meter(s) in the community: {unknown[:5]}")
        rows = [
            {
                "meter_pk": int(self._meter_pks[positions[meter]]),
                "device_address": address.lower(),
            }
            for meter, address in devices.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.meter_devices).where(
                    t.meter_devices.c.meter_pk.in_([r["meter_pk"] for r in rows])
                )
            )
            conn.execute(t.meter_devices.insert(), rows)

    def meter_states(self) -> dict[str, MeterState]:
        """Each meter's newest accepted reading, as the validator remembers it."""
        pks = self.meter_pks_list()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meters.c.meter_id, t.meter_states)
                .join(t.meter_states, t.meter_states.c.meter_pk == t.meters.c.meter_pk)
                .where(t.meters.c.meter_pk.in_(pks))
            ).all()
        return {
            row.meter_id: MeterState(
                row.start_s,
                row.seq,
                row.import_register_wh,
                row.export_register_wh,
                row.import_wh,
                row.export_wh,
                tuple(Gap(*g) for g in json.loads(row.gaps_json)),
            )
            for row in rows
        }

    def rejection_counts(self) -> dict[str, int]:
        """Quarantined readings per reason."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.rejected_readings.c.reason, func.count()).group_by(
                    t.rejected_readings.c.reason
                )
            ).all()
        return {str(reason): int(count) for reason, count in rows}

    def rejections(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(t.rejected_readings).order_by(t.rejected_readings.c.rejection_pk), conn
            )

    def commitments(self, community_id: str) -> pd.DataFrame:
        """What the store recorded as committed on chain, one row per interval."""
        table = t.interval_commitments
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(table)
                .where(table.c.community_id == community_id)
                .order_by(table.c.interval_start_s),
                conn,
            )

    def committed_communities(self) -> list[str]:
        """Communities with interval commitments in this store."""
        table = t.interval_commitments
        with self.engine.connect() as conn:
            return [str(c) for c in conn.execute(select(table.c.community_id).distinct()).scalars()]

    def provenance(self, meter_id: str, start_s: int) -> ReadingProvenance | None:
        """Sequence, registers, power quality and signature of one stored reading, from
        the first signed bundle that carried it (None for readings without one)."""
        table = t.reading_bundles
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.message, table.c.signature, table.c.transport)
                .join(t.meters, t.meters.c.meter_pk == table.c.meter_pk)
                .where(
                    t.meters.c.meter_id == meter_id,
                    table.c.first_start_s <= start_s,
                    table.c.last_start_s >= start_s,
                )
                .order_by(table.c.bundle_pk)
            ).all()
        for message, signature, transport in rows:
            bundle = bundle_from_message(bytes(message), bytes(signature))
            hits = np.flatnonzero(bundle.start == start_s)
            if hits.size:
                row = int(hits[0])
                quality = {
                    name: (float(bundle.quality[name][row]) if name in bundle.quality else None)
                    for name in QUALITY_COLUMNS
                }
                return ReadingProvenance(
                    seq=int(bundle.seq[row]),
                    import_wh=int(bundle.import_wh[row]),
                    export_wh=int(bundle.export_wh[row]),
                    import_register_wh=int(bundle.import_register_wh[row]),
                    export_register_wh=int(bundle.export_register_wh[row]),
                    voltage_v=quality["voltage_v"],
                    frequency_hz=quality["frequency_hz"],
                    power_factor=quality["power_factor"],
                    thd_pct=quality["thd_pct"],
                    signature="0x" + bundle.signature.hex(),
                    transport=str(transport),
                )
        return None

    def signed_bundles(self, community_id: str) -> Iterator[tuple[str, str | None, ReadingBundle]]:
        """Every stored signed bundle of the community: (meter id, registered device, bundle)."""
        table = t.reading_bundles
        with self.engine.connect() as conn:
            result = conn.execute(
                select(t.meters.c.meter_id, t.meter_devices.c.device_address, table.c.message,
                       table.c.signature)
                .join(t.meters, t.meters.c.meter_pk == table.c.meter_pk)
                .join(t.meter_devices, t.meter_devices.c.meter_pk == table.c.meter_pk,
                      isouter=True)
                .where(t.meters.c.community_id == community_id)
                .order_by(table.c.bundle_pk)
                .execution_options(yield_per=5_000)
            )  # fmt: skip
            for meter_id, device, message, signature in result:
                yield meter_id, device, bundle_from_message(bytes(message), bytes(signature))

    def production_exports(self, community_id: str) -> dict[tuple[bytes, int], int]:
        """(device address, interval start) -> Wh exported by each production meter."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meter_devices.c.device_address, t.readings.c.interval_start_s,
                       t.readings.c.export_wh)
                .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
                .join(t.meter_devices, t.meter_devices.c.meter_pk == t.readings.c.meter_pk)
                .where(t.meters.c.community_id == community_id, t.meters.c.kind == "production")
            ).all()  # fmt: skip
        return {(bytes.fromhex(d[2:]), int(s)): int(e) for d, s, e in rows}

    def grid_exports(self, community_id: str) -> dict[tuple[str, int], int]:
        """(participant id, interval start) -> Wh its grid-connection meters exported."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meters.c.participant_id, t.readings.c.interval_start_s,
                       func.sum(t.readings.c.export_wh))
                .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
                .where(t.meters.c.community_id == community_id, t.meters.c.kind == "grid")
                .group_by(t.meters.c.participant_id, t.readings.c.interval_start_s)
            ).all()  # fmt: skip
        return {(str(p), int(s)): int(e) for p, s, e in rows}

    def stored_energy(self, community_id: str) -> dict[tuple[str, int], tuple[int, int]]:
        """(meter id, interval start) -> (import, export) of the community's readings."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meters.c.meter_id, t.readings.c.interval_start_s, t.readings.c.import_wh,
                       t.readings.c.export_wh)
                .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
                .where(t.meters.c.community_id == community_id)
            ).all()  # fmt: skip
        return {(m, int(s)): (int(i), int(e)) for m, s, i, e in rows}

    def leaf_rows(self, community_id: str, start_s: int) -> list[LeafRow]:
        """The readings of one interval as the commitment saw them: kind, device, energy."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                _leaf_select(isouter=True).where(
                    t.meters.c.community_id == community_id,
                    t.readings.c.interval_start_s == start_s,
                )
            ).all()
        out = []
        for kind, device, imp, exp in rows:
            if device is None:
                raise StorageError(f"a reading of interval {start_s} has no registered device")
            out.append(_leaf_row(kind, device, imp, exp))
        return out

    def meter_leaf(self, meter_id: str, start_s: int) -> tuple[str, str, LeafRow] | None:
        """(community id, kind, leaf row) of one stored reading, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                _leaf_select(t.meters.c.community_id, isouter=False).where(
                    t.meters.c.meter_id == meter_id, t.readings.c.interval_start_s == start_s
                )
            ).first()
        if row is None:
            return None
        community, kind, device, imp, exp = row
        return str(community), str(kind), _leaf_row(kind, device, imp, exp)
