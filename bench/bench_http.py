"""HTTP ingest speed: signed load profiles from POST to durable storage, per second.

    .venv/bin/python bench/bench_http.py [--meters 1000 --per-bundle 96 --per-request 100]
    .venv/bin/python bench/bench_http.py --per-bundle 1        # one signed bundle per reading
    .venv/bin/python bench/bench_http.py --profile             # cProfile of the server side

Pre-signs one day (96 readings of 15 min) per meter, as a smart meter or its head-end
uploads its daily load profile: ``--per-bundle`` readings under one signature (96: the
whole day; 1: every reading signed on its own), ``--per-request`` bundles per POST. The
API (``gridshare.ingest.http``) runs under uvicorn in a background thread with a fresh
SQLite store; the main thread posts the bodies one after another over one keep-alive
connection (httpx). End to end is from the first request sent to the last response, each
response coming after the service's transaction committed. Server time is the sum of the
``Server-Timing`` figures (parse the body; validate, check signatures and store).
``--profile`` runs every request's server work (``ingest_body``) under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

import gridshare.ingest.http as api
from gridshare.ingest.service import IngestService
from gridshare.metering.wire import bundle_to_json, make_bundle, sign_bundle
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.storage import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import small_community

INTERVAL_S = 900


def signed_bodies(
    fleet: SimulatedMeterFleet, day_start_s: int, intervals: int, per_bundle: int, per_request: int
) -> list[bytes]:
    """Request bodies: bundles ordered by time chunk, then meter, ``per_request`` each."""
    meters = len(fleet.community.meters)
    rng = np.random.default_rng(0)
    imp = rng.integers(0, 400, (meters, intervals), dtype=np.int64)
    exp = np.where(rng.random((meters, intervals)) < 0.2, rng.integers(0, 300), 0)
    reg_i, reg_e = np.cumsum(imp, axis=1), np.cumsum(exp, axis=1)
    voltage = np.round(230.0 + rng.normal(0.0, 2.0, (meters, intervals)), 1)
    frequency = np.round(50.0 + rng.normal(0.0, 0.02, (meters, intervals)), 3)
    starts = day_start_s + INTERVAL_S * np.arange(intervals, dtype=np.int64)
    seq = np.arange(1, intervals + 1, dtype=np.int64)
    bundles: list[dict[str, Any]] = []
    for lo in range(0, intervals, per_bundle):
        rows = slice(lo, min(lo + per_bundle, intervals))
        for m, meter in enumerate(fleet.community.meters):
            bundle = make_bundle(
                meter.meter_id,
                starts[rows],
                seq[rows],
                imp[m, rows],
                exp[m, rows],
                reg_i[m, rows],
                reg_e[m, rows],
                quality={"voltage_v": voltage[m, rows], "frequency_hz": frequency[m, rows]},
            )
            bundles.append(bundle_to_json(sign_bundle(bundle, fleet.keys[m])))
    return [
        orjson.dumps({"bundles": bundles[at : at + per_request]})
        for at in range(0, len(bundles), per_request)
    ]


def start_server(service: IngestService) -> tuple[Any, threading.Thread, int]:
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it each response's body waits ~40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = api.build_server(service, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.perf_counter() + 10
    while not server.started:
        if time.perf_counter() > deadline or not thread.is_alive():
            raise SystemExit("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, port


def server_ms(header: str) -> dict[str, float]:
    """``parse;dur=1.0, submit;dur=2.0`` -> {"parse": 1.0, "submit": 2.0}."""
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        out[name] = float(dur)
    return out


def post_all(
    port: int, bodies: list[bytes], clients: int
) -> tuple[float, list[float], list[dict[str, float]], dict[str, Any]]:
    """POST every body, ``clients`` connections at a time, each keep-alive (httpx)."""
    latencies: list[float] = []
    timings: list[dict[str, float]] = []
    pending = iter(bodies)  # taken in order; next() on a list iterator is atomic
    failures: list[str] = []
    # TCP_NODELAY on the client too: a body's last segment must not wait for an ACK
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    connections = [
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=120,
            transport=httpx.HTTPTransport(socket_options=options),
        )
        for _ in range(clients)
    ]

    def post(client: httpx.Client) -> None:
        for body in pending:
            sent = time.perf_counter()
            response = client.post(
                "/v1/readings", content=body, headers={"Content-Type": "application/json"}
            )
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                failures.append(f"HTTP {response.status_code}: {response.text[:500]}")
                return
            timings.append(server_ms(response.headers["server-timing"]))

    try:
        for client in connections:
            client.get("/healthz").raise_for_status()  # connect before the clock starts
        started = time.perf_counter()
        if clients == 1:
            post(connections[0])  # from the main thread
        else:
            threads = [threading.Thread(target=post, args=(c,)) for c in connections]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(failures[0])
        stats: dict[str, Any] = connections[0].get("/v1/ingest/stats").json()
    finally:
        for client in connections:
            client.close()
    return elapsed, latencies, timings, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--intervals", type=int, default=96, help="readings per meter")
    parser.add_argument("--per-bundle", type=int, default=96, help="readings per signed bundle")
    parser.add_argument("--per-request", type=int, default=100, help="bundles per POST")
    parser.add_argument("--clients", type=int, default=1, help="concurrent connections")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.profile and args.clients != 1:
        parser.error("--profile needs --clients 1 (cProfile follows one request at a time)")

    community = small_community(args.meters - 1, "bench")
    fleet = SimulatedMeterFleet(community, seed=1)
    days = -(-args.intervals // 96)
    if days > 6:
        parser.error("at most 6 days of readings (576 intervals): the service refuses older")
    day_start_s = (int(time.time()) // 86_400 - days) * 86_400  # whole UTC days, all ended
    built = time.perf_counter()
    bodies = signed_bodies(fleet, day_start_s, args.intervals, args.per_bundle, args.per_request)
    readings = args.meters * args.intervals
    print(
        f"{readings:,} readings of {args.meters:,} meters, {args.per_bundle} per signed bundle, "
        f"{len(bodies)} requests of {np.mean([len(b) for b in bodies]) / 1e6:.2f} MB "
        f"(built in {time.perf_counter() - built:.1f} s)"
    )

    profiler = cProfile.Profile()
    if args.profile:
        plain = api.ingest_body

        def profiled(service: IngestService, body: bytes) -> api.IngestReply:
            reply: api.IngestReply = profiler.runcall(plain, service, body)
            return reply

        api.ingest_body = profiled  # looked up by the route at call time

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.sqlite")
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        service = IngestService.for_store(store)
        server, thread, port = start_server(service)
        try:
            elapsed, latencies, timings, stats = post_all(port, bodies, args.clients)
        finally:
            server.should_exit = True
        thread.join(10)
        stored = store.count("readings")
        store.close()

    parse_s = sum(t["parse"] for t in timings) / 1e3
    submit_s = sum(t["submit"] for t in timings) / 1e3
    print(f"counts: {stats}")
    print(f"per request: {np.mean(latencies) * 1e3:.0f} ms mean, {max(latencies) * 1e3:.0f} ms max")
    if stored != readings or stats["inserted"] != readings:
        raise SystemExit(f"stored {stored:,} of {readings:,} readings")
    server = ""
    if args.clients == 1:  # with more, requests overlap and submit includes lock waits
        print(
            f"server: parse {parse_s:.2f} s, validate+store {submit_s:.2f} s, "
            f"HTTP and the rest {elapsed - parse_s - submit_s:.2f} s"
        )
        server = f" (server side {readings / (parse_s + submit_s):,.0f} readings/s)"
    print(
        f"HTTP ingest, {args.per_bundle} readings/bundle, {args.per_request} bundles/request, "
        f"{args.clients} client(s): {readings:,} readings stored in {elapsed:.2f} s end to end "
        f"= {readings / elapsed:,.0f} readings/s{server}"
    )
    if args.profile:
        stats_out = pstats.Stats(profiler)
        stats_out.sort_stats("cumulative").print_stats(30)
        stats_out.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
