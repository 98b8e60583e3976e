"""The store's member queries on SQLite and PostgreSQL: a participant's own account, and
readings summed per bucket (partial buckets, ranges half-open)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import update

from gridshare.model import Battery, Meter, MeterKind, PvArray, ReadingBatch
from gridshare.storage import SqlStore, StorageError, members, open_store, tables
from gridshare.units import Interval
from tests.factories import QUARTER, small_community

ACCOUNT = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
START = datetime(2025, 6, 2, tzinfo=UTC)
START_S = 1_748_822_400


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = open_store(database_url)
    store.register_community(small_community(2))
    yield store
    store.close()


def test_an_account_belongs_to_one_participant_whatever_its_case(store: SqlStore) -> None:
    assert store.member_by_account(ACCOUNT) is None
    store.set_participant_accounts({"t:m0": ACCOUNT.lower()})
    member = store.member_by_account(ACCOUNT.upper().replace("0X", "0x"))
    assert member is not None
    assert (member.participant_id, member.community_id, member.role) == ("t:m0", "t", "consumer")
    assert member.account_address == ACCOUNT
    assert store.member("t:m0") == member
    store.set_participant_accounts({"t:m0": ACCOUNT})  # again: no change
    with pytest.raises(StorageError, match="already belongs to t:m0"):
        store.set_participant_accounts({"t:m1": ACCOUNT})
    with pytest.raises(StorageError, match="no participant"):
        store.set_participant_accounts({"t:nobody": "0x" + "11" * 20})
    with pytest.raises(StorageError, match="not an account address"):
        store.set_participant_accounts({"t:m1": "0x1234"})
    other = "0x" + "22" * 20
    with pytest.raises(StorageError, match="no participant"):  # one refusal records none
        store.set_participant_accounts({"t:m1": other, "t:nobody": "0x" + "33" * 20})
    assert store.member_by_account(other) is None
    assert store.community_member_count("t") == 2
    assert store.community_interval_s("t") == 900
    assert store.community_interval_s("elsewhere") is None


def test_readings_are_summed_per_bucket_within_the_half_open_range(store: SqlStore) -> None:
    with store.transaction() as tx:
        for k in range(8):  # two hours; meter 1 (t:m0/grid) imports k + 1 Wh
            n = 3
            tx.write_readings(
                ReadingBatch(
                    Interval(START + k * QUARTER, QUARTER),
                    np.arange(n, dtype=np.int64),
                    np.array([0, k + 1, 100], dtype=np.int64),
                    np.array([0, 0, 7], dtype=np.int64),
                    np.full(n, -1, dtype=np.int64),
                )
            )
    hourly = store.member_readings("t:m0", START_S, START_S + 7200, 3600)
    assert [(r.meter_id, r.bucket_start_s, r.import_wh, r.readings) for r in hourly] == [
        ("t:m0/grid", START_S, 1 + 2 + 3 + 4, 4),
        ("t:m0/grid", START_S + 3600, 5 + 6 + 7 + 8, 4),
    ]
    # [start, end): the interval starting at the end is left out; partial buckets count
    part = store.member_readings("t:m0", START_S + 900, START_S + 5400, 3600)
    assert [(r.import_wh, r.readings) for r in part] == [(2 + 3 + 4, 3), (5 + 6, 2)]
    [balance] = store.member_balances("t:m1", START_S, START_S + 86_400, 86_400)
    assert (balance.grid_import_wh, balance.grid_export_wh, balance.readings) == (800, 56, 8)
    assert balance.consumption_wh == 800 - 56
    assert store.member_readings("t:nobody", START_S, START_S + 7200, 3600) == []


@pytest.mark.parametrize("per_query", [3, 4096])
def test_buckets_cut_by_query_chunks_are_summed_whole(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, per_query: int
) -> None:
    monkeypatch.setattr(members, "STARTS_PER_QUERY", per_query)  # SQLite names starts in chunks
    with store.transaction() as tx:
        for k in range(8):
            tx.write_readings(
                ReadingBatch(
                    Interval(START + k * QUARTER, QUARTER),
                    np.arange(3, dtype=np.int64),
                    np.array([0, k + 1, 0], dtype=np.int64),
                    np.zeros(3, dtype=np.int64),
                    np.full(3, -1, dtype=np.int64),
                )
            )
    hourly = store.member_readings("t:m0", START_S, START_S + 7200, 3600)
    assert [(r.import_wh, r.readings) for r in hourly] == [(10, 4), (26, 4)]
    # a start between two intervals: the first interval starting at or after it
    late = store.member_readings("t:m0", START_S + 100, START_S + 7200, 7200)
    assert [(r.bucket_start_s, r.import_wh, r.readings) for r in late] == [(START_S, 35, 7)]


def test_a_prosumers_balance_sums_each_meter_kind_as_accounting_does(database_url: str) -> None:
    base = small_community(2)
    pv = PvArray("t:m0/pv", "t:m0", kwp=8.0, tilt_deg=30, azimuth_deg=180, inverter_kw=7.0)
    battery = Battery(
        "t:m0/bat", "t:m0", capacity_kwh=10.0, power_kw=5.0, round_trip_efficiency=0.9
    )
    community = replace(
        base,
        assets=(pv, battery),
        meters=(
            *base.meters,
            Meter("t:m0/pv", "t:m0", MeterKind.PRODUCTION, pv.asset_id),
            Meter("t:m0/bat", "t:m0", MeterKind.STORAGE, battery.asset_id),
        ),
    )
    store = open_store(database_url)
    try:
        store.register_community(community)
        with store.transaction() as tx:
            for k in range(4):  # meters: pcc, m0 grid, m1 grid, m0 pv, m0 battery
                tx.write_readings(
                    ReadingBatch(
                        Interval(START + k * QUARTER, QUARTER),
                        np.arange(5, dtype=np.int64),
                        np.array([0, 100, 7, 0, 30], dtype=np.int64),
                        np.array([0, 20, 0, 400, 10], dtype=np.int64),
                        np.array([-1, -1, -1, -1, 5_000], dtype=np.int64),
                    )
                )
        [hour] = store.member_balances("t:m0", START_S, START_S + 3600, 3600)
        assert (hour.grid_import_wh, hour.grid_export_wh) == (400, 80)
        assert (hour.production_wh, hour.charge_wh, hour.discharge_wh) == (1600, 120, 40)
        assert hour.consumption_wh == 400 - 80 + 1600 + 40 - 120
        assert hour.readings == 12
        kinds = {
            r.meter_id: r.kind for r in store.member_readings("t:m0", START_S, START_S + 3600, 900)
        }
        assert kinds == {"t:m0/grid": "grid", "t:m0/pv": "production", "t:m0/bat": "storage"}
    finally:
        store.close()


def test_day_buckets_read_the_rolled_up_days_and_the_readings_of_the_rest(
    store: SqlStore,
) -> None:
    """Three days of readings; the first two rolled up (as the accounting step does when a
    UTC day's last interval closes), the third not: daily sums equal the readings' sums,
    and a rolled-up day is read from ``meter_days``, not from the readings."""
    rng = np.random.default_rng(5)
    n = 3
    expected: dict[int, int] = {}
    with store.transaction() as tx:
        for k in range(3 * 96):
            imports = rng.integers(0, 500, n, dtype=np.int64)
            batch = ReadingBatch(
                Interval(START + k * QUARTER, QUARTER),
                np.arange(n, dtype=np.int64),
                imports,
                np.zeros(n, dtype=np.int64),
                np.full(n, -1, dtype=np.int64),
            )
            tx.write_readings(batch)
            day = START_S + (k // 96) * 86_400
            expected[day] = expected.get(day, 0) + int(imports[1])  # t:m0's grid meter
        tx.roll_up_day(START_S)
        tx.roll_up_day(START_S + 86_400)
        tx.roll_up_day(START_S + 86_400)  # again (a re-run after a crash): no double count
    end = START_S + 3 * 86_400
    daily = {
        r.bucket_start_s: r.grid_import_wh
        for r in store.member_balances("t:m0", START_S, end, 86_400)
    }
    assert daily == expected
    quarter = store.member_balances("t:m0", START_S, end, 900)
    assert sum(r.grid_import_wh for r in quarter) == sum(expected.values())
    # a rolled-up day is answered from its rollup: change the rollup, and the answer follows
    with store.engine.begin() as conn:
        days = tables.meter_days
        conn.execute(
            update(days)
            .where(days.c.day_start_s == START_S)
            .values(import_wh=days.c.import_wh + 1000)
        )
    daily = {
        r.bucket_start_s: r.grid_import_wh
        for r in store.member_balances("t:m0", START_S, end, 86_400)
    }
    assert daily[START_S] == expected[START_S] + 1000
    assert daily[START_S + 2 * 86_400] == expected[START_S + 2 * 86_400]  # from the readings
    # a range that starts mid-day reads that day from the readings
    part = store.member_balances("t:m0", START_S + 3600, START_S + 86_400, 86_400)
    assert [r.bucket_start_s for r in part] == [START_S]
    assert part[0].grid_import_wh < expected[START_S]
