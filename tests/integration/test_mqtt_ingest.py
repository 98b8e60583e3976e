"""The ingest service on SQLite and its MQTT transport against the real broker.

Service tests: every reading offered ends in exactly one count, refusals are quarantined
with their reason and payload, meter states survive a restart. MQTT tests publish signed
bundles from simulated meters to the real broker (``broker`` in conftest: they fail, not
skip, when it is down) and wait for the outcome with ``wait_until``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from gridshare.ingest.mqtt import BrokerConfig, MqttIngest, MqttPublisher, readings_topic
from gridshare.ingest.service import IngestCounts, IngestService, Offered, meter_limits_wh
from gridshare.metering.validation import PREHISTORY, Gap, MeterState, Reason
from gridshare.metering.wire import (
    MalformedBundle,
    ReadingBundle,
    bundle_to_json,
    decode_bundle,
    encode_bundle,
    make_bundle,
    sign_bundle,
)
from gridshare.model import NOT_REPORTED, Community, ReadingBatch
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.storage import SqlStore, open_store
from gridshare.units import Interval, from_unix_seconds
from tests.factories import small_community
from tests.integration.conftest import unique_id, wait_until

INTERVAL = 900
B0 = 1_748_822_400  # 2025-06-02T00:00:00Z
T = [B0 + INTERVAL * k for k in range(41)]
NOW = T[40] + 30  # T[39] is the newest finished interval
MAX_AGE = 24 * INTERVAL


def interval(k: int) -> Interval:
    return Interval(from_unix_seconds(T[k]), timedelta(seconds=INTERVAL))


@dataclass
class Site:
    """A community in a SQLite store, its simulated signing meters and an ingest service."""

    url: str
    community: Community
    store: SqlStore
    fleet: SimulatedMeterFleet
    service: IngestService
    stores: list[SqlStore] = field(default_factory=list)

    @property
    def meters(self) -> list[str]:
        return [m.meter_id for m in self.community.meters]

    def service_for(self, store: SqlStore | None = None, **kw: Any) -> IngestService:
        return IngestService.for_store(
            store or self.store, now=lambda: float(NOW), max_age_s=MAX_AGE, **kw
        )

    def reopen(self) -> SqlStore:
        """The same database opened again, as a restarted process would."""
        store = open_store(self.url)
        self.stores.append(store)
        store.register_community(self.community)
        return store

    def bundle(
        self,
        pos: int,
        rows: Sequence[tuple[int, int, int, int, int, int]],
        *,
        quality: dict[str, list[float]] | None = None,
        key: bytes | None = None,
        meter: str | None = None,
    ) -> ReadingBundle:
        """Meter ``pos``'s rows (start, seq, import, export, import reg, export reg), signed."""
        start, seq, imp, exp, reg_i, reg_e = (list(c) for c in zip(*rows, strict=True))
        made = make_bundle(meter or self.meters[pos], start, seq, imp, exp, reg_i, reg_e, quality)
        return sign_bundle(made, key or self.fleet.keys[pos])

    def simulated(self, k: int, imports: Sequence[int]) -> list[ReadingBundle]:
        """What every meter signs for interval ``k`` (registers and sequence advance)."""
        n = len(imports)
        batch = ReadingBatch(
            interval(k),
            np.arange(n, dtype=np.int64),
            np.array(imports, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.full(n, NOT_REPORTED, dtype=np.int64),
        )
        return self.fleet.bundles(batch)


def offer(item: ReadingBundle | bytes, topic_meter: str | None = None) -> Offered:
    """What a transport hands the service: the parsed bundle, or why it did not parse."""
    payload = encode_bundle(item) if isinstance(item, ReadingBundle) else item
    try:
        return Offered(decode_bundle(payload), payload, topic_meter=topic_meter)
    except MalformedBundle as exc:
        return Offered(None, payload, exc, topic_meter)


def balanced(counts: IngestCounts) -> bool:
    """Every reading received is in exactly one outcome."""
    return counts.received == (
        counts.inserted + counts.duplicates + counts.conflicts + sum(counts.rejected.values())
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    cid = unique_id("c")
    community = small_community(2, community_id=cid)
    url = f"sqlite:///{tmp_path / 'ingest.sqlite'}"
    store = open_store(url)
    store.register_community(community)
    fleet = SimulatedMeterFleet(community, seed=11)
    store.set_meter_devices(fleet.devices())
    service = IngestService.for_store(store, now=lambda: float(NOW), max_age_s=MAX_AGE)
    made = Site(url, community, store, fleet, service, [store])
    yield made
    for opened in made.stores:
        opened.close()


# -- every refusal reason, quarantined and counted ------------------------------------------

OK = (T[38], 5, 10, 0, 1_010, 0)
"""A first reading of meter 1 that every case below can build on."""


def _tampered(s: Site) -> list[Offered]:
    data = bundle_to_json(s.bundle(1, [(T[39], 6, 10, 0, 1_020, 0)]))
    data["import_wh"] = [11]
    return [offer(orjson.dumps(data))]


def _suspended(s: Site) -> list[Offered]:
    s.service = s.service_for(inactive={s.meters[1]})
    return [offer(s.bundle(1, [(T[39], 6, 10, 0, 1_020, 0)]))]


def _closed(s: Site) -> list[Offered]:
    s.service.close_interval(interval(38))
    return [offer(s.bundle(1, [(T[38], 6, 10, 0, 1_020, 0)]))]


def _too_much(s: Site) -> list[Offered]:
    limit = meter_limits_wh(s.community)[1]
    assert limit == math.ceil(43_500 * 1.1) * 900 // 3600  # a residential connection, +10 %
    return [offer(s.bundle(1, [(T[39], 6, limit + 1, 0, 1_010 + limit + 1, 0)]))]


CASES: dict[Reason, tuple[Callable[[Site], list[Offered]], int, str]] = {
    Reason.MALFORMED: (lambda s: [offer(b'{"v": 1, "meter": ')], 1, "not JSON"),
    Reason.TOPIC_MISMATCH: (
        lambda s: [offer(s.bundle(1, [(T[39], 6, 10, 0, 1_020, 0)]), s.meters[2])],
        1,
        r"topic names meter '\w+:m1/grid', payload '\w+:m0/grid'",
    ),
    Reason.UNKNOWN_METER: (
        lambda s: [offer(s.bundle(1, [(T[39], 6, 1, 0, 1, 0)], meter="x:ghost"))],
        1,
        "no such meter in the community",
    ),
    Reason.SUSPENDED_METER: (_suspended, 1, "suspended"),
    Reason.BAD_SIGNATURE: (_tampered, 1, "signed by 0x[0-9a-f]{40}, the meter's device is 0x"),
    Reason.REPLAYED_SEQUENCE: (
        lambda s: [offer(s.bundle(1, [(T[39], 5, 10, 0, 1_020, 0)]))],
        1,
        "sequence 5 is not above the last accepted 5",
    ),
    Reason.SEQUENCE_OUT_OF_ORDER: (
        lambda s: [offer(s.bundle(1, [(T[37], 6, 10, 0, 1_000, 0)]))],
        1,
        r"sequence 6 for an interval before the newest one \(sequence 5\)",
    ),
    Reason.MISALIGNED_INTERVAL: (
        lambda s: [offer(s.bundle(1, [(T[39] + 60, 6, 10, 0, 1_020, 0)]))],
        1,
        "multiples of 900 s",
    ),
    Reason.FUTURE_TIMESTAMP: (
        lambda s: [offer(s.bundle(1, [(T[40], 6, 10, 0, 1_020, 0)]))],
        1,
        "has not ended yet",
    ),
    Reason.STALE_TIMESTAMP: (
        lambda s: [offer(s.bundle(1, [(T[10], 1, 10, 0, 10, 0)]))],
        1,
        "older than the 6 h",
    ),
    Reason.INTERVAL_CLOSED: (_closed, 1, "already closed and committed"),
    Reason.NEGATIVE_ENERGY: (
        lambda s: [offer(s.bundle(1, [(T[39], 6, 10, -1, 1_020, 0)]))],
        1,
        ">= 0 Wh",
    ),
    Reason.EXCEEDS_CAPACITY: (_too_much, 1, "more than the 11962 Wh the meter's rating allows"),
    Reason.REGISTER_NOT_MONOTONIC: (
        lambda s: [offer(s.bundle(1, [(T[39], 6, 0, 0, 1_000, 0)]))],
        1,
        r"registers ran backwards from \(1010, 0\) Wh to \(1000, 0\) Wh",
    ),
    Reason.REGISTER_MISMATCH: (
        lambda s: [offer(s.bundle(1, [(T[39], 6, 10, 0, 1_030, 0)]))],
        1,
        r"energy \(10, 0\) Wh differs from the register advance \(20, 0\) Wh",
    ),
    Reason.POWER_QUALITY_OUT_OF_RANGE: (
        lambda s: [
            offer(s.bundle(1, [(T[39], 6, 10, 0, 1_020, 0)], quality={"frequency_hz": [80.0]}))
        ],
        1,
        "frequency_hz is outside its physical range",
    ),
}


def test_every_reason_has_a_case() -> None:
    assert set(CASES) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_each_refusal_is_quarantined_with_reason_detail_and_payload(
    site: Site, reason: Reason
) -> None:
    """After one accepted reading, the offending item is refused: counted under its
    reason, stored in rejected_readings with a useful detail and the raw payload, and
    nothing of it is stored as a reading."""
    first = site.service.submit([offer(site.bundle(1, [OK]))], "test")
    assert (first.inserted, first.rejected) == (1, {})
    make, n, detail = CASES[reason]
    offered = make(site)
    batch = site.service.submit(offered, "test")
    assert batch.rejected == {reason.value: n}
    assert (batch.received, batch.inserted, batch.duplicates, batch.conflicts) == (n, 0, 0, 0)
    assert balanced(batch)
    assert site.store.rejection_counts() == {reason.value: n}
    assert site.store.count("readings") == 1
    (row,) = site.store.rejections().to_dict("records")
    assert row["reason"] == reason.value
    assert row["transport"] == "test"
    assert row["received_at_s"] == NOW
    assert re.search(detail, row["detail"]), row["detail"]
    assert row["payload"] == offered[0].payload.decode()  # type: ignore[union-attr]
    if reason is not Reason.MALFORMED:
        assert offered[0].bundle is not None
        assert row["meter_id"] == offered[0].bundle.meter_id
        assert row["interval_start_s"] == int(offered[0].bundle.start[0])
        assert row["seq"] == int(offered[0].bundle.seq[0])


def test_malformed_payloads_are_each_quarantined_with_what_is_wrong(site: Site) -> None:
    good = bundle_to_json(site.bundle(1, [OK, (T[39], 6, 10, 0, 1_020, 0)]))

    def variant(**changes: Any) -> bytes:
        data = {**good, **changes}
        for name in [k for k, v in changes.items() if v is None]:
            del data[name]
        return orjson.dumps(data)

    cases = [
        (b"\xff\xfe not json", "not JSON", None),
        (variant(seq=None), r"missing field\(s\) \['seq'\]", site.meters[1]),
        (variant(import_wh=["10", "10"]), "import_wh must be a list of integers", site.meters[1]),
        (variant(start=[T[38]]), r"columns differ in length: \[1, 2\]", site.meters[1]),
        (variant(sig="0x" + "xy" * 65), "sig is not hex", site.meters[1]),
        (variant(gps=[1, 2]), r"unknown field\(s\) \['gps'\]", site.meters[1]),
        (variant(v=3), r"unsupported version 3 \(expected 1\)", site.meters[1]),
        (variant(meter=["m"]), "meter must be a string", None),
    ]
    batch = site.service.submit([offer(p) for p, _, _ in cases], "test")
    assert batch.rejected == {"malformed": len(cases)}
    assert batch.received == len(cases)
    assert site.store.count("readings") == 0
    rows = site.store.rejections().to_dict("records")
    assert len(rows) == len(cases)
    for row, (payload, detail, meter) in zip(rows, cases, strict=True):
        assert re.search(detail, row["detail"]), (detail, row["detail"])
        assert (None if pd.isna(row["meter_id"]) else row["meter_id"]) == meter
        assert row["payload"] == payload.decode("utf-8", "replace")
        assert pd.isna(row["interval_start_s"])
        assert pd.isna(row["seq"])


def test_topic_mismatch_refuses_every_reading_of_the_bundle(site: Site) -> None:
    bundle = site.bundle(1, [OK, (T[39], 6, 10, 0, 1_020, 0)])
    batch = site.service.submit([offer(bundle, topic_meter=site.meters[2])], "mqtt")
    assert batch.rejected == {"topic_mismatch": 2}
    assert site.store.count("readings") == 0
    ok = site.service.submit([offer(bundle, topic_meter=site.meters[1])], "mqtt")
    assert ok.inserted == 2


# -- duplicates, late readings, counts -------------------------------------------------------


def test_the_same_bundle_twice_is_counted_duplicate_and_stored_once(site: Site) -> None:
    bundle = site.bundle(1, [OK, (T[39], 6, 10, 0, 1_020, 0)])
    first = site.service.submit([offer(bundle)], "test")
    again = site.service.submit([offer(bundle)], "test")
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (again.received, again.inserted, again.duplicates, again.rejected) == (2, 0, 2, {})
    assert site.store.count("readings") == 2
    assert site.store.count("reading_bundles") == 1  # the redelivered copy stored nothing new
    # both copies in one micro-batch: the first is stored, the second counted
    twice = site.bundle(2, [(T[38], 1, 5, 0, 5, 0), (T[39], 2, 5, 0, 10, 0)])
    batch = site.service.submit([offer(twice), offer(twice)], "test")
    assert (batch.received, batch.inserted, batch.duplicates, batch.conflicts) == (4, 2, 2, 0)
    assert site.store.count("readings") == 4
    assert balanced(site.service.counts)


def test_late_reading_is_stored_and_a_changed_late_reading_is_a_conflict(site: Site) -> None:
    newest = site.bundle(1, [(T[39], 9, 10, 0, 2_000, 0)])
    assert site.service.submit([offer(newest)], "test").inserted == 1
    late = site.bundle(1, [(T[35], 4, 7, 0, 1_500, 0)])
    batch = site.service.submit([offer(late)], "test")
    assert (batch.inserted, batch.rejected) == (1, {})
    assert site.store.meter_states()[site.meters[1]].start == T[39]
    changed = site.bundle(1, [(T[35], 4, 8, 0, 1_500, 0)])
    conflict = site.service.submit([offer(changed)], "test")
    assert (conflict.inserted, conflict.duplicates, conflict.conflicts) == (0, 0, 1)
    stored = site.store.readings([site.meters[1]])
    assert sorted(stored["import_wh"].tolist()) == [7, 10]  # the first value is kept
    (row,) = site.store.conflicts().to_dict("records")
    assert (row["stored_import_wh"], row["offered_import_wh"]) == (7, 8)
    assert balanced(site.service.counts)


def test_a_bad_reading_inside_a_bundle_loses_nothing_valid(site: Site) -> None:
    rows = [
        (T[35], 1, 10, 0, 10, 0),
        (T[36], 2, 10, 0, 20, 0),
        (T[37], 3, 10, 0, 999, 0),  # registers jump: refused
        (T[38], 4, 979, 0, 999, 0),  # follows T[36] across the gap: fine
        (T[39], 5, 1, 0, 1_000, 0),
    ]
    bundle = site.bundle(1, rows)
    batch = site.service.submit([offer(bundle)], "test")
    assert (batch.inserted, batch.rejected) == (4, {"register_mismatch": 1})
    stored = site.store.readings([site.meters[1]])
    assert stored["interval_start_s"].tolist() == [T[35], T[36], T[38], T[39]]
    (rejected,) = site.store.rejections().to_dict("records")
    assert (rejected["interval_start_s"], rejected["seq"]) == (T[37], 3)
    assert rejected["payload"] == encode_bundle(bundle).decode()


def test_counts_add_up_over_a_mixed_batch(site: Site) -> None:
    """received == inserted + duplicates + conflicts + sum(rejected), per batch and in total."""
    site.service.submit([offer(b) for b in site.simulated(37, [300, 100, 200])], "test")
    site.service.submit([offer(b) for b in site.simulated(38, [330, 110, 220])], "test")
    newest = site.simulated(39, [360, 120, 240])
    mixed = [
        *(offer(b) for b in newest),  # 3 new
        offer(newest[0]),  # duplicate of the newest reading
        offer(site.bundle(1, [(T[30], 0, 0, 0, 0, 0)])),  # late, new
        offer(b"garbage"),  # malformed
        offer(site.bundle(2, [(T[39], 9, 1, 0, 1, 0)], key=site.fleet.keys[1])),  # bad signature
        offer(site.bundle(1, [(T[38], 0, 111, 0, 115, 0)])),  # late, value differs: conflict
    ]
    batch = site.service.submit(mixed, "test")
    assert (batch.received, batch.inserted, batch.duplicates, batch.conflicts) == (8, 4, 1, 1)
    assert batch.rejected == {"malformed": 1, "bad_signature": 1}
    assert balanced(batch)
    total = site.service.counts
    assert balanced(total)
    assert (total.received, total.inserted) == (14, 10)
    assert total.as_json() == {
        "received": 14,
        "inserted": 10,
        "duplicates": 1,
        "conflicts": 1,
        "rejected": {"bad_signature": 1, "malformed": 1},
    }
    assert site.store.count("readings") == total.inserted
    assert site.store.count("rejected_readings") == 2
    assert site.store.count("reading_conflicts") == 1


# -- restart safety and provenance -----------------------------------------------------------


def test_meter_states_survive_a_restart_and_refuse_a_replay(site: Site) -> None:
    rows = [(T[37], 7, 10, 2, 1_010, 502), (T[38], 8, 20, 3, 1_030, 505)]
    assert site.service.submit([offer(site.bundle(1, rows))], "test").inserted == 2
    # the first reading leaves a gap before it (registers from 0 to where it began)
    before = Gap(PREHISTORY, T[37], -(1 << 63), 7, 0, 0, 1_000, 500)
    expected = MeterState(T[38], 8, 1_030, 505, 20, 3, (before,))
    assert site.store.meter_states() == {site.meters[1]: expected}
    site.store.close()

    store = site.reopen()
    assert store.meter_states() == {site.meters[1]: expected}
    service = site.service_for(store)
    replay = offer(site.bundle(1, [(T[39], 8, 5, 0, 1_035, 505)]))
    changed = offer(site.bundle(1, [(T[38], 9, 20, 3, 1_030, 505)]))
    redelivered = offer(site.bundle(1, rows[1:]))
    batch = service.submit([replay, changed, redelivered], "test")
    assert batch.rejected == {"replayed_sequence": 2}
    assert (batch.inserted, batch.duplicates) == (0, 1)
    follow = service.submit([offer(site.bundle(1, [(T[39], 9, 5, 0, 1_035, 505)]))], "test")
    assert follow.inserted == 1
    assert store.meter_states()[site.meters[1]] == MeterState(T[39], 9, 1_035, 505, 5, 0, (before,))


def test_provenance_keeps_sequence_registers_quality_and_signature(site: Site) -> None:
    bundles = site.simulated(39, [300, 100, 200])
    site.service.submit([offer(b) for b in bundles], "mqtt")
    for pos, bundle in enumerate(bundles):
        record = site.store.provenance(site.meters[pos], T[39])
        assert record is not None
        assert record.seq == 1
        assert record.import_register_wh == [300, 100, 200][pos]
        assert record.export_register_wh == 0
        assert record.voltage_v == pytest.approx(float(bundle.quality["voltage_v"][0]))
        assert record.frequency_hz == pytest.approx(float(bundle.quality["frequency_hz"][0]))
        assert record.power_factor is None
        assert record.signature == "0x" + bundle.signature.hex()
        assert record.transport == "mqtt"
    assert site.store.provenance(site.meters[0], T[38]) is None
    assert site.store.count("reading_bundles") == 3


# -- MQTT against the real broker -------------------------------------------------------------


class Transport:
    """Ingest subscribers and a publisher for one test; everything closed afterwards and
    the persistent session removed from the broker."""

    def __init__(self, broker: BrokerConfig, site: Site) -> None:
        self.broker = broker
        self.site = site
        self.client_id = unique_id("gridshare-test-", 12)
        self.running: list[MqttIngest] = []
        self.publisher = MqttPublisher(broker)

    def start(self, service: IngestService) -> MqttIngest:
        ingest = MqttIngest(
            service, self.site.community.community_id, self.broker, client_id=self.client_id
        )
        self.running.append(ingest)
        ingest.start()
        return ingest

    def stop(self, ingest: MqttIngest) -> None:
        self.running.remove(ingest)
        ingest.stop()
        assert ingest.errors == []

    def publish(self, items: Sequence[tuple[str, bytes]]) -> None:
        self.publisher.publish_many(items)
        self.publisher.flush(10)

    def close(self) -> None:
        for ingest in self.running:
            ingest.stop()
        self.publisher.close()
        purge = self.broker.client(self.client_id)  # clean start, session expiry 0
        self.broker.connect(purge)
        purge.disconnect()
        purge.loop_stop()


@pytest.fixture
def transport(broker: BrokerConfig, site: Site) -> Iterator[Transport]:
    opened = Transport(broker, site)
    yield opened
    opened.close()


def messages(site: Site, bundles: Sequence[ReadingBundle]) -> list[tuple[str, bytes]]:
    cid = site.community.community_id
    return [(readings_topic(cid, b.meter_id), encode_bundle(b)) for b in bundles]


def test_published_bundles_are_stored_and_redelivery_counts_duplicates(
    site: Site, transport: Transport
) -> None:
    ingest = transport.start(site.service)
    bundles = [b for k in (37, 38, 39) for b in site.simulated(k, [300 + k, 100, 200])]
    transport.publish(messages(site, bundles))
    counts = site.service.counts
    wait_until(lambda: counts.received >= 9, "9 readings")
    assert (counts.received, counts.inserted, counts.rejected) == (9, 9, {})
    assert site.store.count("readings") == 9
    record = site.store.provenance(site.meters[2], T[39])
    assert record is not None
    assert (record.transport, record.seq, record.import_register_wh) == ("mqtt", 3, 600)

    transport.publish(messages(site, bundles))  # the same messages again
    # the counts move at the store commit, the message count after the acknowledgements
    wait_until(lambda: counts.received >= 18 and ingest.messages >= 18, "the redelivered readings")
    assert (counts.received, counts.inserted, counts.duplicates) == (18, 9, 9)
    assert counts.rejected == {}
    assert site.store.count("readings") == 9
    assert ingest.messages == 18
    assert ingest.errors == []


def test_malformed_and_mismatched_messages_are_quarantined(
    site: Site, transport: Transport
) -> None:
    transport.start(site.service)
    cid = site.community.community_id
    m0, m1 = site.simulated(39, [300, 100, 200])[:2]
    transport.publish(
        [
            (readings_topic(cid, site.meters[0]), b'{"v": 1, "meter": "broken'),
            (readings_topic(cid, site.meters[2]), encode_bundle(m1)),  # m1's bundle, m2's topic
            (readings_topic(cid, site.meters[0]), encode_bundle(m0)),
        ]
    )
    counts = site.service.counts
    wait_until(lambda: counts.received >= 3, "3 items")
    assert counts.inserted == 1
    assert counts.rejected == {"malformed": 1, "topic_mismatch": 1}
    rows = {r["reason"]: r for r in site.store.rejections().to_dict("records")}
    assert rows["malformed"]["payload"] == '{"v": 1, "meter": "broken'
    assert rows["malformed"]["transport"] == "mqtt"
    assert "not JSON" in rows["malformed"]["detail"]
    mismatch = rows["topic_mismatch"]
    assert mismatch["meter_id"] == site.meters[1]
    assert site.meters[2] in mismatch["detail"]
    assert mismatch["payload"] == encode_bundle(m1).decode()
    assert site.store.readings()["meter_id"].tolist() == [site.meters[0]]


def test_messages_published_while_the_ingest_is_down_arrive_after_restart(
    site: Site, transport: Transport
) -> None:
    """The persistent session queues QoS 1 messages at the broker while the subscriber is
    away; a new subscriber with the same client id receives them, and messages already
    acknowledged are not delivered again."""
    first = transport.start(site.service)
    transport.publish(messages(site, site.simulated(37, [300, 100, 200])))
    wait_until(lambda: site.service.counts.received >= 3, "the first interval")
    transport.stop(first)

    later = [b for k in (38, 39) for b in site.simulated(k, [310, 110, 210])]
    transport.publish(messages(site, later))
    assert site.store.count("readings") == 3  # nobody is listening

    service = site.service_for(site.reopen())  # a restarted process
    transport.start(service)
    wait_until(lambda: service.counts.received >= 6, "the queued messages")
    assert (service.counts.received, service.counts.inserted) == (6, 6)
    assert (service.counts.duplicates, service.counts.rejected) == (0, {})
    assert site.store.count("readings") == 9
    states = site.store.meter_states()
    assert {m: s.seq for m, s in states.items()} == dict.fromkeys(site.meters, 3)
