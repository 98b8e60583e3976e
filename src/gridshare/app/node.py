"""The live node: ingest, the interval pipeline on the real clock, the ledger, one wiring.

:func:`run_node` is what ``gridshare serve`` (:mod:`gridshare.app.serve`) and
``gridshare meters listen`` (:mod:`gridshare.app.live`) both run. They differ only in who
the members are: a node's members bring their own registered device addresses and
accounts; ``listen`` stands the scenario's simulated members in for them.

Readings arrive signed over HTTP and/or MQTT and are validated and stored on arrival
(:class:`IngestService`); the ingest clock closes each interval when every meter
reported or it is overdue; the steps (accounting, commitment, certification, market,
balancing) run on what the store holds, one interval per database transaction.

**Restarts.** The store, not memory, says where to go on: the first interval is the one
after the newest closed interval (its balance is written in the interval's transaction),
so intervals missed while the node was down are closed, oldest first, with the readings
that arrived (readings are durable on arrival; those stored for an interval not yet
closed count towards its completeness after a restart too). Each start adds a run row
``<community>-<kind>-<unix ms>``; rows of earlier starts still "running" (a killed
process) become "interrupted". The chain's funding is keyed by ``<community>-<kind>``, so
a restart does not fund twice, and the ledger adapters skip what the chain already holds
(registrations, commitments, certificates, settlements), so an interval re-run after a
crash between its chain transactions and its database commit is not doubled.
``GRIDSHARE_FAULT_KILL_AFTER`` (:mod:`gridshare.app.faults`) kills the node at such a
point, to test exactly that.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn

from gridshare.app.audit import node_verifier, verifier
from gridshare.app.configuration import community_configuration
from gridshare.app.faults import install_from_environment
from gridshare.app.ledger import CommunityLedger, Registration, connect_ledger
from gridshare.app.members_chain import MembersChain
from gridshare.app.opt_outs import MemberOptOuts
from gridshare.app.pauses import BetweenIntervals
from gridshare.app.steps import Surroundings, Trading, build_steps
from gridshare.balancing.demand_response import EventChannel
from gridshare.control.mqtt import MqttCommandPublisher, MqttDeviceControl, MqttGridStatus
from gridshare.control.mqtt.messages import relay_device_id
from gridshare.errors import ConfigurationError, GridshareError
from gridshare.ingest.clock import IngestClock
from gridshare.ingest.http import create_app
from gridshare.ingest.mqtt import BrokerConfig, MqttIngest
from gridshare.ingest.service import IngestService, StoredReadingSource
from gridshare.ledger.keys import Signer
from gridshare.ledger.relay import ChainRelay
from gridshare.market.orders import MarketVenue
from gridshare.model import Battery, Community, DispatchableGenerator, DispatchMode, Role
from gridshare.model.configuration import CommunityConfiguration
from gridshare.model.summary import LiveFacts, RunSummary
from gridshare.pipeline import Pipeline
from gridshare.pipeline.audit import AuditReport, Progress
from gridshare.pipeline.ports import DeviceControl, GridStatus, Setpoints
from gridshare.simulator.balancing import enrolments
from gridshare.simulator.market import market_rules
from gridshare.simulator.scenario import Scenario
from gridshare.storage import SqlStore, default_sqlite_url, open_store

__all__ = ["ApiPorts", "Members", "NodeError", "NodeOptions", "NodeResult", "run_node"]

HTTP_START_TIMEOUT_S = 10.0


class NodeError(GridshareError):
    """The node cannot start: a port is taken, or a service it needs is unreachable."""


@dataclass(frozen=True)
class Members:
    """Who the node serves: the addresses the chain registers and who trades."""

    registration: Registration
    trading: Trading
    seed: int = 0
    """The simulated members' seed, recorded with the run (0: members with their own keys)."""
    joined: frozenset[bytes] = frozenset()
    """Accounts of the members who joined through a registration (funded one by one)."""


