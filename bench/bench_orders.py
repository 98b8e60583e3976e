"""Order submission: members' signed orders accepted per second by POST /v1/market/orders.

    .venv/bin/python bench/bench_orders.py [--members 100 --orders 2000]
    .venv/bin/python bench/bench_orders.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_orders.py --testclient      # in process, no network

A community of ``--members`` members, each with a key generated here, in a fresh SQLite
file and, with ``--postgres-url``, a fresh PostgreSQL database (created and dropped). The
API app (``gridshare.api.app.create_app`` with a ``MarketVenue``) runs under uvicorn in a
background thread on a free port; its rate limit is raised (``api_rate_per_s`` and
``api_rate_burst`` 1e6) so that it never answers 429. Every member signs in (EIP-4361),
then ``--orders`` orders are signed in advance, round-robin over the members, each with a
distinct nonce (EIP-712, gridshare's signer, which a wallet's ``encode_typed_data`` matches:
tests/integration/test_api_market.py). The main thread posts them one after another over
one keep-alive connection (httpx); each 202 comes after the order was checked and stored
``pending``. Figures: orders accepted per second (first request sent to last reply) and
p50/p99 latency per order, as the client sees it.

The reference is the domain check alone: the same orders through ``OrderBook.submit`` (one
book holding every member; signature recovery, shape, price band, open interval, expiry,
nonce), no HTTP, no session, no store; and the route's store calls alone for the same
orders (fresh nonces): ``last_closed_start_s``, then ``submit_market_order`` (one
transaction each).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import uvicorn
from eth_account.signers.local import LocalAccount

from gridshare.api.app import create_app
from gridshare.market.orders import (
    MarketRules,
    MarketVenue,
    Order,
    OrderBook,
    Side,
    order_record,
)
from gridshare.model.records import OrderStatus
from gridshare.settings import Settings
from gridshare.storage import SqlStore, open_store
from gridshare.units import to_unix_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import small_community  # the repository root is not installed
from tests.postgres import throwaway_database
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account, personal_sign, siwe_text

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2025, 6, 2, 9, tzinfo=UTC)
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
RULES = MarketRules(interval_s=900, min_price=10_000, max_price=2_000_000)
Post = Callable[..., Any]


def signed_orders(
    accounts: list[LocalAccount], count: int, first_interval: int, domain: bytes
) -> list[Order]:
    """``count`` orders, round-robin over the members, each nonce distinct."""
    rng = np.random.default_rng(0)
    expiry = to_unix_seconds(NOW) + 86_400
    orders = []
    for k in range(count):
        account = accounts[k % len(accounts)]
        order = Order(
            maker=bytes.fromhex(account.address[2:]),
            side=Side(k % 2),
            first_interval=first_interval + 900 * int(rng.integers(4)),
            intervals=1,
            quantity_wh=int(rng.integers(100, 2_000)),
            price=int(rng.integers(50_000, 300_000)),
            nonce=k,
            expiry=expiry,
        )
        orders.append(order.signed(bytes(account.key), domain))
    return orders


def reference(orders: list[Order], accounts: list[LocalAccount], closed_before_s: int) -> float:
    """Orders per second through ``OrderBook.submit`` alone (every one accepted)."""
    makers = frozenset(bytes.fromhex(a.address[2:]) for a in accounts)
    book = OrderBook(
        RULES,
        MarketVenue("bench", CHAIN_ID, CONTRACT, RULES).domain,
        makers,
        dict.fromkeys(makers, 2**255),
        closed_before_s=closed_before_s,
        now_s=to_unix_seconds(NOW),
    )
    fresh = [replace(o) for o in orders]  # replace() leaves the struct hash uncomputed
    started = time.perf_counter()
    refused = book.submit_all(fresh)
    elapsed = time.perf_counter() - started
    if refused:
        raise SystemExit(f"the book refused {len(refused)}: {refused[0].detail}")
    return len(orders) / elapsed


def store_alone(store: SqlStore, orders: list[Order]) -> float:
    """Orders per second through the route's store calls alone, fresh nonces: the newest
    closed interval (``last_closed_start_s``, for the first open one), then
    ``submit_market_order`` (one transaction each)."""
    fresh = [replace(o, nonce=o.nonce + len(orders)) for o in orders]
    now_s = to_unix_seconds(NOW)
    started = time.perf_counter()
    for order in fresh:
        store.last_closed_start_s("bench")
        record = order_record(order, "bench", now_s, OrderStatus.PENDING)
        if not store.submit_market_order(record):
            raise SystemExit("the store refused an order")
    return len(orders) / (time.perf_counter() - started)


def free_socket() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def sign_in(post: Post, account: LocalAccount) -> dict[str, str]:
    nonce = post("/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce, NOW)
    reply = post(
        "/v1/auth/login", json={"message": text, "signature": personal_sign(account, text)}
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def submit_all(
    client: httpx.Client | TestClient, accounts: list[LocalAccount], count: int
) -> tuple[float, np.ndarray, list[Order]]:
    """Sign in every member, pre-sign ``count`` orders, post them; (elapsed, latencies)."""
    headers = {a.address: sign_in(client.post, a) for a in accounts}
    market = client.get("/v1/market", headers=headers[accounts[0].address]).json()
    domain = bytes.fromhex(market["domain_separator"][2:])
    orders = signed_orders(accounts, count, market["next_open_interval"], domain)
    bodies = [orjson.dumps(o.as_json()) for o in orders]
    owners = [headers[accounts[k % len(accounts)].address] for k in range(count)]
    latencies = np.empty(count)
    json_type = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for k, body in enumerate(bodies):
        sent = time.perf_counter()
        reply = client.post("/v1/market/orders", content=body, headers=owners[k] | json_type)
        latencies[k] = time.perf_counter() - sent
        if reply.status_code != 202:
            raise SystemExit(f"order {k}: HTTP {reply.status_code} {reply.text[:300]}")
    return time.perf_counter() - started, latencies, orders


def measure(name: str, url: str, members: int, count: int, in_process: bool) -> None:
    store = open_store(url)
    try:
        community = small_community(members, "bench")
        store.register_community(community)
        accounts = [new_account() for _ in range(members)]
        store.set_participant_accounts({f"bench:m{i}": a.address for i, a in enumerate(accounts)})
        venue = MarketVenue("bench", CHAIN_ID, CONTRACT, RULES)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                data_dir=Path(data_dir),
                api_domain=DOMAIN,
                api_uri=URI,
                api_rate_per_s=1e6,
                api_rate_burst=1_000_000,
            )
            app = create_app(store, settings, chain_id=CHAIN_ID, market=venue, now=lambda: NOW)
            if in_process:
                how = "TestClient, in process"
                with TestClient(app) as test_client:
                    elapsed, latencies, orders = submit_all(test_client, accounts, count)
            else:
                how = "uvicorn + httpx, 1 keep-alive connection"
                sock = free_socket()
                port = int(sock.getsockname()[1])
                config = uvicorn.Config(app, log_level="warning", access_log=False)
                server = uvicorn.Server(config)
                thread = threading.Thread(
                    target=server.run, kwargs={"sockets": [sock]}, daemon=True
                )
                thread.start()
                while not server.started:
                    if not thread.is_alive():
                        raise SystemExit("uvicorn did not start")
                    time.sleep(0.01)
                options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
                try:
                    with httpx.Client(
                        base_url=f"http://127.0.0.1:{port}",
                        timeout=60,
                        transport=httpx.HTTPTransport(socket_options=options),
                    ) as client:
                        elapsed, latencies, orders = submit_all(client, accounts, count)
                finally:
                    server.should_exit = True
                    thread.join(10)
        stored = len(store.market_orders_of("bench", None, [], 500))
        if stored < min(count, 500):
            raise SystemExit(f"only {stored} orders stored")
        p50, p99 = np.percentile(latencies * 1e3, [50, 99])
        first = min(o.first_interval for o in orders)
        rate = reference(orders, accounts, first)
        inserts = store_alone(store, orders)
        print(
            f"{name:10s} {how}: {count:,} orders of {members} members accepted in "
            f"{elapsed:.2f} s = {count / elapsed:,.0f} orders/s, p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms | reference OrderBook.submit: {rate:,.0f} orders/s "
            f"({1e3 / rate:.3f} ms per order) | store calls alone: {inserts:,.0f} orders/s "
            f"({1e3 / inserts:.3f} ms per order)"
        )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--testclient", action="store_true", help="in process, no uvicorn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        measure("SQLite", url, args.members, args.orders, args.testclient)
    if args.postgres_url:
        with throwaway_database(args.postgres_url, "gridshare_bench") as url:
            measure("PostgreSQL", url, args.members, args.orders, args.testclient)


if __name__ == "__main__":
    main()
