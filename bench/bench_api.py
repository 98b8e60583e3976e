"""API latency: a member's dashboard queries through the app, on a populated store.

    .venv/bin/python bench/bench_api.py
    .venv/bin/python bench/bench_api.py --days 30 --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

Writes ``--days`` days of 15-minute readings of ``--members`` members (one grid meter each,
and the PCC) with each interval's balance, into a fresh SQLite file and, with
``--postgres-url``, a fresh PostgreSQL database. Then members signed in with their own keys
(EIP-4361) ask, through the ASGI app (FastAPI's TestClient, no network), for a day of their
15-min readings, a month of their daily balances and a day of the community's hourly
balance, and the market's last clearing (a settled market interval is written per
interval); p50 and p99 of each, over ``--requests`` requests of random members and days.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gridshare.api.app import create_app
from gridshare.balancing.accounting import account_interval
from gridshare.market.orders import MarketRules, MarketVenue
from gridshare.model import ReadingBatch
from gridshare.model.records import MarketIntervalRecord
from gridshare.settings import Settings
from gridshare.storage import SqlStore, open_store
from gridshare.units import Interval

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import QUARTER, small_community  # the repository root is not installed
from tests.postgres import throwaway_database
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account, personal_sign, siwe_text

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)


def populate(store: SqlStore, members: int, days: int) -> float:
    community = small_community(members, "bench")
    store.register_community(community)
    n_meters, n = len(community.meters), len(community.participants)
    rng = np.random.default_rng(0)
    stored = community.catalogue.initial_stored_wh.copy()
    started = time.perf_counter()
    for day in range(days):
        with store.transaction() as tx:
            for k in range(96):
                interval = Interval(DAY0 + timedelta(days=day) + k * QUARTER, QUARTER)
                imports = rng.integers(0, 600, n_meters, dtype=np.int64)
                exports = rng.integers(0, 150, n_meters, dtype=np.int64)
                imports[0], exports[0] = imports[1:].sum(), exports[1:].sum()
                batch = ReadingBatch(
                    interval,
                    np.arange(n_meters, dtype=np.int64),
                    imports,
                    exports,
                    np.full(n_meters, -1, dtype=np.int64),
                )
                tx.write_readings(batch)
                balance, _, stored = account_interval(batch, community.catalogue, n, stored)
                tx.write_balance(interval, balance, n_meters, n_meters)
                volume = int(rng.integers(0, 50_000))
                tx.write_market_interval(  # a settled market interval (no fills: its size)
                    MarketIntervalRecord(
                        community.community_id, interval.start_s, "pay-as-clear", 0, volume,
                        volume * 150, volume * 150, 0, 0, 0, "0x" + "00" * 32, False,
                    ),
                    [],
                    [],
                )  # fmt: skip
            tx.roll_up_day(int((DAY0 + timedelta(days=day)).timestamp()))  # as accounting does
    return time.perf_counter() - started


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def measure(name: str, url: str, members: int, days: int, requests: int) -> None:
    store = open_store(url)
    try:
        seconds = populate(store, members, days)
        print(f"{name}: wrote {members} members x {days} days in {seconds:.1f} s")
        now = DAY0 + timedelta(days=days)
        signed_in = 20
        accounts = [new_account() for _ in range(signed_in)]
        store.set_participant_accounts({f"bench:m{i}": a.address for i, a in enumerate(accounts)})
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                data_dir=Path(data_dir),
                api_domain=DOMAIN,
                api_uri=URI,
                api_rate_per_s=1e6,
                api_rate_burst=1_000_000,
            )
            venue = MarketVenue("bench", CHAIN_ID, bytes(20), MarketRules(interval_s=900))
            app = create_app(store, settings, chain_id=CHAIN_ID, market=venue, now=lambda: now)
            with TestClient(app) as client:
                headers = []
                for account in accounts:
                    nonce = client.post("/v1/auth/nonce").json()["nonce"]
                    text = siwe_text(account, nonce, now)
                    token = client.post(
                        "/v1/auth/login",
                        json={"message": text, "signature": personal_sign(account, text)},
                    ).json()["token"]
                    headers.append({"Authorization": f"Bearer {token}"})
                rng = np.random.default_rng(1)
                month = min(days, 30)
                last_month = DAY0 + timedelta(days=days - month)
                queries = {
                    "day of 15-min readings": lambda i, d: (
                        f"/v1/members/bench:m{i}/readings",
                        {"resolution": "15min", "start": iso(d), "end": iso(d + timedelta(1))},
                    ),
                    f"{month} days of daily balances": lambda i, d: (
                        f"/v1/members/bench:m{i}/balances",
                        {
                            "resolution": "day",
                            "start": iso(min(d, last_month)),
                            "end": iso(min(d, last_month) + timedelta(month)),
                        },
                    ),
                    "the last clearing": lambda i, d: ("/v1/market/clearings/last", {}),
                    "day of hourly community balance": lambda i, d: (
                        "/v1/communities/bench/balance",
                        {"resolution": "hour", "start": iso(d), "end": iso(d + timedelta(1))},
                    ),
                }
                for label, query in queries.items():
                    times = []
                    for _ in range(requests):
                        i = int(rng.integers(signed_in))
                        day = DAY0 + timedelta(days=int(rng.integers(days)))
                        path, params = query(i, day)
                        started = time.perf_counter()
                        reply = client.get(path, params=params, headers=headers[i])
                        times.append(time.perf_counter() - started)
                        assert reply.status_code == 200, reply.text
                    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
                    print(f"{name:10s} {label:32s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument(
        "--no-sqlite", action="store_true", help="measure PostgreSQL only (with --postgres-url)"
    )
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            measure("SQLite", url, args.members, args.days, args.requests)
    if args.postgres_url:
        with throwaway_database(args.postgres_url, "gridshare_bench") as url:
            measure("PostgreSQL", url, args.members, args.days, args.requests)


if __name__ == "__main__":
    main()
