"""Storage speed: readings per second written through the store's bulk path.

    .venv/bin/python bench/bench_storage.py
    .venv/bin/python bench/bench_storage.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

Writes ``--intervals`` intervals of ``--meters`` readings each, one transaction per
``--per-write`` intervals, into a fresh SQLite file and a fresh PostgreSQL database, and
then offers the same readings again (all duplicates: the idempotency check's cost).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gridshare.storage import SqlStore, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import small_community  # the repository root is not installed
from tests.postgres import throwaway_database

START_S = 1_748_836_800  # 2025-06-02 04:00 UTC


def write_all(store: SqlStore, intervals: int, meters: int, per_write: int) -> tuple[float, int]:
    rng = np.random.default_rng(0)
    pks = store.meter_pks(np.arange(meters, dtype=np.int64))
    written = 0
    started = time.perf_counter()
    for first in range(0, intervals, per_write):
        count = min(per_write, intervals - first)
        starts = np.repeat(START_S + 900 * np.arange(first, first + count, dtype=np.int64), meters)
        meter_pk = np.tile(pks, count)
        imports = rng.integers(0, 2_000, size=starts.size, dtype=np.int64)
        exports = rng.integers(0, 2_000, size=starts.size, dtype=np.int64)
        stored = np.where(meter_pk % 3 == 0, imports, -1)
        with store.transaction() as tx:
            report = tx.write_columns(starts, meter_pk, imports, exports, stored)
        written += report.offered
    return time.perf_counter() - started, written


def measure(name: str, url: str, intervals: int, meters: int, per_write: int) -> None:
    store = open_store(url)
    try:
        store.register_community(small_community(meters - 1, "bench"))
        for label in ("insert", "duplicates"):
            seconds, count = write_all(store, intervals, meters, per_write)
            rate = count / seconds
            print(f"{name:10s} {label:10s} {rate:>10,.0f} readings/s ({count} in {seconds:.2f} s)")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intervals", type=int, default=200)
    parser.add_argument("--meters", type=int, default=1576)
    parser.add_argument("--per-write", type=int, default=1, help="intervals per transaction")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(
        f"{args.intervals} intervals x {args.meters} meters, {args.per_write} interval(s) per write"
    )
    with tempfile.TemporaryDirectory() as tmp:
        measure(
            "sqlite",
            f"sqlite:///{Path(tmp) / 'bench.sqlite'}",
            args.intervals,
            args.meters,
            args.per_write,
        )
    with throwaway_database(args.postgres_url, "gridshare_bench") as url:
        measure("postgresql", url, args.intervals, args.meters, args.per_write)


if __name__ == "__main__":
    main()
