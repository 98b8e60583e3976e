"""The SQL store: readings written idempotently in bulk, balances, runs.

Bulk writes bypass the ORM: SQLite gets one ``executemany`` of ``INSERT .. ON CONFLICT DO
NOTHING``; PostgreSQL gets ``COPY`` into a temporary staging table and one
``INSERT .. SELECT .. ON CONFLICT DO NOTHING``. When fewer rows were inserted than offered,
the offered rows are compared with the stored ones: equal ones are counted as duplicates,
different ones are recorded in ``reading_conflicts`` for review and the stored value is
kept. Every offered reading ends in exactly one of inserted, duplicate or conflict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, astuple
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from alembic import command
from alembic.config import Config
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.errors import GridshareError
from gridshare.metering.commitment import LeafRow
from gridshare.metering.validation import AcceptedBundle, Gap, MeterState
from gridshare.metering.wire import (
    QUALITY_COLUMNS,
    ReadingBundle,
    bundle_from_message,
)
from gridshare.model import NOT_REPORTED, Community, ReadingBatch, WriteReport
from gridshare.model.chain import ChainEvent
from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    CommitmentRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    IslandEventRecord,
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.units import Interval

IntArray = NDArray[np.int64]
MIGRATIONS = Path(__file__).parent / "migrations"
_READING_COLUMNS = "interval_start_s, meter_pk, import_wh, export_wh, stored_wh"
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
_INSERT_BUNDLE = {  # a bundle received again (same meter and signature) is kept once
    False: "INSERT INTO reading_bundles (meter_pk, first_start_s, last_start_s, readings, "
    "transport, received_at_s, message, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING",
    True: "INSERT INTO reading_bundles (meter_pk, first_start_s, last_start_s, readings, "
    "transport, received_at_s, message, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING",
}


class StorageError(GridshareError):
    """The database cannot be reached or holds data that contradicts the request."""


def default_sqlite_url(data_dir: Path) -> str:
    """URL of the default SQLite database inside ``data_dir``."""
    return f"sqlite:///{(data_dir / 'gridshare.sqlite').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(url: str) -> SqlStore:
    """Connect to ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``) and migrate."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
    except OperationalError as exc:
        raise StorageError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Check that the server runs and GRIDSHARE_DATABASE_URL is right."
        ) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"database {url!r} is not usable: {exc}") from exc
    return SqlStore(engine)


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


_BALANCE_FIELDS = (
    "community_id",
    "interval_start_s",
    "length_s",
    "solar_wh",
    "wind_wh",
    "hydro_wh",
    "biomass_wh",
    "quality",
    "received",
    "expected",
    *t.BALANCE_ENERGY_COLUMNS[4:],
)
_BALANCE_UPSERT = (
    f"INSERT INTO interval_balances ({', '.join(_BALANCE_FIELDS)}) "  # noqa: S608 - constants
    f"VALUES ({', '.join('?' for _ in _BALANCE_FIELDS)}) "
    "ON CONFLICT (community_id, interval_start_s) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _BALANCE_FIELDS[2:])
)


def _row_tuples(*columns: IntArray, stored_wh: IntArray) -> list[tuple[int | None, ...]]:
    """Rows for ``executemany``; ``stored_wh`` last, NOT_REPORTED as NULL."""
    stored = [None if value == NOT_REPORTED else value for value in stored_wh.tolist()]
    return list(zip(*(column.tolist() for column in columns), stored, strict=True))


def _nullable(value: int | None) -> int | None:
    return None if value == NOT_REPORTED else value