@dataclass(frozen=True)
class ApiPorts:
    """What the node hands the REST API it mounts (the app layer never imports the api)."""

    store: SqlStore
    """A store of the API's own."""
    chain_id: int
    """The ledger's chain."""
    market: MarketVenue | None
    """The market members send orders to (None: the node runs none)."""
    configuration: CommunityConfiguration
    """The community's configuration, read-only."""
    verifier: Callable[[Progress], AuditReport] | None
    """Runs ``gridshare verify`` as a job: on the embedded chain (one process's, which
    the node holds), by the node itself between two intervals; on a JSON-RPC node, with a
    store and chain connection of its own, beside the node."""
    stop: threading.Event
    """Stops this run of the node: the API's live streams end with it."""
    chain: MembersChain | None = None
    """Members' own transactions relayed, their gas and escrow (None: no market)."""


@dataclass(frozen=True)
class NodeOptions:
    """Where the node keeps its data, what it listens on, and how long it runs."""

    data_dir: Path
    """The embedded chain, deployments and (by default) the SQLite store."""
    database_url: str | None = None
    """None: SQLite ``data_dir/gridshare.sqlite``."""
    chain_url: str | None = None
    """None: the embedded chain in ``data_dir/chain``."""
    broker: BrokerConfig | None = None
    """None: no MQTT (no device commands; the main grid is taken as connected)."""
    mqtt_ingest: bool = True
    """Also take readings from the broker (when there is one)."""
    client_id: str | None = None
    http_port: int | None = None
    """None: no HTTP ingest."""
    http_host: str = "127.0.0.1"
    api_token: str | None = None
    first_start_s: int | None = None
    """First interval of a store that has closed none; None: the interval in progress."""
    intervals: int | None = None
    """Stop after closing this many (None: run until ``stop``)."""
    grace_s: float = 60.0
    kind: str = "node"
    mounts: Mapping[str, Any] = field(default_factory=dict)
    """ASGI apps mounted beside ingest on the HTTP server, by path."""
    now: Callable[[], float] = time.time
    """The node's clock, unix seconds (the demo's runs in simulated time)."""
    flush_every: int = 1
    """Intervals between the steps' chain transactions (a simulated day in the demo)."""
    linger: bool = False
    """After the last interval, keep serving the API until ``stop`` (the demo)."""
    api: Callable[[ApiPorts], Any] | None = None
    """Builds the REST API (an ASGI app, mounted at ``/`` after ingest's routes) from
    :class:`ApiPorts`, once the ledger is connected."""

    @property
    def store_url(self) -> str:
        return self.database_url or default_sqlite_url(self.data_dir)


@dataclass
class NodeResult:
    summary: RunSummary
    run_id: str
    first_start_s: int
    database_url: str


def _controlled_devices(community: Community) -> dict[str, int]:
    """Batteries and load-following plants, by asset id, to their owner's position."""
    position = {p.participant_id: i for i, p in enumerate(community.participants)}
    return {
        a.asset_id: position[a.participant_id]
        for a in community.assets
        if isinstance(a, Battery)
        or (isinstance(a, DispatchableGenerator) and a.dispatch_mode is DispatchMode.FOLLOW_LOAD)
    }


def _relays(community: Community) -> dict[int, str]:
    """Each member's connection relay (the operator has none), by participant position."""
    return {
        i: relay_device_id(p.participant_id)
        for i, p in enumerate(community.participants)
        if p.role is not Role.OPERATOR
    }


