"""The SQL store on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gridshare.model import (
    NOT_REPORTED,
    Community,
    Meter,
    MeterKind,
    ReadingBatch,
)
from gridshare.storage import SqlStore, StorageError, open_store
from gridshare.storage.tables import metadata
from gridshare.units import Interval
from tests.factories import small_community

QUARTER = timedelta(minutes=15)
START = datetime(2025, 6, 2, 4, tzinfo=UTC)


def _batch(interval: Interval, imports: list[int]) -> ReadingBatch:
    n = len(imports)
    return ReadingBatch(
        interval,
        np.arange(n, dtype=np.int64),
        np.array(imports, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.full(n, NOT_REPORTED, dtype=np.int64),
    )


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    opened = open_store(database_url)
    opened.register_community(small_community())
    yield opened
    opened.close()


def test_the_migrated_schema_is_the_declared_one(database_url: str) -> None:
    """Alembic's head on a fresh database is exactly what ``gridshare.storage.tables``
    declares: tables, columns and their types, nullability and server defaults, indexes,
    unique and foreign keys. A table change without its migration (or the reverse) fails."""
    store = open_store(database_url)  # a fresh database, migrated as the application does
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, metadata)
    finally:
        store.close()
    listed = "\n".join(f"  {difference}" for difference in differences)
    assert not differences, (
        f"the {store.dialect} schema after the migrations differs from "
        f"gridshare.storage.tables (write a migration for the change):\n{listed}"
    )


def test_same_reading_twice_is_stored_once(store: SqlStore) -> None:
    interval = Interval(START, QUARTER)
    with store.transaction() as tx:
        first = tx.write_readings(_batch(interval, [10, 20, 30, 40]))
    with store.transaction() as tx:
        again = tx.write_readings(_batch(interval, [10, 20, 30, 40]))
    assert (first.inserted, first.duplicates, first.conflicts) == (4, 0, 0)
    assert (again.inserted, again.duplicates, again.conflicts) == (0, 4, 0)
    assert store.count("readings") == 4


def test_conflicting_value_is_kept_for_review_not_overwritten(store: SqlStore) -> None:
    interval = Interval(START, QUARTER)
    with store.transaction() as tx:
        tx.write_readings(_batch(interval, [10, 20, 30, 40]))
    with store.transaction() as tx:
        report = tx.write_readings(_batch(interval, [10, 21, 30, 40]))
    assert (report.inserted, report.duplicates, report.conflicts) == (0, 3, 1)
    stored = store.readings(["t:m0/grid"])
    assert stored["import_wh"].tolist() == [20]
    conflicts = store.conflicts()
    assert len(conflicts) == 1
    row = conflicts.iloc[0]
    assert (row["stored_import_wh"], row["offered_import_wh"]) == (20, 21)


def test_partly_new_batch_counts_each_reading_once(store: SqlStore) -> None:
    first, second = Interval(START, QUARTER), Interval(START + QUARTER, QUARTER)
    with store.transaction() as tx:
        tx.write_readings(_batch(first, [1, 2, 3, 4]))
    starts = np.array([first.start_s] * 4 + [second.start_s] * 4, dtype=np.int64)
    pks = np.tile(store.meter_pks(np.arange(4, dtype=np.int64)), 2)
    imports = np.array([1, 2, 3, 5, 6, 7, 8, 9], dtype=np.int64)
    zeros = np.zeros(8, dtype=np.int64)
    with store.transaction() as tx:
        report = tx.write_columns(starts, pks, imports, zeros, np.full(8, NOT_REPORTED))
    assert (report.inserted, report.duplicates, report.conflicts) == (4, 3, 1)
    assert report.offered == 8
    assert store.count("readings") == 8


def test_failed_transaction_leaves_nothing(store: SqlStore) -> None:
    interval = Interval(START, QUARTER)

    def write_then_fail() -> None:
        with store.transaction() as tx:
            tx.write_readings(_batch(interval, [1, 2, 3, 4]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert store.count("readings") == 0


def test_same_meter_twice_in_one_write_is_refused(store: SqlStore) -> None:
    starts = np.array([START.timestamp()] * 2, dtype=np.int64)
    pks = np.repeat(store.meter_pks(np.array([1], dtype=np.int64)), 2)
    ones = np.ones(2, dtype=np.int64)
    with pytest.raises(StorageError, match="twice"), store.transaction() as tx:
        tx.write_columns(starts, pks, ones, ones, ones)
    assert store.count("readings") == 0


def test_stored_energy_round_trips_with_nulls(store: SqlStore) -> None:
    interval = Interval(START, QUARTER)
    batch = ReadingBatch(
        interval,
        np.arange(2, dtype=np.int64),
        np.array([5, 6], dtype=np.int64),
        np.array([0, 0], dtype=np.int64),
        np.array([NOT_REPORTED, 4000], dtype=np.int64),
    )
    with store.transaction() as tx:
        tx.write_readings(batch)
    with store.transaction() as tx:
        report = tx.write_readings(batch)
    assert report.duplicates == 2
    stored = store.readings().sort_values("meter_id")
    assert stored["stored_wh"].isna().sum() == 1
    assert 4000 in stored["stored_wh"].tolist()


def test_reregistering_a_changed_meter_is_an_error(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    store = open_store(database_url)
    request.addfinalizer(store.close)
    store.register_community(small_community())
    changed = small_community()
    meters = list(changed.meters)
    meters[1] = Meter("t:m0/grid", "t:m1", MeterKind.GRID)
    clash = Community(
        "t", "test", "UTC", QUARTER, changed.participants, (), tuple(meters), changed.tariff
    )
    with pytest.raises(StorageError, match="t:m0/grid is stored as"):
        store.register_community(clash)


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="cannot open database"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