class SqlTransaction:
    """One unit of work on one connection (implements ``StoreTransaction``)."""

    def __init__(self, connection: Connection, store: SqlStore) -> None:
        self.connection = connection
        self.store = store
        self.dialect = connection.dialect.name

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
            with cursor.copy(f"COPY readings ({_READING_COLUMNS}) FROM STDIN") as copy:  # noqa: S608
                copy.write(text)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT gridshare_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT gridshare_copy")
            return int(interval_start_s.size)
        cursor.execute(_STAGE_DDL["postgresql"])
        with cursor.copy(f"COPY readings_stage ({_READING_COLUMNS}) FROM STDIN") as copy:  # noqa: S608
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

    # -- metering -------------------------------------------------------------------
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

    def write_rejections(self, rejections: Sequence[dict[str, Any]]) -> None:
        """Quarantine refused readings with their reasons (rows of ``rejected_readings``)."""
        if rejections:
            self.connection.execute(t.rejected_readings.insert(), list(rejections))

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

    # -- balancing ------------------------------------------------------------------
    def write_balancing_interval(self, row: BalancingIntervalRecord) -> None:
        """The balance monitor's figures of one interval (replacing an earlier row)."""
        table = t.balancing_intervals
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id,
                table.c.interval_start_s == row.interval_start_s,
            )
        )
        self.connection.execute(table.insert(), {"community_id": community_id, **as_row(row)})

    def write_balancing_alerts(self, alerts: Sequence[BalancingAlertRecord]) -> None:
        """Alerts raised by the balance monitor."""
        if alerts:
            community_id = self.store.community.community_id
            self.connection.execute(
                t.balancing_alerts.insert(),
                [{"community_id": community_id, **as_row(a)} for a in alerts],
            )

    def write_dispatch_setpoints(
        self, interval_start_s: int, meter_ids: Sequence[str], setpoints_wh: Sequence[int]
    ) -> None:
        """The setpoints sent to each device for an interval (replacing earlier ones)."""
        table = t.dispatch_setpoints
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id,
                table.c.interval_start_s == interval_start_s,
            )
        )
        self.connection.execute(
            table.insert(),
            [
                {
                    "community_id": community_id,
                    "interval_start_s": interval_start_s,
                    "position": i,
                    "meter_id": meter_id,
                    "setpoint_wh": int(value),
                }
                for i, (meter_id, value) in enumerate(zip(meter_ids, setpoints_wh, strict=True))
            ],
        )

    def write_island_events(self, events: Sequence[IslandEventRecord]) -> None:
        """Islanding events of a run (replacing events with the same start)."""
        table = t.island_events
        community_id = self.store.community.community_id
        for island in events:
            self.connection.execute(
                delete(table).where(
                    table.c.community_id == community_id, table.c.start_s == island.start_s
                )
            )
            self.connection.execute(
                table.insert(), {"community_id": community_id, **as_row(island)}
            )

    def write_dr_event(self, event: DemandResponseEventRecord) -> None:
        """A demand-response event as called (replacing one with the same id)."""
        table = t.dr_events
        community_id = self.store.community.community_id
        self.connection.execute(
            delete(table).where(
                table.c.community_id == community_id, table.c.event_id == event.event_id
            )
        )
        self.connection.execute(table.insert(), {"community_id": community_id, **as_row(event)})

    def write_dr_responses(self, rows: Sequence[DemandResponseRecord]) -> None:
        """Measured responses and payments of a settled event."""
        if rows:
            community_id = self.store.community.community_id
            self.connection.execute(
                t.dr_responses.insert(),
                [{"community_id": community_id, **as_row(r)} for r in rows],
            )

    # -- market ---------------------------------------------------------------------
    def write_market_interval(
        self,
        interval: MarketIntervalRecord,
        fills: Sequence[MarketFillRecord],
        trades: Sequence[MarketTradeRecord],
    ) -> None:
        """Record one settled interval of the market (replacing an earlier record)."""
        key = (interval.community_id, interval.interval_start_s)
        for table in (t.market_intervals, t.market_fills, t.market_trades):
            self.connection.execute(
                delete(table).where(
                    table.c.community_id == key[0], table.c.interval_start_s == key[1]
                )
            )
        self.connection.execute(t.market_intervals.insert(), as_row(interval))
        if fills:
            self.connection.execute(t.market_fills.insert(), [as_row(f) for f in fills])
        if trades:
            self.connection.execute(t.market_trades.insert(), [as_row(r) for r in trades])

    def write_market_rejections(self, rejections: Sequence[MarketRejectionRecord]) -> None:
        """Record refused orders with their reasons."""
        if rejections:
            self.connection.execute(t.market_rejections.insert(), [as_row(r) for r in rejections])

    def write_market_member_totals(self, rows: Sequence[MarketMemberTotalsRecord]) -> None:
        """Per-member market results of a run (replacing earlier rows of the run)."""
        if rows:
            table = t.market_member_totals
            self.connection.execute(delete(table).where(table.c.run_id == rows[0].run_id))
            self.connection.execute(table.insert(), [as_row(r) for r in rows])

    # -- results --------------------------------------------------------------------
    def write_balance(
        self, interval: Interval, balance: IntervalBalance, received: int, expected: int
    ) -> None:
        """Store (or replace) the community balance of ``interval``."""
        community_id = self.store.community.community_id
        solar, wind, hydro, biomass = balance.production_wh_by_source
        row = {
            "community_id": community_id,
            "interval_start_s": interval.start_s,
            "length_s": interval.length_s,
            "solar_wh": solar,
            "wind_wh": wind,
            "hydro_wh": hydro,
            "biomass_wh": biomass,
            "quality": int(balance.quality),
            "received": received,
            "expected": expected,
        }
        for name in t.BALANCE_ENERGY_COLUMNS[4:]:
            row[name] = getattr(balance, name)
        # One upsert on the driver's cursor: this runs once per interval.
        marker = "?" if self.dialect == "sqlite" else "%s"
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            values = tuple(row[name] for name in _BALANCE_FIELDS)
            cursor.execute(_BALANCE_UPSERT.replace("?", marker), values)
        finally:
            cursor.close()

    def write_participant_totals(self, run_id: str, totals: ParticipantFlows) -> None:
        """Store per-participant totals of a run (aligned with the participants)."""
        participants = self.store.community.participants
        columns = {name: values.tolist() for name, values in asdict(totals).items()}
        rows = [
            {"run_id": run_id, "participant_id": p.participant_id}
            | {name: values[i] for name, values in columns.items()}
            for i, p in enumerate(participants)
        ]
        self.connection.execute(t.participant_totals.insert(), rows)