def bind_http(host: str, port: int) -> socket.socket:
    """The listening socket of the HTTP server, bound before anything else starts."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # a restart binds again at once: connections of the stopped node may linger in
    # TIME_WAIT (another process listening on the port still refuses the bind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise NodeError(
            f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc} "
            "(another process holds the port? choose another with --port)"
        ) from None
    sock.setblocking(False)
    return sock


def probe_broker(broker: BrokerConfig, timeout_s: float = 5.0) -> None:
    """Fail fast, before onboarding, when the configured broker does not answer."""
    try:
        with socket.create_connection((broker.host, broker.port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise NodeError(
            f"cannot reach the MQTT broker at {broker.host}:{broker.port}: "
            f"{exc.strerror or exc} (unset GRIDSHARE_MQTT_URL to run without MQTT)"
        ) from None


class _NoDevices:
    """Device control without a control channel: setpoints are recorded, not sent."""

    def apply(self, setpoints: Setpoints) -> None:
        return None


class _GridAssumedConnected:
    """Grid status without a live signal: the main grid is taken as connected."""

    def is_connected(self, interval_start_s: int) -> bool:
        return True


@dataclass
class _Ingress:
    """Where signed readings come in: the HTTP server and/or the MQTT subscriber."""

    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    subscriber: MqttIngest | None = None

    def start(
        self,
        service: IngestService,
        sock: socket.socket | None,
        options: NodeOptions,
        community_id: str,
        mounts: Mapping[str, Any],
    ) -> None:
        if sock is not None:
            self.serve_http(service, sock, options, mounts)
        if options.broker is not None and options.mqtt_ingest:
            self.subscriber = MqttIngest(
                service, community_id, options.broker, client_id=options.client_id
            )
            self.subscriber.start()

    def serve_http(
        self,
        service: IngestService,
        sock: socket.socket,
        options: NodeOptions,
        mounts: Mapping[str, Any],
    ) -> None:
        app = create_app(service, api_token=options.api_token)
        for path, mounted in mounts.items():
            app.mount(path, mounted)
        host, port = sock.getsockname()[:2]
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + HTTP_START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise NodeError(f"the HTTP server on {host}:{port} did not start")
            time.sleep(0.01)

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.stop()
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


@dataclass
class _Field:
    """The devices and the grid: setpoints and demand-response events out, the main grid's
    state in, over MQTT when there is a broker."""

    control: DeviceControl
    grid: GridStatus
    channel: EventChannel | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def start(cls, scenario: Scenario, community: Community, broker: BrokerConfig | None) -> _Field:
        if broker is None:
            return cls(_NoDevices(), _GridAssumedConnected())
        interval_s = int(community.interval_length.total_seconds())
        publisher = MqttCommandPublisher(
            broker, community.community_id, enrolments(scenario, community)
        )
        publisher.start()
        closers = [publisher.close]
        try:
            control = MqttDeviceControl(
                publisher, interval_s, _controlled_devices(community), _relays(community)
            )
            grid = MqttGridStatus(broker, community.community_id)
            grid.start()
        except BaseException:
            publisher.close()
            raise
        closers.append(grid.close)
        return cls(control, grid, publisher, closers)

    def close(self) -> None:
        for close in self.closers:
            close()


def _field(
    scenario: Scenario,
    community: Community,
    broker: BrokerConfig | None,
    closing: list[Callable[[], None]],
) -> Surroundings:
    """The devices, grid status and event channel over MQTT (none without a broker)."""
    started = _Field.start(scenario, community, broker)
    closing.append(started.close)
    return Surroundings(started.control, started.grid, started.channel)


def _answering(surroundings: Surroundings, store: SqlStore) -> Surroundings:
    """The surroundings with the members' own opt-outs (sent through the API) among the
    answers to demand-response events."""
    channel = surroundings.channel
    if channel is None:
        return surroundings
    community = store.community
    answering = MemberOptOuts(
        channel,
        [p.participant_id for p in community.participants],
        lambda event_id: store.dr_opt_outs(community.community_id, event_id),
    )
    return replace(surroundings, channel=answering)


def _connect(
    scenario: Scenario,
    community: Community,
    members: Members,
    operator: Signer,
    options: NodeOptions,
) -> CommunityLedger:
    """The community's ledger, with the fault ``GRIDSHARE_FAULT_KILL_AFTER`` names armed
    on its transactions (none when unset)."""
    ledger = connect_ledger(
        scenario,
        community,
        members.registration,
        options.data_dir,
        operator,
        run_id=f"{community.community_id}-{options.kind}",
        escrow_micros=members.trading.escrow_micros,
        chain_url=options.chain_url,
        joined=members.joined,
    )
    try:
        install_from_environment(ledger.connection.transactions)
    except BaseException:
        ledger.close()
        raise
    return ledger


def _escrow_from_chain(trading: Trading, ledger: CommunityLedger) -> Trading:
    """The members' escrow as the contract holds it now: what they deposited, less what
    settled (after a restart, the book must not count on money already spent)."""
    market = ledger.chains.market
    if market is None:
        return trading
    return replace(trading, escrow_micros={m: market.escrow(m) for m in trading.escrow_micros})


def _venue(scenario: Scenario, community: Community, ledger: CommunityLedger) -> MarketVenue | None:
    """The community's market as members see it (None: the node runs no market)."""
    if ledger.market is None:
        return None
    interval_s = int(community.interval_length.total_seconds())
    return MarketVenue(
        community.community_id,
        ledger.connection.transactions.chain_id,
        bytes.fromhex(ledger.market.address[2:]),
        market_rules(scenario.market, interval_s),
    )


