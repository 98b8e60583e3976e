"""`gridshare serve` as an operator runs it: a subprocess on a free port, fed signed readings
over HTTP by devices whose keys only the test holds, stopped with SIGTERM and with kill -9,
restarted, and audited with `gridshare verify`."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from gridshare.cli import app
from gridshare.ingest.mqtt import BrokerConfig, MqttPublisher, readings_topic
from gridshare.ledger.chain import open_chain
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.metering import MeteringLedger
from gridshare.metering.wire import (
    ReadingBundle,
    bundle_to_json,
    device_address,
    encode_bundle,
    make_bundle,
    sign_bundle,
)
from gridshare.model import Role
from gridshare.simulator.community import build_community
from gridshare.simulator.live import scenario_bundles
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.run import prepare
from gridshare.simulator.weather import read_typical_year
from tests.integration.conftest import BROKER_URL, free_port, poll_until, unique_id, wait_until
from tests.integration.test_api_market import wallet_order
from tests.siwe import DOMAIN, URI, new_account, personal_sign, siwe_text

pytestmark = pytest.mark.slow  # each start onboards the community on the embedded chain

TINY = Path(__file__).parents[1] / "scenarios" / "data" / "tiny.toml"
SRC = Path(__file__).parents[2] / "src"
INTERVAL_S = 900
START_TIMEOUT_S = 120.0


def _address(key: bytes) -> str:
    return "0x" + device_address(key).hex()


@dataclass
class Devices:
    """The community's meters as devices holding their own keys (the node sees only their
    addresses), and each interval's signed bundles, re-based to start at ``first``."""

    registry: Path
    first: int
    intervals: list[list[ReadingBundle]]
    members: dict[str, LocalAccount]
    """Each member's own account (its key held here, its address in the registry)."""

    @classmethod
    def make(cls, directory: Path, first: int, count: int) -> Devices:
        spec = prepare(TINY)
        community = build_community(spec, read_typical_year(spec.weather.source).location)[0]
        fleet = SimulatedMeterFleet(community, seed=0)
        fleet.keys = [secrets.token_bytes(32) for _ in community.meters]
        fleet.addresses = [_address(k) for k in fleet.keys]
        members = {p.participant_id: new_account()
                   for p in community.participants if p.role is not Role.OPERATOR}  # fmt: skip
        lines = ["[accounts]"]
        lines += [f'"{pid}" = "{account.address}"' for pid, account in members.items()]
        lines.append("[devices]")
        lines += [f'"{m.meter_id}" = "{a}"' for m, a in zip(community.meters, fleet.addresses, strict=True)]  # fmt: skip  # noqa: E501
        registry = directory / "registry.toml"
        registry.write_text("\n".join(lines) + "\n", "utf-8")
        bundles = []
        for _k, _total, part in scenario_bundles(spec, first, fleet):
            bundles.append(part)
            if len(bundles) == count:
                break
        return cls(registry, first, bundles, members)

    def start_s(self, k: int) -> int:
        return self.first + k * INTERVAL_S


class Node:
    """One `gridshare serve` process; its output goes to files (never a full pipe)."""

    def __init__(
        self,
        directory: Path,
        devices: Devices,
        port: int,
        *args: str,
        settings: dict[str, str] | None = None,
        scenario: Path = TINY,
    ) -> None:
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSHARE_")}
        env |= {
            "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "GRIDSHARE_KEY_PASSWORD": "operator-test-password",
            "GRIDSHARE_KEY_KDF_ITERATIONS": "1000",
            "COLUMNS": "200",
        } | (settings or {})
        runs = len(list(directory.glob("node-*.out")))
        self.out = directory / f"node-{runs}.out"
        self.err = directory / f"node-{runs}.err"
        command = [
            sys.executable, "-m", "gridshare", "serve", str(scenario),
            "--registry", str(devices.registry), "--data-dir", str(directory / "data"),
            "--port", str(port), *args,
        ]  # fmt: skip
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, env=env)  # noqa: S603

    def output(self) -> str:
        return self.out.read_text("utf-8", "replace") + self.err.read_text("utf-8", "replace")

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "the node's HTTP server", START_TIMEOUT_S, poll_s=0.1)
        # HTTP answers before the clock starts; the node prints when the pipeline runs
        wait_until(lambda: "serving on" in self.output(), "the node to start", 30, 0.05)

    def post(self, bundles: Sequence[ReadingBundle]) -> dict[str, object]:
        body = orjson.dumps({"bundles": [bundle_to_json(b) for b in bundles]})
        reply = httpx.post(f"{self.url}/v1/readings", content=body, timeout=60)
        assert reply.status_code == 200, reply.text
        answer: dict[str, object] = reply.json()
        return answer

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"serve did not stop within {timeout_s} s:\n{self.output()}")


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait(10)


