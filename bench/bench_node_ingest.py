"""Ingest through the running node: readings per second of ``gridshare demo``'s path.

    .venv/bin/python bench/bench_node_ingest.py                       # scenarios/demo.toml, 1 day
    .venv/bin/python bench/bench_node_ingest.py --scenario tests/scenarios/data/tiny.toml

The node ``gridshare demo`` runs (``gridshare.app.demo.run_demo``: HTTP ingest, the
interval pipeline, accounting, commitments, certificates, the market and balancing on the
embedded chain, the REST API mounted beside ingest) on a fresh directory, fed by the
scenario's simulated meters over HTTP as fast as it closes intervals (``day_s`` 0, no
linger): each interval is one POST of every meter's one-reading signed bundle, sent once
the node has closed the interval before. Wall time runs from the node being ready (the
meters start) to its last interval closed; readings per second = readings stored in the
node's store / that time. Node start-up (building the simulated community, deploying,
onboarding) is printed apart and not counted. The meters' side of each interval (the
simulator collecting and signing its readings, then the POST until the node's ingest has
stored them) is timed too, to split the interval's time between ingest and the node's steps.

The reference is the ingest service alone on the same community size, the same request
shape (one reading per bundle, every meter in one request):
``bench/bench_http.py --meters M --per-bundle 1 --per-request M`` with the M printed here.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gridshare.app.demo as demo
from gridshare.api.app import create_app
from gridshare.app.demo import DemoOptions, run_demo
from gridshare.ledger.keys import LocalSigner
from gridshare.settings import Settings
from gridshare.simulator.run import prepare
from gridshare.storage import open_store


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/demo.toml"))
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()

    scenario = prepare(args.scenario, args.days)
    posts: list[float] = []
    requests: list[float] = []
    plain: Any = demo._Feeder._post

    class TimedClient:
        def __init__(self, client: Any) -> None:
            self.client = client

        def post(self, *args: Any, **kwargs: Any) -> Any:
            sent = time.perf_counter()
            reply = self.client.post(*args, **kwargs)
            requests.append(time.perf_counter() - sent)
            return reply

    def timed(self: Any, client: Any, interval: Any) -> None:
        sent = time.perf_counter()
        plain(self, TimedClient(client), interval)
        posts.append(time.perf_counter() - sent)

    demo._Feeder._post = timed  # type: ignore[method-assign]
    marks: dict[str, float] = {}
    closed: list[int] = []

    def ready() -> None:
        marks["ready"] = time.perf_counter()

    def on_interval(done: int, _total: int) -> None:
        closed.append(done)
        marks["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "node"
        port = free_port()
        options = DemoOptions(
            out_dir,
            port,
            day_s=0.0,
            linger=False,
            plots=False,
            api=lambda ports: create_app(
                ports.store,
                Settings(data_dir=out_dir),
                chain_id=ports.chain_id,
                market=ports.market,
            ),
        )
        started = time.perf_counter()
        result = run_demo(
            scenario,
            str(args.scenario),
            LocalSigner.generate(),
            options,
            stop=threading.Event(),
            on_ready=ready,
            on_interval=on_interval,
        )
        ended = time.perf_counter()
        store = open_store(result.node.database_url)
        try:
            stored = store.count("readings")
        finally:
            store.close()
    summary = result.node.summary
    meters = stored // max(len(closed), 1)
    wall = marks["last"] - marks["ready"]
    live = summary.live
    print(
        f"{args.scenario}, {args.days} day(s): node start-up {marks['ready'] - started:.1f} s, "
        f"{len(closed)} intervals closed in {wall:.1f} s ({wall / len(closed) * 1e3:.0f} ms "
        f"per interval), shut-down {ended - marks['last']:.1f} s"
    )
    print(
        f"readings stored {stored:,} (~{meters} meters x {len(closed)} intervals; stored on "
        f"arrival {summary.pipeline.stored_on_arrival:,}; closed complete "
        f"{live.closed_complete if live else '?'})"
    )
    print(f"node ingest: {stored / wall:,.0f} readings/s over the intervals' wall time")
    print(
        f"of which the meters' POSTs (collect, sign, send, until stored): {sum(posts):.1f} s, "
        f"{sum(posts) / len(posts) * 1e3:.0f} ms per interval = {stored / sum(posts):,.0f} "
        "readings/s while posting"
    )
    print(
        f"of which the HTTP requests alone (sent until the node's ingest replied, stored): "
        f"{sum(requests):.1f} s, {sum(requests) / len(requests) * 1e3:.0f} ms per interval = "
        f"{stored / sum(requests):,.0f} readings/s"
    )
    print(
        f"reference: .venv/bin/python bench/bench_http.py --meters {meters} "
        f"--per-bundle 1 --per-request {meters}"
    )


if __name__ == "__main__":
    main()