def _first_interval(store: SqlStore, community: Community, options: NodeOptions) -> int:
    """The store decides: after the newest closed interval; else as asked; else now."""
    length_s = int(community.interval_length.total_seconds())
    last = store.last_closed_start_s(community.community_id)
    if last is not None:
        return last + length_s
    if options.first_start_s is not None:
        if options.first_start_s % length_s:
            raise ConfigurationError(
                f"first interval {options.first_start_s}: interval starts are multiples of "
                f"{length_s} s since the epoch"
            )
        return options.first_start_s
    return int(options.now()) // length_s * length_s


def _open_ingest(
    store: SqlStore,
    ingest_store: SqlStore,
    community: Community,
    members: Members,
    ledger: CommunityLedger,
    options: NodeOptions,
) -> tuple[IngestService, int]:
    """The ingest service on the registered devices, and the first interval to close."""
    store.register_community(community)
    ingest_store.register_community(community)
    devices = list(members.registration.devices)
    store.set_meter_devices(
        {m.meter_id: "0x" + d.hex() for m, d in zip(community.meters, devices, strict=True)}
    )
    store.set_participant_accounts(members.registration.accounts)  # members sign in with them
    first = _first_interval(store, community, options)
    by_device = {d: m.meter_id for m, d in zip(community.meters, devices, strict=True)}
    metering = ledger.metering
    # suspensions come from the registry; intervals already committed stay closed
    service = IngestService.for_store(
        ingest_store,
        now=options.now,
        inactive={by_device[d] for d in metering.inactive_devices(devices)},
        closed_before_s=max(first, metering.last_committed_end() or 0),
    )
    service.recall(first)  # readings stored before a restart count towards completeness
    return service, first


def _following_registry(
    service: IngestService,
    ledger: CommunityLedger,
    members: Members,
    on_interval: Callable[[int], None] | None,
) -> Callable[[object], None]:
    """After each closed interval: follow suspensions made on chain while running (the
    devices' states are read again only when the registry logged something since the
    last look), then tell ``on_interval`` how many intervals this run closed."""
    devices = list(members.registration.devices)
    meters = service.store.community.meters
    by_device = {d: m.meter_id for m, d in zip(meters, devices, strict=True)}
    metering = ledger.metering
    seen = [metering.latest_block()]  # the states at start are the service's
    done = [0]

    def closed(_closed: object) -> None:
        done[0] += 1
        seen[0], changed = metering.registry_changes(seen[0])
        if changed:
            service.set_inactive({by_device[d] for d in metering.inactive_devices(devices)})
        if on_interval:
            on_interval(done[0])

    return closed


