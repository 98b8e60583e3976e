"""Readings: written idempotently in bulk (inserted, duplicate or conflict), read back, counted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import BigInteger, delete, func, literal, select

from gridshare.model import NOT_REPORTED, ReadingBatch, WriteReport
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase, TransactionBase
from gridshare.units import SECONDS_PER_DAY, IntArray, Interval

_READING_COLUMNS = "interval_start_s, meter_pk, import_wh, export_wh, stored_wh"

_STAGE_DDL = {
    "sqlite": (
        "CREATE TEMP TABLE IF NOT EXISTS readings_stage (interval_start_s BIGINT, "
        "meter_pk INTEGER, import_wh BIGINT, export_wh BIGINT, stored_wh BIGINT)"
    ),
    "postgresql": (
        "CREATE TEMP TABLE IF NOT EXISTS readings_stage (interval_start_s BIGINT, "
        "meter_pk INTEGER, import_wh BIGINT, export_wh BIGINT, stored_wh BIGINT) "
        "ON COMMIT DELETE ROWS"
    ),
}


def _row_tuples(*columns: IntArray, stored_wh: IntArray) -> list[tuple[int | None, ...]]:
    """Rows for ``executemany``; ``stored_wh`` last, NOT_REPORTED as NULL."""
    stored = [None if value == NOT_REPORTED else value for value in stored_wh.tolist()]
    return list(zip(*(column.tolist() for column in columns), stored, strict=True))


def _nullable(value: int | None) -> int | None:
    return None if value == NOT_REPORTED else value


class ReadingWrites(TransactionBase):
    """The readings writes of a unit of work (part of ``SqlTransaction``)."""

    def roll_up_day(self, day_start_s: int) -> None:
        """Sum each of the community's meters' readings of the UTC day at ``day_start_s``
        into ``meter_days`` (again, if a re-run after a crash rolls it up twice), and
        record the day as rolled up."""
        community_id = self.store.community.community_id
        pks = self.store.meter_pks_list()
        d, r, u = t.meter_days, t.readings, t.rolled_up_days
        self.connection.execute(
            delete(d).where(d.c.day_start_s == day_start_s, d.c.meter_pk.in_(pks))
        )
        self.connection.execute(
            delete(u).where(u.c.community_id == community_id, u.c.day_start_s == day_start_s)
        )
        day = literal(day_start_s, BigInteger)
        sums = (
            select(
                day, r.c.meter_pk, func.sum(r.c.import_wh), func.sum(r.c.export_wh), func.count()
            )
            .where(
                r.c.interval_start_s >= day_start_s,
                r.c.interval_start_s < day_start_s + SECONDS_PER_DAY,
                r.c.meter_pk.in_(pks),
            )
            .group_by(r.c.meter_pk)
        )
        columns = ["day_start_s", "meter_pk", "import_wh", "export_wh", "readings"]
        self.connection.execute(d.insert().from_select(columns, sums))
        self.connection.execute(
            u.insert(), {"community_id": community_id, "day_start_s": day_start_s}
        )

    def write_readings(self, batch: ReadingBatch) -> WriteReport:
        """Store one interval's readings of the registered community."""
        meter_pk = self.store.meter_pks(batch.meter_index)
        starts = np.full(len(batch), batch.interval.start_s, dtype=np.int64)
        return self.write_columns(
            starts,
            meter_pk,
            batch.import_wh,
            batch.export_wh,
            batch.stored_wh,
            keys_checked=True,  # a ReadingBatch never repeats a meter
        )

    def write_columns(
        self,
        interval_start_s: IntArray,
        meter_pk: IntArray,
        import_wh: IntArray,
        export_wh: IntArray,
        stored_wh: IntArray,
        *,
        keys_checked: bool = False,
    ) -> WriteReport:
        """Store readings given as columns (any intervals); ``stored_wh`` -1 = not reported.

        The ``(interval_start_s, meter_pk)`` pairs offered must be distinct; they are
        checked unless the caller already guarantees it (``keys_checked``).
        """
        offered = int(meter_pk.size)
        if offered == 0:
            return WriteReport()
        if not keys_checked:
            keys = interval_start_s.astype(np.int64) * (1 << 32) + meter_pk.astype(np.int64)
            if np.unique(keys).size != offered:
                raise StorageError("a write offered the same meter and interval twice")
        driver = self.connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            if self.dialect == "postgresql":
                inserted = self._insert_postgresql(
                    cursor, interval_start_s, meter_pk, import_wh, export_wh, stored_wh
                )
            else:
                rows = _row_tuples(
                    interval_start_s, meter_pk, import_wh, export_wh, stored_wh=stored_wh
                )
                cursor.executemany(
                    f"INSERT INTO readings ({_READING_COLUMNS}) VALUES (?, ?, ?, ?, ?) "  # noqa: S608 - constant column list
                    "ON CONFLICT DO NOTHING",
                    rows,
                )
                inserted = cursor.rowcount
                if inserted < offered:
                    cursor.execute(_STAGE_DDL["sqlite"])
                    cursor.executemany("INSERT INTO readings_stage VALUES (?, ?, ?, ?, ?)", rows)
            conflicts = 0
            if inserted < offered:
                conflicts = self._record_conflicts(cursor)
                cursor.execute("DELETE FROM readings_stage")
        finally:
            cursor.close()
        return WriteReport(inserted, offered - inserted - conflicts, conflicts)

    def _insert_postgresql(
        self,
        cursor: Any,
        interval_start_s: IntArray,
        meter_pk: IntArray,
        import_wh: IntArray,
        export_wh: IntArray,
        stored_wh: IntArray,
    ) -> int:
        """COPY straight into ``readings``; if a key is already there, stage and merge."""
        flat = np.column_stack([interval_start_s, meter_pk, import_wh, export_wh, stored_wh])
        text = ("%d\t%d\t%d\t%d\t%d\n" * flat.shape[0]) % tuple(flat.ravel().tolist())
        text = text.replace("\t-1\n", "\t\\N\n")  # stored_wh NOT_REPORTED -> NULL
        cursor.execute("SAVEPOINT gridshare_copy")
        try:
            with cursor.copy(f"COPY readings ({_READING_COLUMNS}) FROM STDIN") as copy:
                copy.write(text)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT gridshare_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT gridshare_copy")
            return int(interval_start_s.size)
        cursor.execute(_STAGE_DDL["postgresql"])
        with cursor.copy(f"COPY readings_stage ({_READING_COLUMNS}) FROM STDIN") as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO readings ({_READING_COLUMNS}) "  # noqa: S608 - constant column list
            f"SELECT {_READING_COLUMNS} FROM readings_stage ON CONFLICT DO NOTHING"
        )
        return int(cursor.rowcount)

    def _record_conflicts(self, cursor: Any) -> int:
        cursor.execute(
            "SELECT s.interval_start_s, s.meter_pk, r.import_wh, r.export_wh, r.stored_wh, "
            "s.import_wh, s.export_wh, s.stored_wh FROM readings_stage s JOIN readings r "
            "ON r.interval_start_s = s.interval_start_s AND r.meter_pk = s.meter_pk"
        )
        now_s = int(time.time())
        conflicts = []
        for start, pk, r_imp, r_exp, r_sto, s_imp, s_exp, s_sto in cursor.fetchall():
            offered_stored = _nullable(s_sto)  # NULL (PostgreSQL stage) or -1 (SQLite stage)
            if (r_imp, r_exp, r_sto) != (s_imp, s_exp, offered_stored):
                conflicts.append(
                    {
                        "interval_start_s": start,
                        "meter_pk": pk,
                        "stored_import_wh": r_imp,
                        "stored_export_wh": r_exp,
                        "stored_stored_wh": r_sto,
                        "offered_import_wh": s_imp,
                        "offered_export_wh": s_exp,
                        "offered_stored_wh": offered_stored,
                        "detected_at_s": now_s,
                    }
                )
        if conflicts:
            self.connection.execute(t.reading_conflicts.insert(), conflicts)
        return len(conflicts)

    def read_readings(self, interval: Interval) -> ReadingBatch:
        """The stored readings of ``interval`` for the registered community's meters."""
        rows = self.connection.execute(
            select(
                t.readings.c.meter_pk,
                t.readings.c.import_wh,
                t.readings.c.export_wh,
                t.readings.c.stored_wh,
            ).where(
                t.readings.c.interval_start_s == interval.start_s,
                t.readings.c.meter_pk.in_(self.store.meter_pks_list()),
            )
        ).all()
        position = self.store.meter_positions([row.meter_pk for row in rows])
        order = np.argsort(position, kind="stable")

        def column(values: list[int | None]) -> IntArray:
            array = np.array([NOT_REPORTED if v is None else v for v in values], dtype=np.int64)
            return array[order]

        return ReadingBatch(
            interval,
            position[order],
            column([row.import_wh for row in rows]),
            column([row.export_wh for row in rows]),
            column([row.stored_wh for row in rows]),
        )


