"""MQTT ingest speed: signed readings from publish to durable storage, per second.

    .venv/bin/python bench/bench_mqtt.py [--meters 1000 --intervals 25 --broker mqtt://127.0.0.1:1883]

Pre-signs ``--meters`` x ``--intervals`` readings (one bundle = one reading = one MQTT
message, as a meter publishing every interval sends them), then publishes them all at
QoS 1 while the ingest subscriber validates signatures, sequence numbers and registers
and commits them to a fresh SQLite store. The clock starts at the first publish and stops
when the store holds every reading. ``--bare`` measures a bare paho publish/subscribe
pair on the same messages, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from gridshare.ingest.mqtt import BrokerConfig, MqttIngest, MqttPublisher, readings_topic
from gridshare.ingest.service import IngestService
from gridshare.metering.wire import encode_bundle
from gridshare.model import ReadingBatch
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.storage import open_store
from gridshare.units import Interval, from_unix_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import QUARTER, small_community  # noqa: E402


def payloads(meters: int, intervals: int, start_s: int, community_id: str):  # type: ignore[no-untyped-def]
    community = small_community(meters - 1, community_id)
    fleet = SimulatedMeterFleet(community, seed=1)
    rng = np.random.default_rng(0)
    items = []
    for k in range(intervals):
        interval = Interval(from_unix_seconds(start_s + 900 * k), QUARTER)
        imp = rng.integers(0, 900, meters, dtype=np.int64)
        batch = ReadingBatch(
            interval, np.arange(meters), imp, np.zeros(meters, np.int64), np.full(meters, -1)
        )
        items += [
            (readings_topic(community_id, b.meter_id), encode_bundle(b))
            for b in fleet.bundles(batch)
        ]
    return community, fleet, items


def bare(broker: BrokerConfig, items: list[tuple[str, bytes]], community_id: str) -> float:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got = [0]
    done = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{uuid.uuid4().hex[:6]}")

    def on_message(*_a: object) -> None:
        got[0] += 1
        if got[0] == len(items):
            done.set()

    sub.on_message = on_message
    broker.connect(sub)
    sub.subscribe(f"gridshare/{community_id}/readings/#", qos=1)
    time.sleep(0.5)
    pub = MqttPublisher(broker)
    started = time.perf_counter()
    pub.publish_many(items)
    done.wait(120)
    elapsed = time.perf_counter() - started
    pub.close()
    sub.disconnect()
    sub.loop_stop()
    return len(items) / elapsed


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(15, exit=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--intervals", type=int, default=25)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--bare", action="store_true")
    args = parser.parse_args()
    broker = BrokerConfig.from_url(args.broker)
    community_id = f"bench{uuid.uuid4().hex[:6]}"
    now_s = int(time.time()) // 900 * 900
    start_s = now_s - 900 * (args.intervals + 1)
    community, fleet, items = payloads(args.meters, args.intervals, start_s, community_id)
    print(
        f"{len(items):,} signed readings, {sum(len(p) for _, p in items) / len(items):.0f} B each"
    )
    if args.bare:
        print(f"bare paho pair: {bare(broker, items, community_id):,.0f} messages/s")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.sqlite")
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        service = IngestService.for_store(store)
        ingest = MqttIngest(service, community_id, broker, client_id=f"bench-{community_id}")
        ingest.start()
        pub = MqttPublisher(broker)
        started = time.perf_counter()
        pub.publish_many(items)
        deadline = time.perf_counter() + 60
        while service.counts.received < len(items) and not ingest.errors:
            if time.perf_counter() > deadline:
                print(f"stalled: {service.counts.as_json()} after {ingest.messages} messages")
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        ingest.stop()
        pub.close()
        stored = store.count("readings")
        store.close()
    if ingest.errors:
        raise SystemExit(f"ingest failed: {ingest.errors[0]!r}")
    print(f"counts: {service.counts.as_json()}")
    print(f"stored {stored:,} readings in {elapsed:.2f} s: {len(items) / elapsed:,.0f} readings/s")


if __name__ == "__main__":
    main()
