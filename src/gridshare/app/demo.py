"""``gridshare demo``: the live node, driven over the wire by a simulated community.

The node is the one :func:`gridshare.app.node.run_node` runs for a real community (ingest,
the interval pipeline, the ledger, the REST API); the simulator replaces only what is
simulated:

- **the meters** post their signed readings to the node's HTTP ingest
  (``POST /v1/readings``), one interval after another, each once the node has closed the
  one before (so the devices have had that interval's setpoints, as in ``simulate``);
- **the devices, the main grid and the event channel** are the simulated world's, in this
  process (setpoints reach the simulated batteries and plants, the storm islands the
  community, demand-response events reach the enrolled members);
- **the members' trading agents** sign with keys derived from the scenario's seed, inside
  the node's market step (the only seed-derived keys, as in ``simulate``).

Time runs from the scenario's first interval at a chosen pace (a simulated day per
``day_s`` seconds; 0: as fast as the node closes intervals). For the same scenario the
steps' figures equal ``simulate``'s: the run is the same, over the wire.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from gridshare.app.ledger import Registration
from gridshare.app.node import ApiPorts, Members, NodeOptions, NodeResult, run_node
from gridshare.app.simulate import (
    SIMULATION_INTERVALS_PER_TRANSACTION,
    fresh_chain,
    fresh_sqlite,
    run_plots,
)
from gridshare.app.steps import Surroundings, Trading
from gridshare.errors import GridshareError
from gridshare.ledger.keys import Signer
from gridshare.metering.wire import bundle_to_json
from gridshare.simulator.live import simulated_members
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.run import build_simulation
from gridshare.simulator.scenario import Scenario
from gridshare.simulator.source import SimulatedMeterSource
from gridshare.storage import open_store
from gridshare.units import SECONDS_PER_DAY, Interval

__all__ = ["DemoError", "DemoOptions", "DemoResult", "run_demo"]


class DemoError(GridshareError):
    """The simulated meters could not feed the node."""


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path
    port: int
    host: str = "127.0.0.1"
    day_s: float = 60.0
    """Wall seconds per simulated day (0: as fast as the node closes intervals)."""
    linger: bool = False
    """After the scenario's last interval, keep serving the API until stopped."""
    api: Callable[[ApiPorts], Any] | None = None
    """Builds the REST API from what the node hands it (:class:`ApiPorts`)."""
    plots: bool = True
    """At the end, plot what the store holds (as ``simulate`` does)."""


@dataclass
class DemoResult:
    node: NodeResult
    plots: list[Path]


class _SimulatedNow:
    """The node's clock in the demo: the end of the newest interval the meters sent."""

    def __init__(self, start_s: int) -> None:
        self.now_s = float(start_s)

    def __call__(self) -> float:
        return self.now_s


class _Feeder:
    """The simulated meters, posting each interval's signed bundles to the node once it
    has closed the interval before."""

    def __init__(
        self,
        url: str,
        intervals: Iterator[Interval],
        source: SimulatedMeterSource,
        fleet: SimulatedMeterFleet,
        pace_s: float,
        stop: threading.Event,
        now: _SimulatedNow,
    ) -> None:
        self.url = url
        self.now = now
        self.intervals = intervals
        self.source = source
        self.fleet = fleet
        self.pace_s = pace_s
        self.stop = stop
        self.closed = 0
        self.error: str | None = None
        self._changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="simulated-meters", daemon=True)

    def on_closed(self, done: int) -> None:
        with self._changed:
            self.closed = done
            self._changed.notify_all()

    def _wait_closed(self, count: int) -> bool:
        with self._changed:
            while self.closed < count:
                if self.stop.is_set():
                    return False
                self._changed.wait(0.1)
        return True

    def _run(self) -> None:
        began = time.monotonic()
        try:
            with httpx.Client(base_url=self.url, timeout=120) as client:
                for k, interval in enumerate(self.intervals):
                    if not self._wait_closed(k):
                        return
                    delay = began + k * self.pace_s - time.monotonic()
                    if delay > 0 and self.stop.wait(delay):
                        return
                    self._post(client, interval)
        except (httpx.HTTPError, DemoError) as exc:
            self.error = f"the simulated meters could not post to {self.url}: {exc}"
            self.stop.set()

    def _post(self, client: httpx.Client, interval: Interval) -> None:
        bundles = self.fleet.bundles(self.source.collect(interval))
        self.now.now_s = float(interval.start_s + interval.length_s)  # the interval is over
        body = orjson.dumps({"bundles": [bundle_to_json(b) for b in bundles]})
        reply = client.post("/v1/readings", content=body)
        if reply.status_code != httpx.codes.OK or reply.json().get("rejected"):
            raise DemoError(f"interval {interval.start}: {reply.status_code} {reply.text[:300]}")


def run_demo(
    scenario: Scenario,
    scenario_name: str,
    operator: Signer,
    options: DemoOptions,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    on_interval: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Start the node in ``options.out_dir`` (afresh) and drive it with the scenario's
    simulated community until its last interval (then, with ``linger``, until ``stop``).
    ``on_interval(done, total)`` follows the intervals closed."""
    stop = stop or threading.Event()
    out_dir = options.out_dir
    fresh_chain(out_dir)
    fresh_sqlite(out_dir)
    shutil.rmtree(out_dir / "api", ignore_errors=True)  # the session secret of a past run
    community, clock, source, _weather, start, _end = build_simulation(scenario, scenario_name)
    simulated = simulated_members(scenario, community, operator.address)
    members = Members(
        Registration(simulated.devices, simulated.accounts),
        Trading(simulated.agents, simulated.escrow_micros),
        seed=simulated.seed,
    )
    interval_s = int(community.interval_length.total_seconds())
    first_s = int(start.timestamp())
    now = _SimulatedNow(first_s)
    node = NodeOptions(
        out_dir,
        http_port=options.port,
        http_host=options.host,
        first_start_s=first_s,
        intervals=clock.count,
        grace_s=float(SECONDS_PER_DAY),  # every meter reports: intervals close complete
        kind="demo",
        now=now,
        flush_every=SIMULATION_INTERVALS_PER_TRANSACTION,
        linger=options.linger,
        api=options.api,
    )
    feeder = _Feeder(
        f"http://{options.host}:{options.port}",
        iter(clock.intervals()),
        source,
        SimulatedMeterFleet(community, scenario.community.seed),
        options.day_s * interval_s / SECONDS_PER_DAY,
        stop,
        now,
    )

    def closed(done: int) -> None:
        feeder.on_closed(done)
        if on_interval is not None:
            on_interval(done, clock.count)

    def ready() -> None:
        feeder.thread.start()
        if on_ready is not None:
            on_ready()

    try:
        result = run_node(
            scenario,
            community,
            members,
            operator,
            node,
            stop=stop,
            on_interval=closed,
            on_ready=ready,
            surroundings=Surroundings(source, source, source),
        )
    finally:
        stop.set()
        if feeder.thread.is_alive():
            feeder.thread.join(timeout=10)
    if feeder.error is not None:
        raise DemoError(feeder.error)
    plots: list[Path] = []
    if options.plots:
        store = open_store(result.database_url)
        try:
            plots = run_plots(store, community, source, out_dir, None)
        finally:
            store.close()
    return DemoResult(result, plots)