def _query(directory: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{directory / 'data' / 'gridshare.sqlite'}?mode=ro", uri=True) as c:
        return list(c.execute(sql, args))


_READING_KEYS = (
    "SELECT r.interval_start_s, m.meter_id FROM readings r JOIN meters m USING (meter_pk)"
)


def _feed(url: str, bundles: Sequence[ReadingBundle], acked: list[ReadingBundle]) -> None:
    """Post one bundle per request, noting each acknowledged one, until the node dies."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for bundle in bundles:
            body = orjson.dumps({"bundles": [bundle_to_json(bundle)]})
            try:
                reply = client.post("/v1/readings", content=body)
            except httpx.TransportError:
                return
            if reply.status_code == 200 and reply.json()["inserted"] == 1:
                acked.append(bundle)


def _count(directory: Path, table: str) -> int:
    return int(_query(directory, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608


def _iso(start_s: int) -> str:
    return datetime.fromtimestamp(start_s, UTC).isoformat()


def test_serve_stops_gracefully_resumes_after_kill_9_and_loses_or_doubles_nothing(
    tmp_path: Path, nodes: list[Node]
) -> None:
    now_s = int(time.time())
    first = (now_s // INTERVAL_S - 12) * INTERVAL_S  # twelve intervals ago: all ended
    devices = Devices.make(tmp_path, first, 10)
    meters = len(devices.intervals[0])
    port = free_port()

    # 1. a fresh node; four whole intervals and part of a fifth arrive over HTTP
    node = Node(tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600")
    nodes.append(node)
    node.wait_ready()
    whole = [b for k in range(4) for b in devices.intervals[k]]
    assert node.post(whole)["inserted"] == 4 * meters
    assert node.post(devices.intervals[4][:5])["inserted"] == 5
    wait_until(lambda: _count(tmp_path, "interval_commitments") == 4, "4 commitments", 60, 0.1)
    assert node.stop() == 0, node.output()
    assert _count(tmp_path, "interval_balances") == 4  # the fifth is incomplete and not due
    assert _count(tmp_path, "readings") == 4 * meters + 5
    assert _query(tmp_path, "SELECT status FROM runs") == [("finished",)]

    # 2. the same command again (no --start): resumes at the fifth interval
    node = Node(tmp_path, devices, port, "--grace-s", "3600")
    nodes.append(node)
    node.wait_ready()
    again = node.post(whole + devices.intervals[4][:5])  # closed, and already stored
    assert again["inserted"] == 0
    assert again["duplicates"] == 5
    assert again["rejected"] == {"interval_closed": 4 * meters}
    assert node.post(devices.intervals[4][5:] + devices.intervals[5])["inserted"] == 2 * meters - 5
    wait_until(lambda: _count(tmp_path, "interval_balances") == 6, "6 closed intervals", 60, 0.1)
    received = _query(
        tmp_path, "SELECT received FROM interval_balances WHERE interval_start_s = ?",
        devices.start_s(4),
    )  # fmt: skip
    assert received == [(meters,)]  # five readings from before the stop, the rest after

    # 3. kill -9 while a device is posting its readings one request at a time
    feeding = devices.intervals[6] + devices.intervals[7][:3]
    acked: list[ReadingBundle] = []
    feeder = threading.Thread(target=_feed, args=(node.url, feeding, acked), daemon=True)
    feeder.start()
    wait_until(lambda: len(acked) >= meters // 2, "half the posts acknowledged", 60, 0.01)
    node.process.kill()
    assert node.process.wait(30) == -signal.SIGKILL
    feeder.join(60)
    assert 0 < len(acked) < len(feeding), "the kill came after the last post"
    stored = set(_query(tmp_path, _READING_KEYS))
    assert {(int(b.start[0]), b.meter_id) for b in acked} <= stored  # acknowledged: durable

    # 4. restart: everything is offered again, every interval missed while down is closed
    node = Node(tmp_path, devices, port, "--grace-s", "5")
    nodes.append(node)
    node.wait_ready()
    rest = node.post(feeding + devices.intervals[7][3:] + devices.intervals[8])
    assert rest["inserted"] == 9 * meters - len(stored)  # each reading stored once
    # the twelve intervals that ended before the first start (the one in progress may close
    # too when it ends during the test)
    wait_until(lambda: _count(tmp_path, "interval_balances") >= 12, "12 closed", 90, 0.1)
    assert node.stop(signal.SIGINT) == 0, node.output()
    assert "Traceback" not in node.output()

    starts = [
        int(r[0])
        for r in _query(tmp_path, "SELECT interval_start_s FROM interval_balances ORDER BY 1")
    ]
    assert starts[:12] == [devices.start_s(k) for k in range(12)]
    assert _count(tmp_path, "readings") == 9 * meters  # nothing lost, nothing doubled
    per_interval = dict(
        _query(tmp_path, "SELECT interval_start_s, received FROM interval_balances")
    )
    assert [per_interval[devices.start_s(k)] for k in range(12)] == [meters] * 9 + [0] * 3
    committed = [
        int(r[0])
        for r in _query(tmp_path, "SELECT interval_start_s FROM interval_commitments ORDER BY 1")
    ]
    assert committed == [devices.start_s(k) for k in range(9)]  # empty intervals: nothing to commit
    statuses = [
        r[0] for r in _query(tmp_path, "SELECT status FROM runs ORDER BY started_at_s, run_id")
    ]
    assert statuses == ["finished", "interrupted", "finished"]

    ok = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "data")])
    assert ok.exit_code == 0, ok.output
    assert f"{9 * meters} stored readings proven by their device's signature" in " ".join(
        ok.output.split()
    )


def _seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _sign_in(url: str, account: LocalAccount) -> dict[str, str]:
    """A member's session on the node: the nonce, their signed EIP-4361 message, a token."""
    offered = httpx.post(f"{url}/v1/auth/nonce", timeout=10).json()
    text = siwe_text(account, offered["nonce"], datetime.now(UTC), chain_id=offered["chain_id"])
    reply = httpx.post(
        f"{url}/v1/auth/login",
        json={"message": text, "signature": personal_sign(account, text)},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_a_member_signs_in_to_the_node_with_their_own_key_and_reads_only_their_own(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """The node serves the REST API beside ingest: a member named in the registry signs in
    with the key only they hold, reads their meters' readings as posted, and is refused
    another member's."""
    first = (int(time.time()) // INTERVAL_S - 4) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 2)
    port = free_port()
    operator = new_account()
    api = {
        "GRIDSHARE_API_DOMAIN": DOMAIN,
        "GRIDSHARE_API_URI": URI,
        "GRIDSHARE_API_OPERATORS": f'["{operator.address}"]',
    }
    node = Node(tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600", settings=api)
    nodes.append(node)
    node.wait_ready()
    # the operator reads the community's configuration
    running = _sign_in(node.url, operator)
    community_id = list(devices.members)[0].split(":")[0]
    configuration = httpx.get(
        f"{node.url}/v1/communities/{community_id}/configuration", headers=running
    )
    assert configuration.status_code == 200, configuration.text
    assert configuration.json()["community_id"] == community_id
    posted = devices.intervals[0] + devices.intervals[1]
    assert node.post(posted)["inserted"] == len(posted)
    wait_until(lambda: _count(tmp_path, "interval_commitments") == 2, "2 commitments", 60, 0.1)
    # verify as a job of the running node: on its embedded chain, run between intervals
    started = httpx.post(f"{node.url}/v1/audit/verify", headers=running)
    assert started.status_code == 202, started.text
    job = f"{node.url}/v1/audit/verify/{started.json()['job_id']}"

    def finished() -> bool:
        return httpx.get(job, headers=running).json()["state"] != "running"

    wait_until(finished, "the verify job", 120, 0.2)
    verified = httpx.get(job, headers=running).json()
    assert verified["state"] == "passed", verified
    assert verified["findings"] is not None
    member, other = list(devices.members)[:2]
    headers = _sign_in(node.url, devices.members[member])
    window = {"start": _iso(first), "end": _iso(first + 2 * INTERVAL_S), "resolution": "15min"}
    mine = httpx.get(f"{node.url}/v1/members/{member}/readings", params=window, headers=headers)
    assert mine.status_code == 200, mine.text
    served = {
        (series["meter_id"], _seconds(point["start"]), point["import_wh"], point["export_wh"])
        for series in mine.json()["meters"]
        for point in series["points"]
    }
    expected = {
        (b.meter_id, int(t), int(i), int(e))
        for b in posted
        if b.meter_id.startswith(member + "/")
        for t, i, e in zip(b.start, b.import_wh, b.export_wh, strict=True)
    }
    assert expected  # the member has meters, and they reported
    assert served == expected
    theirs = httpx.get(f"{node.url}/v1/members/{other}/readings", params=window, headers=headers)
    assert theirs.status_code == 403, theirs.text
    assert theirs.json()["error"] == "not_yours"
    # a live stream ends with the node: SIGTERM ends it with its reason, then the node stops
    with httpx.stream("GET", f"{node.url}/v1/stream", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines) == ": gridshare live stream"
        node.process.send_signal(signal.SIGTERM)
        events = [line for line in lines if line.startswith(("event:", "data:"))]
    assert events[-2:] == ["event: end", 'data: {"reason":"shutdown"}'], events
    assert node.stop() == 0, node.output()


def test_serve_exits_non_zero_with_one_line_when_the_port_is_taken(
    tmp_path: Path, nodes: list[Node]
) -> None:
    devices = Devices.make(tmp_path, (int(time.time()) // INTERVAL_S - 2) * INTERVAL_S, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        node = Node(tmp_path, devices, port)
        nodes.append(node)
        assert poll_until(lambda: node.process.poll() is not None, 60, 0.05), node.output()
    assert node.process.returncode != 0
    out = node.output()
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in " ".join(out.split())
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("variable", "url", "message"),
    [
        ("GRIDSHARE_DATABASE_URL", "postgresql://x@127.0.0.1:1/none", "cannot open database"),
        ("GRIDSHARE_CHAIN_URL", "http://127.0.0.1:1", "the chain node did not answer properly"),
        ("GRIDSHARE_MQTT_URL", "mqtt://127.0.0.1:1", "cannot reach the MQTT broker at 127.0"),
    ],
)
def test_serve_exits_non_zero_with_one_line_when_a_service_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, url: str, message: str
) -> None:
    devices = Devices.make(tmp_path, (int(time.time()) // INTERVAL_S - 2) * INTERVAL_S, 1)
    for name in [n for n in os.environ if n.startswith("GRIDSHARE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDSHARE_KEY_PASSWORD", "operator-test-password")
    monkeypatch.setenv("GRIDSHARE_KEY_KDF_ITERATIONS", "1000")
    monkeypatch.setenv(variable, url)
    arguments = ["serve", str(TINY), "--registry", str(devices.registry)]
    arguments += ["--data-dir", str(tmp_path / "data"), "--port", str(free_port())]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.postgres
def _publish(broker: BrokerConfig, bundles: Sequence[ReadingBundle]) -> None:
    publisher = MqttPublisher(broker)
    try:
        publisher.publish_many(
            [(readings_topic("tiny", b.meter_id), encode_bundle(b)) for b in bundles]
        )
        publisher.flush()
    finally:
        publisher.close()


def test_serve_runs_on_postgresql_with_mqtt_ingest_by_settings_alone(
    tmp_path: Path, nodes: list[Node], postgres_url: str, broker: BrokerConfig
) -> None:
    """The node on PostgreSQL and MQTT by settings alone; readings published while it is
    down wait in its persistent session, and the restarted node stores and closes them."""
    first = (int(time.time()) // INTERVAL_S - 4) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 3)
    meters = len(devices.intervals[0])
    settings = {
        "GRIDSHARE_DATABASE_URL": postgres_url,
        "GRIDSHARE_MQTT_URL": BROKER_URL,
        "GRIDSHARE_MQTT_CLIENT_ID": unique_id("serve-test-"),
    }
    port = free_port()
    node = Node(
        tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600", settings=settings
    )
    nodes.append(node)
    node.wait_ready()
    assert node.post(devices.intervals[0])["inserted"] == meters
    _publish(broker, devices.intervals[1])

    def query(sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(postgres_url) as conn:
            return list(conn.execute(sql).fetchall())

    def closed() -> int:
        return int(str(query("SELECT count(*) FROM interval_balances")[0][0]))

    wait_until(lambda: closed() == 2, "2 intervals closed on PostgreSQL", 60, 0.1)
    assert node.stop() == 0, node.output()

    _publish(broker, devices.intervals[2])  # while the node is down
    node = Node(tmp_path, devices, port, "--grace-s", "3600", settings=settings)
    nodes.append(node)
    node.wait_ready()
    wait_until(lambda: closed() == 3, "the interval published while down closed", 60, 0.1)
    assert node.stop() == 0, node.output()

    transports = query(
        "SELECT transport, count(*) FROM reading_bundles GROUP BY transport ORDER BY 1"
    )
    assert transports == [("http", meters), ("mqtt", 2 * meters)]
    received = query("SELECT received FROM interval_balances ORDER BY interval_start_s")
    assert [r[0] for r in received] == [meters] * 3
    assert len(query("SELECT 1 FROM interval_commitments")) == 3
    assert not (tmp_path / "data" / "gridshare.sqlite").exists()  # nothing went to SQLite


@dataclass
class Crossing:
    """Two members' crossing orders on a node: the buyer's and the seller's member ids,
    their sessions and their orders' hashes, by member id."""

    buyer: str
    seller: str
    headers: dict[str, dict[str, str]]
    placed: dict[str, str]


def _cross(node: Node, devices: Devices, first: int) -> Crossing:
    """Once the node closed the interval at ``first`` (the market then cleared the next,
    so the one after is the first open), two members sign in and post wallet-signed
    orders for it: a buy at the top of the price band and a sell at its bottom."""
    buyer_id, seller_id = list(devices.members)[:2]
    buyer, seller = devices.members[buyer_id], devices.members[seller_id]
    headers = {buyer_id: _sign_in(node.url, buyer), seller_id: _sign_in(node.url, seller)}

    def market() -> dict[str, object]:
        reply = httpx.get(f"{node.url}/v1/market", headers=headers[buyer_id], timeout=10)
        assert reply.status_code == 200, reply.text
        body: dict[str, object] = reply.json()
        return body

    wait_until(lambda: market()["next_open_interval"] == first + 2 * INTERVAL_S, "the gate", 60)
    published = market()
    top, bottom = published["max_price_micros_per_kwh"], published["min_price_micros_per_kwh"]
    good_for = {"expiry": int(time.time()) + 3600, "quantity_wh": 200}
    orders = {
        buyer_id: wallet_order(published, buyer, side="buy", price=top, **good_for),
        seller_id: wallet_order(published, seller, side="sell", price=bottom, **good_for),
    }
    placed = {}
    for pid, order in orders.items():
        reply = httpx.post(
            f"{node.url}/v1/market/orders", json=order, headers=headers[pid], timeout=10
        )
        assert reply.status_code == 202, reply.text
        placed[pid] = reply.json()["order_hash"]
    return Crossing(buyer_id, seller_id, headers, placed)


def test_members_trade_on_the_node_with_orders_signed_by_their_own_keys(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """Two members sign orders in a wallet (EIP-712 over the domain the node publishes)
    and post them; the node books them at the gate, clears them, settles the interval on
    chain from the meters' readings, and `verify` proves the store against the chain."""
    first = (int(time.time()) // INTERVAL_S - 8) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 5)
    port = free_port()
    api = {"GRIDSHARE_API_DOMAIN": DOMAIN, "GRIDSHARE_API_URI": URI}
    node = Node(tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600", settings=api)
    nodes.append(node)
    node.wait_ready()
    assert node.post(devices.intervals[0])["inserted"] == len(devices.intervals[0])
    crossing = _cross(node, devices, first)
    buyer_id, seller_id, headers, placed = (
        crossing.buyer,
        crossing.seller,
        crossing.headers,
        crossing.placed,
    )
    for k in (1, 2):  # closing 1 books them and clears 2; closing 2 settles it
        assert node.post(devices.intervals[k])["inserted"] == len(devices.intervals[k])
    traded = first + 2 * INTERVAL_S

    def settled() -> bool:
        return bool(
            _query(tmp_path, "SELECT 1 FROM market_intervals WHERE interval_start_s = ?", traded)
        )

    wait_until(settled, "the traded interval to settle", 120)
    for pid, order_hash in placed.items():
        reply = httpx.get(f"{node.url}/v1/market/orders/{order_hash}", headers=headers[pid])
        assert reply.json()["status"] == "booked", reply.text
    fills = dict(
        _query(
            tmp_path,
            "SELECT order_hash, filled_wh FROM market_fills WHERE interval_start_s = ?",
            traded,
        )
    )
    assert fills[placed[buyer_id]] == fills[placed[seller_id]] > 0
    last = httpx.get(f"{node.url}/v1/market/clearings/last", headers=headers[seller_id]).json()
    assert (last["interval_start"], last["settled_on_chain"]) == (traded, True)
    assert last["buyers_paid_micros"] == (
        last["sellers_credited_micros"] + last["refunds_micros"] + last["fees_micros"]
    )
    assert node.stop() == 0, node.output()
    ok = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "data")])
    assert ok.exit_code == 0, ok.output


# -- kill -9 at a named point (GRIDSHARE_FAULT_KILL_AFTER, gridshare.app.faults) ---------

_COMMITMENTS = (
    "SELECT interval_start_s, production_root, consumption_root, production_wh, "
    "consumption_wh, import_wh, export_wh, readings FROM interval_commitments ORDER BY 1"
)


@dataclass
class OnChain:
    """What the node's embedded chain holds (read while no node runs)."""

    commitments: dict[int, tuple[object, ...] | None]
    """Per interval start, the commitment as the store's row spells it (None: none)."""
    settled: dict[int, bool]
    trades_root: dict[int, str]


def _on_chain(directory: Path, starts: Sequence[int]) -> OnChain:
    data = directory / "data"
    connection = open_chain(data, LocalSigner.generate())  # reads only: any key will do
    try:
        deployment = Deployment.read(connection.deployment_file())
        # calls come "from" the deployer: the throwaway account has no gas money
        connection.web3.eth.default_account = to_checksum_address(deployment.deployer)
        metering = MeteringLedger(connection.transactions, deployment)
        p2p = contract(connection.web3, deployment, "P2PTrading")
        commitments: dict[int, tuple[object, ...] | None] = {}
        for start, c in zip(starts, metering.commitments(starts), strict=True):
            commitments[start] = None if c is None else (
                start, "0x" + c.production_root.hex(), "0x" + c.consumption_root.hex(),
                c.production_wh, c.consumption_wh, c.import_wh, c.export_wh, c.readings,
            )  # fmt: skip
        settled = {s: bool(p2p.functions.settled(s).call()) for s in starts}
        roots = {s: "0x" + bytes(p2p.functions.settlements(s).call()[0]).hex() for s in starts}
        return OnChain(commitments, settled, roots)
    finally:
        connection.close()


def _killed_by_fault(node: Node, timeout_s: float = 120) -> None:
    try:
        code = node.process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the fault did not kill serve within {timeout_s} s:\n{node.output()}")
    assert code == -signal.SIGKILL, node.output()


def _stored_once(directory: Path) -> set[tuple[object, ...]]:
    """The stored readings' keys, each asserted stored once."""
    doubled = _query(directory, _READING_KEYS + " GROUP BY 1, 2 HAVING count(*) > 1")
    assert doubled == []
    return set(_query(directory, _READING_KEYS))


def _keys(bundles: Sequence[ReadingBundle]) -> set[tuple[object, ...]]:
    return {(int(b.start[0]), b.meter_id) for b in bundles}


def test_serve_killed_after_a_commitment_reached_the_chain_resumes_without_doubling(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """Killed right after the second interval's commitment transaction was mined and
    before its database transaction committed: the restart re-runs that interval, finds
    its commitment on chain, and the store and chain agree on every interval."""
    first = (int(time.time()) // INTERVAL_S - 8) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 5)
    meters = len(devices.intervals[0])
    port = free_port()
    kill = {"GRIDSHARE_FAULT_KILL_AFTER": "commit:2"}
    node = Node(tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600", settings=kill)
    nodes.append(node)
    node.wait_ready()
    feeding = [b for k in range(3) for b in devices.intervals[k]]
    acked: list[ReadingBundle] = []
    feeder = threading.Thread(target=_feed, args=(node.url, feeding, acked), daemon=True)
    feeder.start()
    _killed_by_fault(node)
    feeder.join(60)
    assert len(acked) >= 2 * meters  # the second interval closed: all its readings came
    stored = _stored_once(tmp_path)
    assert _keys(acked) <= stored  # acknowledged: durable
    # the first interval committed in both; the second only on chain
    starts = [devices.start_s(k) for k in range(5)]
    chain = _on_chain(tmp_path, starts)
    assert [s for s, c in chain.commitments.items() if c is not None] == starts[:2]
    assert _query(tmp_path, _COMMITMENTS) == [chain.commitments[starts[0]]]
    assert _count(tmp_path, "interval_balances") == 1

    node = Node(tmp_path, devices, port, "--grace-s", "3600")  # no fault this time
    nodes.append(node)
    node.wait_ready()
    everything = [b for k in range(5) for b in devices.intervals[k]]
    again = node.post(everything)
    assert again["inserted"] == 5 * meters - len(stored)
    wait_until(lambda: _count(tmp_path, "interval_balances") == 5, "5 closed intervals", 90, 0.1)
    assert node.stop() == 0, node.output()
    assert "Traceback" not in node.output()

    assert _stored_once(tmp_path) == _keys(everything)
    chain = _on_chain(tmp_path, starts)
    committed = _query(tmp_path, _COMMITMENTS)
    assert [c[0] for c in committed] == starts  # each interval committed once in the store
    assert committed == list(chain.commitments.values())  # and the same on chain
    statuses = [r[0] for r in _query(tmp_path, "SELECT status FROM runs ORDER BY started_at_s")]
    assert statuses == ["interrupted", "finished"]
    ok = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "data")])
    assert ok.exit_code == 0, ok.output


def test_serve_killed_after_a_settlement_reached_the_chain_records_it_once_on_restart(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """Two members trade through the API; the node is killed right after the traded
    interval's P2PTrading settle transaction was mined and before the store recorded the
    interval. The restart records the settlement once, as the chain holds it, settles
    nothing twice, and `verify` passes."""
    first = (int(time.time()) // INTERVAL_S - 8) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 6)
    meters = len(devices.intervals[0])
    port = free_port()
    api = {"GRIDSHARE_API_DOMAIN": DOMAIN, "GRIDSHARE_API_URI": URI}
    kill = api | {"GRIDSHARE_FAULT_KILL_AFTER": "settle:1"}
    # each interval settles on chain on its own, in its own database transaction (tiny's
    # default, a day per batch, settles only when the day is complete or the node stops)
    scenario = tmp_path / "tiny-interval.toml"
    scenario.write_text(TINY.read_text("utf-8") + '\n[market]\nsettlement = "interval"\n')
    node = Node(
        tmp_path, devices, port, "--start", _iso(first), "--grace-s", "3600",
        settings=kill, scenario=scenario,
    )  # fmt: skip
    nodes.append(node)
    node.wait_ready()
    assert node.post(devices.intervals[0])["inserted"] == meters
    crossing = _cross(node, devices, first)
    headers, placed = crossing.headers, crossing.placed
    traded = first + 2 * INTERVAL_S
    # closing 1 books the orders and clears 2; closing 2 settles 2 on chain: killed there
    feeding = devices.intervals[1] + devices.intervals[2]
    acked: list[ReadingBundle] = []
    feeder = threading.Thread(target=_feed, args=(node.url, feeding, acked), daemon=True)
    feeder.start()
    _killed_by_fault(node)
    feeder.join(60)
    stored = _stored_once(tmp_path)
    assert _keys(acked) <= stored
    chain = _on_chain(tmp_path, [traded])
    assert chain.settled == {traded: True}  # on chain ...
    in_store = "SELECT count(*) FROM market_intervals WHERE interval_start_s = ?"
    assert _query(tmp_path, in_store, traded) == [(0,)]  # ... and not in the store yet

    node = Node(tmp_path, devices, port, "--grace-s", "3600", settings=api, scenario=scenario)
    nodes.append(node)
    node.wait_ready()
    everything = [b for k in range(6) for b in devices.intervals[k]]
    assert node.post(everything)["inserted"] == 6 * meters - len(stored)
    wait_until(lambda: _count(tmp_path, "interval_balances") == 6, "6 closed intervals", 90, 0.1)
    for pid, order_hash in placed.items():
        reply = httpx.get(f"{node.url}/v1/market/orders/{order_hash}", headers=headers[pid])
        assert reply.json()["status"] == "booked", reply.text
    assert node.stop() == 0, node.output()
    assert "Traceback" not in node.output()

    assert _stored_once(tmp_path) == _keys(everything)
    doubled = "SELECT interval_start_s FROM market_intervals GROUP BY 1 HAVING count(*) > 1"
    assert _query(tmp_path, doubled) == []
    recorded = _query(
        tmp_path,
        "SELECT volume_wh, settled_on_chain, trades_root FROM market_intervals "
        "WHERE interval_start_s = ?",
        traded,
    )
    chain = _on_chain(tmp_path, [traded])
    assert len(recorded) == 1, recorded
    volume, on_chain, root = recorded[0]
    assert int(str(volume)) > 0
    assert on_chain
    assert root == chain.trades_root[traded]  # the store records what the chain settled
    fills = _query(
        tmp_path,
        "SELECT order_hash, filled_wh FROM market_fills WHERE interval_start_s = ?",
        traded,
    )
    assert sorted(h for h, _ in fills) == sorted(placed.values())  # each order once
    assert len({f for _, f in fills}) == 1
    ok = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "data")])
    assert ok.exit_code == 0, ok.output


def _signed(
    meter_id: str, key: bytes, start_s: int, import_wh: int, export_wh: int
) -> ReadingBundle:
    """One reading of a meter whose key only the test holds."""
    bundle = make_bundle(meter_id, [start_s], [1], [import_wh], [export_wh], [import_wh], [export_wh])  # fmt: skip  # noqa: E501
    return sign_bundle(bundle, key)


def test_a_registration_meters_only_after_the_operator_approves_it(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """A would-be member generates their keys (account and meters) and registers through
    the API. Before the operator approves, their meters' readings are refused as unknown;
    once approved, the node takes them in at the end of the interval: on chain (the
    participant, devices and generator), metering, and signing in as a member. The
    operator's configuration change (the member's place in the shedding order, the import
    limit) is taken in with it."""
    first = (int(time.time()) // INTERVAL_S - 4) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 2)
    meters = len(devices.intervals[0])
    operator = new_account()
    api = {
        "GRIDSHARE_API_DOMAIN": DOMAIN,
        "GRIDSHARE_API_URI": URI,
        "GRIDSHARE_API_OPERATORS": f'["{operator.address}"]',
    }
    node = Node(tmp_path, devices, free_port(), "--start", _iso(first), "--grace-s", "3600", settings=api)  # fmt: skip  # noqa: E501
    nodes.append(node)
    node.wait_ready()

    applicant = new_account()
    pid = "tiny:maple-001"
    keys = {f"{pid}/grid": secrets.token_bytes(32), f"{pid}/pv/meter": secrets.token_bytes(32)}
    body = {
        "handle": "maple",
        "member": {"role": "producer", "pv": {"kwp": 8.0}},
        "devices": {meter: _address(key) for meter, key in keys.items()},
    }
    queue = f"{node.url}/v1/communities/tiny/registrations"
    own = _sign_in(node.url, applicant)
    assert httpx.post(queue, json=body, headers=own).status_code == 202

    def theirs(k: int) -> list[ReadingBundle]:
        return [_signed(m, key, devices.start_s(k), 0, 400) for m, key in keys.items()]

    # not approved: the node does not know the meters
    assert node.post(theirs(0))["rejected"] == {"unknown_meter": 2}
    boss = _sign_in(node.url, operator)
    assert httpx.post(f"{queue}/maple/approve", json={}, headers=boss).status_code == 200
    # a producer has no load to make critical; it may be shed last among the others
    configuration = f"{node.url}/v1/communities/tiny/configuration"
    critical = {"change": {"groups": {"maple": {"critical": True}}}}
    refused = httpx.patch(configuration, json=critical, headers=boss)
    assert refused.status_code == 422, refused.text
    assert "groups.maple: Value error, flexible_load and critical need a load" in refused.text
    change = {"groups": {"maple": {"shed_priority": 9}}, "grid": {"import_limit_kw": 123}}
    changed = httpx.patch(configuration, json={"change": change}, headers=boss)
    assert changed.status_code == 202, changed.text
    priorities = httpx.get(configuration, headers=boss).json()["shed_priorities"]
    assert pid not in {p["participant_id"] for p in priorities}  # not in force yet
    assert node.post(theirs(0))["rejected"] == {"unknown_meter": 2}  # until the interval ends
    assert node.post(devices.intervals[0])["inserted"] == meters
    wait_until(lambda: f"joined the community (approved): {pid}" in node.output(), "the member to join", 120, 0.1)  # fmt: skip  # noqa: E501
    node.wait_ready()
    assert "configuration changed by the operator (1 change(s))" in node.output()
    in_force = httpx.get(configuration, headers=_sign_in(node.url, operator)).json()
    assert {"participant_id": pid, "shed_priority": 9} in in_force["shed_priorities"]
    assert in_force["limits"]["import_limit_kw"] == 123

    # approved and taken in: the member's readings count from the next interval on
    assert node.post(devices.intervals[1] + theirs(1))["inserted"] == meters + 2
    wait_until(lambda: _count(tmp_path, "interval_balances") == 2, "2 closed intervals", 90, 0.1)
    received = "SELECT interval_start_s, received FROM interval_balances ORDER BY 1"
    assert _query(tmp_path, received) == [(devices.start_s(0), meters), (devices.start_s(1), meters + 2)]  # fmt: skip  # noqa: E501
    member = _sign_in(node.url, applicant)
    window = {"start": _iso(first), "end": _iso(first + 2 * INTERVAL_S), "resolution": "15min"}
    mine = httpx.get(f"{node.url}/v1/members/{pid}/readings", params=window, headers=member)
    assert mine.status_code == 200, mine.text
    assert {s["meter_id"] for s in mine.json()["meters"]} == set(keys)
    assert node.stop() == 0, node.output()
    assert "Traceback" not in node.output()

    connection = open_chain(tmp_path / "data", LocalSigner.generate())  # reads only
    try:
        deployment = Deployment.read(connection.deployment_file())
        connection.web3.eth.default_account = to_checksum_address(deployment.deployer)
        registry = contract(connection.web3, deployment, "ParticipantRegistry")
        certificate = contract(connection.web3, deployment, "EnergyCertificate")
        for meter, key in keys.items():
            owner = registry.functions.device_owner(to_checksum_address(_address(key))).call()
            assert owner.lower() == applicant.address.lower(), meter
        pv = to_checksum_address(_address(keys[f"{pid}/pv/meter"]))
        assert certificate.functions.generators(pv).call()[0] > 0  # a registered generator
    finally:
        connection.close()
    ok = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path / "data")])
    assert ok.exit_code == 0, ok.output


def _member_tx(account: LocalAccount, to: str, chain_id: int, signature: str, *args: int) -> str:
    """A transaction the member signs in their wallet: ``signature`` called on ``to``."""
    data = keccak(text=signature)[:4] + abi_encode(["uint256"] * len(args), list(args))
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": 0,
            "to": to,
            "value": 0,
            "gas": 200_000,
            "maxFeePerGas": 5 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "data": data,
        }  # fmt: skip
    )
    return "0x" + bytes(signed.raw_transaction).hex()


def test_a_member_sends_their_own_transactions_through_the_node(
    tmp_path: Path, nodes: list[Node]
) -> None:
    """A member signs a withdrawal request in their wallet; the node relays it (only a
    member function of the community's contracts, only by the member who signed it) and
    the member reads their escrow and withdrawal request as the chain holds them."""
    first = (int(time.time()) // INTERVAL_S - 4) * INTERVAL_S
    devices = Devices.make(tmp_path, first, 1)
    operator = new_account()
    api = {
        "GRIDSHARE_API_DOMAIN": DOMAIN,
        "GRIDSHARE_API_URI": URI,
        "GRIDSHARE_API_OPERATORS": f'["{operator.address}"]',
    }
    node = Node(tmp_path, devices, free_port(), "--start", _iso(first), "--grace-s", "3600", settings=api)  # fmt: skip  # noqa: E501
    nodes.append(node)
    node.wait_ready()
    member_id, other_id = list(devices.members)[:2]
    member, other = devices.members[member_id], devices.members[other_id]
    mine = _sign_in(node.url, member)
    market = httpx.get(f"{node.url}/v1/market", headers=mine).json()
    p2p, chain_id = market["verifying_contract"], market["chain_id"]

    escrow = f"{node.url}/v1/members/{member_id}/escrow"
    before = httpx.get(escrow, headers=mine, timeout=30).json()
    assert before["escrow_micros"] > 0  # the week's deposit the operator recorded
    assert (before["withdrawal_micros"], before["withdrawal_due_at"]) == (0, None)
    gas = httpx.post(f"{node.url}/v1/chain/gas", headers=mine, timeout=30).json()
    assert gas["sent_wei"] > 0
    assert httpx.post(f"{node.url}/v1/chain/gas", headers=mine, timeout=30).json()["sent_wei"] == 0  # fmt: skip  # noqa: E501

    relay = f"{node.url}/v1/chain/transactions"
    raw = _member_tx(member, p2p, chain_id, "request_withdrawal(uint256)", 1_000_000)
    theirs = _sign_in(node.url, other)
    refused = httpx.post(relay, json={"raw": raw}, headers=theirs, timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (403, "not_yours")
    boss = httpx.post(relay, json={"raw": raw}, headers=_sign_in(node.url, operator), timeout=30)
    assert (boss.status_code, boss.json()["error"]) == (403, "wrong_role")
    for bad, error in (
        (_member_tx(member, p2p, chain_id, "set_fund(uint256)", 1), "not_a_member_call"),
        (_member_tx(member, p2p, chain_id + 1, "withdraw()"), "wrong_chain"),
        (_member_tx(member, "0x" + "11" * 20, chain_id, "withdraw()"), "not_a_community_contract"),
        ("0x02" + "ab" * 40, "malformed_transaction"),
    ):
        reply = httpx.post(relay, json={"raw": bad}, headers=mine, timeout=30)
        assert (reply.status_code, reply.json()["error"]) == (422, error), reply.text

    sent = httpx.post(relay, json={"raw": raw}, headers=mine, timeout=30)
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert (body["contract"], body["function"], body["status"]) == ("P2PTrading", "request_withdrawal", "done")  # fmt: skip  # noqa: E501
    receipt = httpx.get(f"{relay}/{body['tx_hash']}", headers=mine, timeout=30).json()
    assert (receipt["status"], receipt["block"]) == ("done", body["block"])
    after = httpx.get(escrow, headers=mine, timeout=30).json()
    assert after["withdrawal_micros"] == 1_000_000
    assert after["withdrawal_due_at"] is not None
    assert after["escrow_micros"] == before["escrow_micros"]  # requested, not yet withdrawn
    assert httpx.get(f"{node.url}/v1/members/{member_id}/escrow", headers=theirs).status_code == 403  # fmt: skip  # noqa: E501
    assert node.stop() == 0, node.output()
    assert "Traceback" not in node.output()
