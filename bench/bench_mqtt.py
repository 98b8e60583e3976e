"""MQTT ingest speed: signed readings from publish to durable storage, per second.

    .venv/bin/python bench/bench_mqtt.py [--meters 1000 --intervals 25 --broker mqtt://127.0.0.1:1883]

Pre-signs ``--meters`` x ``--intervals`` readings (by default one reading per MQTT
message, as a meter publishing every interval sends them; ``--per-message N`` bundles N
consecutive intervals of a meter under one signature), then publishes them at QoS 1 while
the ingest subscriber validates signatures, sequence numbers and registers and commits
them to a fresh SQLite store. The publisher stays at most ``--window`` messages ahead of
the consumer: Mosquitto's default per-client queue is 1,000 messages and a burst beyond
it is dropped by the broker. The clock starts at the first publish and stops when the
store holds every reading. ``--bare`` measures a bare paho publish/subscribe pair on the
same messages and window, for comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gridshare.ingest.mqtt import BrokerConfig, MqttIngest, MqttPublisher, readings_topic
from gridshare.ingest.service import IngestService
from gridshare.metering.wire import encode_bundle, make_bundle, sign_bundle
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.storage import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import small_community


def payloads(meters: int, intervals: int, start_s: int, community_id: str, per_message: int):  # type: ignore[no-untyped-def]
    """Signed messages: each carries ``per_message`` consecutive readings of one meter."""
    community = small_community(meters - 1, community_id)
    fleet = SimulatedMeterFleet(community, seed=1)
    rng = np.random.default_rng(0)
    imp = rng.integers(0, 900, (intervals, meters), dtype=np.int64)
    reg = np.cumsum(imp, axis=0)
    starts = start_s + 900 * np.arange(intervals, dtype=np.int64)
    zeros = np.zeros(intervals, dtype=np.int64)
    items = []
    for first in range(0, intervals, per_message):
        rows = slice(first, first + per_message)
        for m, meter in enumerate(community.meters):
            bundle = make_bundle(
                meter.meter_id, starts[rows], np.arange(1, intervals + 1)[rows],
                imp[rows, m], zeros[rows], reg[rows, m], zeros[rows],
                quality={"voltage_v": np.full(len(starts[rows]), 230.0)},
            )  # fmt: skip
            items.append(
                (readings_topic(community_id, meter.meter_id),
                 encode_bundle(sign_bundle(bundle, fleet.keys[m])))
            )  # fmt: skip
    return community, fleet, items


def publish_windowed(
    pub: MqttPublisher, items: list[tuple[str, bytes]], done: Callable[[], int], window: int
) -> None:
    """Publish, keeping at most ``window`` messages ahead of the consumer (Mosquitto's
    default max_queued_messages is 1000: a burst beyond it is dropped by the broker)."""
    for first in range(0, len(items), window // 2):
        while first - done() > window // 2:
            time.sleep(0.001)
        pub.publish_many(items[first : first + window // 2])


def _publisher_process(url: str, items: list[tuple[str, bytes]], done: Any, window: int) -> None:
    pub = MqttPublisher(BrokerConfig.from_url(url))
    publish_windowed(pub, items, lambda: int(done.value), window)
    pub.flush()
    pub.close()


def publish_elsewhere(
    url: str, items: list[tuple[str, bytes]], done: Callable[[], int], window: int
) -> mp.process.BaseProcess:
    """Publish from another process (meters are other machines), fed back ``done``."""
    shared = mp.get_context("fork").Value("q", 0)

    def feed() -> None:
        while process.exitcode is None:
            shared.value = done()
            time.sleep(0.005)

    process = mp.get_context("fork").Process(
        target=_publisher_process, args=(url, items, shared, window)
    )
    process.start()
    threading.Thread(target=feed, daemon=True).start()
    return process


def bare(url: str, items: list[tuple[str, bytes]], community_id: str, window: int) -> float:
    broker = BrokerConfig.from_url(url)

    got = [0]
    done = threading.Event()
    sub = broker.client(f"bare-{uuid.uuid4().hex[:6]}")  # MQTT 5, auto-acknowledging

    def on_message(*_a: object) -> None:
        got[0] += 1
        if got[0] == len(items):
            done.set()

    sub.on_message = on_message
    broker.connect(sub)
    sub.subscribe(f"gridshare/{community_id}/readings/#", qos=1)
    time.sleep(0.5)
    started = time.perf_counter()
    publisher = publish_elsewhere(url, items, lambda: got[0], window)
    done.wait(120)
    elapsed = time.perf_counter() - started
    publisher.join()
    sub.disconnect()
    sub.loop_stop()
    return len(items) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--intervals", type=int, default=25)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--per-message", type=int, default=1, help="readings per message")
    parser.add_argument("--window", type=int, default=800, help="messages in flight at most")
    args = parser.parse_args()
    broker = BrokerConfig.from_url(args.broker)
    community_id = f"bench{uuid.uuid4().hex[:6]}"
    now_s = int(time.time()) // 900 * 900
    start_s = now_s - 900 * (args.intervals + 1)
    community, fleet, items = payloads(
        args.meters, args.intervals, start_s, community_id, args.per_message
    )
    readings = args.meters * args.intervals
    print(
        f"{readings:,} signed readings in {len(items):,} messages of "
        f"{sum(len(p) for _, p in items) / len(items):.0f} B"
    )
    if args.bare:
        rate = bare(args.broker, items, community_id, args.window)
        print(f"bare paho pair, same messages and window: {rate:,.0f} messages/s")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.sqlite")
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        service = IngestService.for_store(store)
        ingest = MqttIngest(service, community_id, broker, client_id=f"bench-{community_id}")
        ingest.start()
        started = time.perf_counter()
        publisher = publish_elsewhere(args.broker, items, lambda: ingest.messages, args.window)
        deadline = time.perf_counter() + 60
        while service.counts.received < readings and not ingest.errors:
            if time.perf_counter() > deadline:
                print(f"stalled: {service.counts.as_json()} after {ingest.messages} messages")
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        ingest.stop()
        publisher.join()
        stored = store.count("readings")
        store.close()
    if ingest.errors:
        raise SystemExit(f"ingest failed: {ingest.errors[0]!r}")
    print(f"counts: {service.counts.as_json()}")
    print(
        f"MQTT ingest, {args.per_message} reading(s)/message: stored {stored:,} readings in "
        f"{elapsed:.2f} s = {readings / elapsed:,.0f} readings/s "
        f"({len(items) / elapsed:,.0f} messages/s)"
    )


if __name__ == "__main__":
    main()