class ReadingQueries(StoreBase):
    """The readings part of ``SqlStore``."""

    def readings(self, meter_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Stored readings (optionally of some meters) with their meter ids."""
        query = select(
            t.readings.c.interval_start_s,
            t.meters.c.meter_id,
            t.readings.c.import_wh,
            t.readings.c.export_wh,
            t.readings.c.stored_wh,
        ).select_from(t.readings.join(t.meters, t.readings.c.meter_pk == t.meters.c.meter_pk))
        if meter_ids is not None:
            query = query.where(t.meters.c.meter_id.in_(list(meter_ids)))
        with self.engine.connect() as conn:
            return pd.DataFrame(
                conn.execute(query.order_by(t.readings.c.interval_start_s)).mappings().all()
            )

    def reported_since(self, from_s: int) -> tuple[IntArray, IntArray]:
        """(interval starts, meter positions) of the registered community's readings stored
        for intervals starting at or after ``from_s``: what a restarted node already holds
        for the intervals it has not closed yet."""
        readings = t.readings
        query = select(readings.c.interval_start_s, readings.c.meter_pk).where(
            readings.c.interval_start_s >= from_s,
            readings.c.meter_pk.in_(self.meter_pks_list()),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        starts = np.array([int(r[0]) for r in rows], dtype=np.int64)
        return starts, self.meter_positions([int(r[1]) for r in rows])

    def count(self, table: str) -> int:
        """Number of rows in one of the store's tables."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.metadata.tables[table])
                ).scalar_one()
            )

    def conflicts(self) -> pd.DataFrame:
        """Readings offered with values that differ from the stored ones, for review."""
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(select(t.reading_conflicts)).mappings().all())