class SqlStore:
    """SQLite or PostgreSQL storage (implements the pipeline's ``Store`` port)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._community: Community | None = None
        self._meter_pks: IntArray = np.zeros(0, dtype=np.int64)
        self._connection: Connection | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def community(self) -> Community:
        if self._community is None:
            raise StorageError("no community registered with this store")
        return self._community

    def meter_pks(self, meter_index: IntArray) -> IntArray:
        """Database keys of meters given by their position in the community."""
        return self._meter_pks[meter_index]

    def meter_pks_list(self) -> list[int]:
        """Database keys of all the registered community's meters."""
        return [int(pk) for pk in self._meter_pks.tolist()]

    def meter_positions(self, meter_pks: Sequence[int]) -> IntArray:
        """Positions in the community of meters given by their database keys."""
        lookup = {int(pk): i for i, pk in enumerate(self._meter_pks.tolist())}
        return np.array([lookup[int(pk)] for pk in meter_pks], dtype=np.int64)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A unit of work; an exception inside rolls it back.

        Units of work share one connection (checked out on first use), so the interval
        loop does not pay a pool checkout per interval.
        """
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        with self._connection.begin():
            yield SqlTransaction(self._connection, self)

    # -- community ------------------------------------------------------------------
    def register_community(self, community: Community) -> None:
        """Insert the community's members, assets and meters, or check they match."""
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(t.communities).where(t.communities.c.community_id == community.community_id)
            ).first()
            length_s = int(community.interval_length.total_seconds())
            if existing is None:
                conn.execute(
                    t.communities.insert(),
                    {
                        "community_id": community.community_id,
                        "name": community.name,
                        "time_zone": community.time_zone,
                        "interval_length_s": length_s,
                    },
                )
            elif (
                existing.interval_length_s != length_s or existing.time_zone != community.time_zone
            ):
                raise StorageError(
                    f"the store holds community {community.community_id!r} with "
                    f"{existing.interval_length_s} s intervals in {existing.time_zone}; "
                    "use another database or community id"
                )
            self._insert_missing(conn, community)
            pks: dict[str, int] = {
                row.meter_id: row.meter_pk
                for row in conn.execute(
                    select(t.meters.c.meter_id, t.meters.c.meter_pk).where(
                        t.meters.c.community_id == community.community_id
                    )
                )
            }
        self._meter_pks = np.array([pks[m.meter_id] for m in community.meters], dtype=np.int64)
        self._community = community

    def _insert_missing(self, conn: Connection, community: Community) -> None:
        have_participants = set(conn.execute(select(t.participants.c.participant_id)).scalars())
        rows = [
            {
                "participant_id": p.participant_id,
                "community_id": community.community_id,
                "name": p.name,
                "role": p.role.value,
                "category": p.category.value,
                "latitude_deg": p.location.latitude_deg,
                "longitude_deg": p.location.longitude_deg,
                "altitude_m": p.location.altitude_m,
            }
            for p in community.participants
            if p.participant_id not in have_participants
        ]
        if rows:
            conn.execute(t.participants.insert(), rows)
        have_assets = set(conn.execute(select(t.assets.c.asset_id)).scalars())
        asset_rows = [
            {
                "asset_id": a.asset_id,
                "participant_id": a.participant_id,
                "kind": a.kind.value,
                "rated_power_kw": a.rated_power_kw,
                "spec_json": json.dumps(asdict(a), sort_keys=True, default=str),
            }
            for a in community.assets
            if a.asset_id not in have_assets
        ]
        if asset_rows:
            conn.execute(t.assets.insert(), asset_rows)
        have_meters = {
            row.meter_id: row
            for row in conn.execute(
                select(t.meters.c.meter_id, t.meters.c.participant_id, t.meters.c.kind)
            )
        }
        meter_rows = []
        for m in community.meters:
            stored = have_meters.get(m.meter_id)
            if stored is None:
                meter_rows.append(
                    {
                        "meter_id": m.meter_id,
                        "community_id": community.community_id,
                        "participant_id": m.participant_id,
                        "kind": m.kind.value,
                        "asset_id": m.asset_id,
                    }
                )
            elif (stored.participant_id, stored.kind) != (m.participant_id, m.kind.value):
                raise StorageError(
                    f"meter {m.meter_id} is stored as a {stored.kind} meter of "
                    f"{stored.participant_id}, not a {m.kind.value} meter of {m.participant_id}"
                )
        if meter_rows:
            conn.execute(t.meters.insert(), meter_rows)

    def recorded(self, community_id: str) -> tuple[int, int]:
        """Numbers of readings and of runs stored for a community."""
        with self.engine.connect() as conn:
            readings = conn.execute(
                select(func.count())
                .select_from(
                    t.readings.join(t.meters, t.readings.c.meter_pk == t.meters.c.meter_pk)
                )
                .where(t.meters.c.community_id == community_id)
            ).scalar_one()
            runs = conn.execute(
                select(func.count()).where(t.runs.c.community_id == community_id)
            ).scalar_one()
        return int(readings), int(runs)

    def delete_community(self, community_id: str) -> None:
        """Remove a community and everything recorded for it."""
        with self.engine.begin() as conn:
            meter_pks = select(t.meters.c.meter_pk).where(t.meters.c.community_id == community_id)
            participant_ids = select(t.participants.c.participant_id).where(
                t.participants.c.community_id == community_id
            )
            run_ids = select(t.runs.c.run_id).where(t.runs.c.community_id == community_id)
            conn.execute(delete(t.readings).where(t.readings.c.meter_pk.in_(meter_pks)))
            for table in (
                t.reading_bundles,
                t.meter_states,
                t.meter_devices,
            ):
                conn.execute(delete(table).where(table.c.meter_pk.in_(meter_pks)))
            conn.execute(
                delete(t.interval_commitments).where(
                    t.interval_commitments.c.community_id == community_id
                )
            )
            conn.execute(
                delete(t.reading_conflicts).where(t.reading_conflicts.c.meter_pk.in_(meter_pks))
            )
            for table in (
                t.market_intervals,
                t.market_fills,
                t.market_trades,
                t.market_rejections,
                t.balancing_intervals,
                t.balancing_alerts,
                t.dispatch_setpoints,
                t.island_events,
                t.dr_events,
                t.dr_responses,
            ):
                conn.execute(delete(table).where(table.c.community_id == community_id))
            conn.execute(
                delete(t.market_member_totals).where(t.market_member_totals.c.run_id.in_(run_ids))
            )
            conn.execute(
                delete(t.interval_balances).where(
                    t.interval_balances.c.community_id == community_id
                )
            )
            conn.execute(
                delete(t.participant_totals).where(t.participant_totals.c.run_id.in_(run_ids))
            )
            conn.execute(delete(t.runs).where(t.runs.c.community_id == community_id))
            conn.execute(delete(t.meters).where(t.meters.c.community_id == community_id))
            conn.execute(delete(t.assets).where(t.assets.c.participant_id.in_(participant_ids)))
            conn.execute(
                delete(t.participants).where(t.participants.c.community_id == community_id)
            )
            conn.execute(delete(t.communities).where(t.communities.c.community_id == community_id))

    # -- metering -------------------------------------------------------------------
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

    def _frame(self, table: Any, community_id: str, *order: Any) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(table).where(table.c.community_id == community_id).order_by(*order), conn
            )

    def meter_owners(self, community_id: str) -> dict[str, str]:
        """Each meter of the community with the participant it belongs to."""
        m = t.meters
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(m.c.meter_id, m.c.participant_id).where(m.c.community_id == community_id)
            ).all()
        return {str(meter): str(owner) for meter, owner in rows}

    def interval_length_s(self, community_id: str) -> int:
        """The community's metering interval (s)."""
        c = t.communities
        with self.engine.connect() as conn:
            value = conn.execute(
                select(c.c.interval_length_s).where(c.c.community_id == community_id)
            ).scalar_one()
        return int(value)

    def dispatch_setpoints(self, community_id: str) -> pd.DataFrame:
        """Every device setpoint the balancing plan dispatched (net charge, Wh)."""
        table = t.dispatch_setpoints
        return self._frame(table, community_id, table.c.interval_start_s, table.c.position)

    def balancing_intervals(self, community_id: str) -> pd.DataFrame:
        """The balance monitor's figures per interval, with the next plan's hash."""
        table = t.balancing_intervals
        return self._frame(table, community_id, table.c.interval_start_s)

    def balancing_alerts(self, community_id: str) -> pd.DataFrame:
        table = t.balancing_alerts
        return self._frame(table, community_id, table.c.alert_pk)

    def island_events(self, community_id: str) -> pd.DataFrame:
        table = t.island_events
        return self._frame(table, community_id, table.c.start_s)

    def dr_events(self, community_id: str) -> pd.DataFrame:
        table = t.dr_events
        return self._frame(table, community_id, table.c.start_s)

    def dr_responses(self, community_id: str) -> pd.DataFrame:
        table = t.dr_responses
        return self._frame(table, community_id, table.c.event_id, table.c.participant_id)

    def market_intervals(self, community_id: str) -> pd.DataFrame:
        """Each settled market interval: mechanism, volume, money, trades root."""
        table = t.market_intervals
        return self._frame(table, community_id, table.c.interval_start_s)

    def market_fills(self, community_id: str) -> pd.DataFrame:
        """Every order of every settled interval with its fill and settlement."""
        table = t.market_fills
        return self._frame(table, community_id, table.c.interval_start_s, table.c.position)

    def market_trades(self, community_id: str) -> pd.DataFrame:
        """Every matched stretch between two orders."""
        table = t.market_trades
        return self._frame(table, community_id, table.c.interval_start_s, table.c.row)

    def market_rejections(self, community_id: str) -> pd.DataFrame:
        table = t.market_rejections
        return self._frame(table, community_id, table.c.rejection_pk)

    def market_member_totals(self, run_id: str) -> pd.DataFrame:
        table = t.market_member_totals
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(table).where(table.c.run_id == run_id).order_by(table.c.participant_id),
                conn,
            )

    def latest_run(self, community_id: str) -> str | None:
        """The most recently started finished run of a community."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.runs.c.run_id)
                .where(t.runs.c.community_id == community_id, t.runs.c.status == "finished")
                .order_by(t.runs.c.started_at_s.desc())
                .limit(1)
            ).first()
        return None if row is None else str(row[0])

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

    def provenance(self, meter_id: str, start_s: int) -> dict[str, Any] | None:
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
                return {
                    "seq": int(bundle.seq[row]),
                    "import_wh": int(bundle.import_wh[row]),
                    "export_wh": int(bundle.export_wh[row]),
                    "import_register_wh": int(bundle.import_register_wh[row]),
                    "export_register_wh": int(bundle.export_register_wh[row]),
                    **quality,
                    "signature": "0x" + bundle.signature.hex(),
                    "transport": transport,
                }
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

    def community_ids(self) -> list[str]:
        """Every community the store holds."""
        with self.engine.connect() as conn:
            return [str(c) for c in conn.execute(select(t.communities.c.community_id)).scalars()]

    def committed_communities(self) -> list[str]:
        """Communities with interval commitments in this store."""
        table = t.interval_commitments
        with self.engine.connect() as conn:
            return [str(c) for c in conn.execute(select(table.c.community_id).distinct()).scalars()]

    def leaf_rows(self, community_id: str, start_s: int) -> list[LeafRow]:
        """The readings of one interval as the commitment saw them: kind, device, energy."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.meters.c.kind,
                    t.meter_devices.c.device_address,
                    t.readings.c.import_wh,
                    t.readings.c.export_wh,
                )
                .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
                .join(
                    t.meter_devices,
                    t.meter_devices.c.meter_pk == t.readings.c.meter_pk,
                    isouter=True,
                )
                .where(
                    t.meters.c.community_id == community_id,
                    t.readings.c.interval_start_s == start_s,
                )
            ).all()
        out = []
        for kind, device, imp, exp in rows:
            if device is None:
                raise StorageError(f"a reading of interval {start_s} has no registered device")
            out.append(LeafRow.of(kind, bytes.fromhex(device[2:]), imp, exp))
        return out

    def meter_leaf(self, meter_id: str, start_s: int) -> tuple[str, str, LeafRow] | None:
        """(community id, kind, leaf row) of one stored reading, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    t.meters.c.community_id,
                    t.meters.c.kind,
                    t.meter_devices.c.device_address,
                    t.readings.c.import_wh,
                    t.readings.c.export_wh,
                )
                .join(t.meters, t.meters.c.meter_pk == t.readings.c.meter_pk)
                .join(t.meter_devices, t.meter_devices.c.meter_pk == t.readings.c.meter_pk)
                .where(t.meters.c.meter_id == meter_id, t.readings.c.interval_start_s == start_s)
            ).first()
        if row is None:
            return None
        community, kind, device, imp, exp = row
        leaf = LeafRow.of(kind, bytes.fromhex(device[2:]), imp, exp)
        return str(community), str(kind), leaf

    # -- runs -----------------------------------------------------------------------
    def begin_run(self, run_id: str, community_id: str, scenario: str, seed: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.runs.insert(),
                {
                    "run_id": run_id,
                    "community_id": community_id,
                    "scenario": scenario,
                    "seed": seed,
                    "started_at_s": int(time.time()),
                    "status": "running",
                },
            )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at_s=int(time.time()),
                    summary_json=None if summary is None else json.dumps(summary, sort_keys=True),
                )
            )

    # -- chain events ---------------------------------------------------------------
    def last_indexed_block(self, chain_id: int) -> tuple[int, str] | None:
        """Number and hash of the last block of ``chain_id`` whose events are all stored."""
        cursor = t.chain_cursor
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cursor.c.last_block, cursor.c.last_block_hash).where(
                    cursor.c.chain_id == chain_id
                )
            ).first()
        return None if row is None else (int(row.last_block), str(row.last_block_hash))

    def write_chain_events(
        self, chain_id: int, events: Sequence[ChainEvent], up_to_block: int, block_hash: str
    ) -> int:
        """Store events (idempotently) and move the chain's cursor, in one transaction.

        Returns how many events were new.
        """
        with self.engine.begin() as conn:
            have = {
                (row.block_number, row.log_index)
                for row in conn.execute(
                    select(t.chain_events.c.block_number, t.chain_events.c.log_index).where(
                        t.chain_events.c.chain_id == chain_id,
                        t.chain_events.c.block_number.in_({e.block_number for e in events}),
                    )
                )
            }
            rows = [
                {
                    "chain_id": e.chain_id,
                    "block_number": e.block_number,
                    "log_index": e.log_index,
                    "tx_hash": e.tx_hash,
                    "contract": e.contract,
                    "event": e.event,
                    "args_json": json.dumps([[k, v] for k, v in e.args]),
                }
                for e in events
                if (e.block_number, e.log_index) not in have
            ]
            if rows:
                conn.execute(t.chain_events.insert(), rows)
            cursor = t.chain_cursor
            position = {"last_block": up_to_block, "last_block_hash": block_hash}
            updated = conn.execute(
                cursor.update().where(cursor.c.chain_id == chain_id).values(**position)
            )
            if updated.rowcount == 0:
                conn.execute(cursor.insert(), {"chain_id": chain_id, **position})
        return len(rows)

    def count_chain_events(self, chain_id: int) -> int:
        """Number of stored events of ``chain_id``."""
        query = select(func.count()).where(t.chain_events.c.chain_id == chain_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def chain_events(self, chain_id: int) -> list[ChainEvent]:
        """Every stored event of ``chain_id``, in chain order."""
        query = (
            select(t.chain_events)
            .where(t.chain_events.c.chain_id == chain_id)
            .order_by(t.chain_events.c.block_number, t.chain_events.c.log_index)
        )
        with self.engine.connect() as conn:
            return [
                ChainEvent(
                    chain_id=int(row.chain_id),
                    block_number=int(row.block_number),
                    log_index=int(row.log_index),
                    tx_hash=row.tx_hash,
                    contract=row.contract,
                    event=row.event,
                    args=tuple((str(k), v) for k, v in json.loads(row.args_json)),
                )
                for row in conn.execute(query)
            ]

    # -- queries --------------------------------------------------------------------
    def interval_balances(self, community_id: str) -> pd.DataFrame:
        """All stored interval balances of a community, indexed by UTC interval start."""
        query = (
            select(t.interval_balances)
            .where(t.interval_balances.c.community_id == community_id)
            .order_by(t.interval_balances.c.interval_start_s)
        )
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all())
        if frame.empty:
            return frame
        frame.index = pd.to_datetime(frame["interval_start_s"], unit="s", utc=True)
        return frame

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