def _mounts(
    options: NodeOptions,
    scenario: Scenario,
    community: Community,
    ledger: CommunityLedger,
    node: tuple[SqlStore, BetweenIntervals],
    stop: threading.Event,
    closing: list[Callable[[], None]],
) -> dict[str, Any]:
    """The ASGI apps to serve beside ingest: the options' own and the REST API (over a
    store of its own). Its verify jobs read the node's embedded chain between intervals
    (``node``: the pipeline's store and pauses), or open their own connection to a
    JSON-RPC node."""
    mounts = dict(options.mounts)
    if options.api is None:
        return mounts
    api_store = open_store(options.store_url)
    closing.append(api_store.close)
    if options.chain_url is None:
        audit = node_verifier(ledger.connection, *node)
    else:
        audit = verifier(options.data_dir, options.database_url, options.chain_url)
    mounts["/"] = options.api(
        ApiPorts(
            api_store,
            ledger.connection.transactions.chain_id,
            _venue(scenario, community, ledger),
            community_configuration(scenario, community),
            audit,
            stop,
            None
            if ledger.market is None
            else MembersChain(
                ChainRelay(ledger.connection.transactions, ledger.metering.deployment),
                node[1],
            ),
        )
    )
    return mounts


def run_node(
    scenario: Scenario,
    community: Community,
    members: Members,
    operator: Signer,
    options: NodeOptions,
    *,
    stop: threading.Event | None = None,
    on_interval: Callable[[int], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    surroundings: Surroundings | None = None,
) -> NodeResult:
    """Run the live node until ``stop`` is set (or ``options.intervals`` are closed).

    The devices, the main grid's state and the event channel are MQTT's when a broker is
    configured (else none); ``surroundings`` replaces them (the demo's simulated ones).

    The current interval's transaction finishes before the node stops; then the steps
    write their totals, ingest stops and the store and chain are closed. Raises
    :class:`NodeError` (or another :class:`GridshareError`) when a port is taken or the
    database, the JSON-RPC node or the broker is unreachable.
    """
    stop = stop or threading.Event()
    cid = community.community_id
    options.data_dir.mkdir(parents=True, exist_ok=True)
    url = options.store_url
    store = open_store(url)  # unreachable database: StorageError
    closing: list[Callable[[], None]] = [store.close]
    try:
        sock = bind_http(options.http_host, options.http_port) if options.http_port else None
        if sock is not None:
            closing.append(sock.close)
        if options.broker is not None:
            probe_broker(options.broker)
        ingest_store = open_store(url)
        closing.append(ingest_store.close)
        ledger = _connect(scenario, community, members, operator, options)
        closing.append(ledger.close)
        trading = _escrow_from_chain(members.trading, ledger)
        service, first = _open_ingest(store, ingest_store, community, members, ledger, options)
        pauses = BetweenIntervals()  # verify jobs on the embedded chain run between intervals
        closing.append(pauses.close)
        mounts = _mounts(options, scenario, community, ledger, (store, pauses), stop, closing)
        ingress = _Ingress()
        closing.append(ingress.close)
        ingress.start(service, sock, options, cid, mounts)
        steps = build_steps(
            scenario,
            community,
            _answering(surroundings or _field(scenario, community, options.broker, closing), store),
            trading=trading,
            chains=ledger.chains,
            flush_every=options.flush_every,
        )
        clock = IngestClock(
            service,
            first,
            community.interval_length,
            len(community.meters),
            grace_s=options.grace_s,
            now=options.now,
            stop=stop,
            max_intervals=options.intervals,
            idle=pauses.run_pending,
        )
        prefix = f"{cid}-{options.kind}-"
        store.interrupt_runs(cid, prefix)
        run_id = f"{prefix}{time.time_ns() // 1_000_000}"
        store.begin_run(run_id, cid, options.kind, members.seed)
        pipeline = Pipeline(
            community, clock, StoredReadingSource(service), store, steps, run_id=run_id,
            on_interval=_following_registry(service, ledger, members, on_interval),
        )  # fmt: skip
        if on_ready is not None:
            on_ready()
        try:
            report = pipeline.run()
        except BaseException:
            store.finish_run(run_id, "failed", None)
            raise
        live = LiveFacts(service.counts.figures(), clock.closed_complete, clock.closed_overdue)
        summary = RunSummary(cid, report, pipeline.summaries(), live=live)
        store.finish_run(run_id, "finished", summary)
        if options.linger:
            stop.wait()
        return NodeResult(summary, run_id, first, url)
    finally:
        for close in reversed(closing):
            close()
