"""The HTTP ingest API against a real SQLite store: signed bundles in, readings stored.

The service's clock is injected (``NOW``), so timestamps are judged deterministically.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from gridshare.ingest.http import create_app
from gridshare.ingest.service import IngestService
from gridshare.metering.wire import ReadingBundle, bundle_to_json, make_bundle, sign_bundle
from gridshare.simulator.meters import SimulatedMeterFleet, simulated_device_key
from gridshare.storage import SqlStore, open_store
from tests.factories import small_community

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 but still drives its TestClient with the project's httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DAY0 = 1_748_822_400  # 2025-06-02T00:00:00Z
NOW = DAY0 + 86_400 + 30  # just after the day's last interval ended
INTERVAL = 900
TOKEN = "test-api-token"  # noqa: S105 - a test value


@pytest.fixture
def fleet() -> SimulatedMeterFleet:
    return SimulatedMeterFleet(small_community(5), seed=7)  # the PCC and 5 grid meters


@pytest.fixture
def store(sqlite_url: str, fleet: SimulatedMeterFleet) -> Iterator[SqlStore]:
    store = open_store(sqlite_url)
    store.register_community(fleet.community)
    store.set_meter_devices(fleet.devices())
    yield store
    store.close()


@pytest.fixture
def service(store: SqlStore) -> IngestService:
    return IngestService.for_store(store, now=lambda: NOW)


@pytest.fixture
def client(service: IngestService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as client:
        yield client


def day_bundles(
    fleet: SimulatedMeterFleet, meter: int, per_bundle: int, first: int = 0, count: int = 96
) -> list[ReadingBundle]:
    """Signed bundles of ``count`` consecutive readings of one meter from DAY0."""
    rng = np.random.default_rng(meter)
    imp = rng.integers(0, 500, first + count, dtype=np.int64)
    registers = np.cumsum(imp) + 10_000
    meter_id = fleet.community.meters[meter].meter_id
    out = []
    for lo in range(first, first + count, per_bundle):
        rows = slice(lo, min(lo + per_bundle, first + count))
        n = rows.stop - rows.start
        bundle = make_bundle(
            meter_id,
            DAY0 + INTERVAL * np.arange(rows.start, rows.stop, dtype=np.int64),
            np.arange(rows.start, rows.stop, dtype=np.int64) + 1,
            imp[rows],
            np.zeros(n, np.int64),
            registers[rows],
            np.zeros(n, np.int64),
            quality={"voltage_v": [230.0] * n},
        )
        out.append(sign_bundle(bundle, fleet.keys[meter]))
    return out


def body(*items: Any) -> bytes:
    return orjson.dumps(
        {"bundles": [bundle_to_json(i) if isinstance(i, ReadingBundle) else i for i in items]}
    )


def test_valid_bundles_from_several_meters_are_stored(
    client: TestClient, store: SqlStore, fleet: SimulatedMeterFleet
) -> None:
    bundles = [b for m in range(6) for b in day_bundles(fleet, m, per_bundle=24)]
    response = client.post("/v1/readings", content=body(*bundles))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 576,
        "inserted": 576,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": {},
        "rejections": [],
    }
    assert "submit;dur=" in response.headers["server-timing"]
    assert store.count("readings") == 576
    assert store.rejection_counts() == {}
    stored = store.readings([fleet.community.meters[2].meter_id])
    expected = np.concatenate([b.import_wh for b in day_bundles(fleet, 2, per_bundle=96)])
    assert stored["import_wh"].tolist() == expected.tolist()


def test_the_same_body_again_counts_duplicates_only(
    client: TestClient, store: SqlStore, fleet: SimulatedMeterFleet
) -> None:
    payload = body(*[b for m in range(6) for b in day_bundles(fleet, m, per_bundle=32)])
    first = client.post("/v1/readings", content=payload).json()
    again = client.post("/v1/readings", content=payload).json()

    assert first["inserted"] == 576
    assert again == {
        "received": 576,
        "inserted": 0,
        "duplicates": 576,
        "conflicts": 0,
        "rejected": {},
        "rejections": [],
    }
    assert store.count("readings") == 576
    assert store.count("reading_conflicts") == 0
    stats = client.get("/v1/ingest/stats").json()
    assert stats == {
        "received": 1152,
        "inserted": 576,
        "duplicates": 576,
        "conflicts": 0,
        "rejected": {},
    }


def test_refused_readings_are_quarantined_with_reasons_and_the_rest_stored(
    client: TestClient, store: SqlStore, fleet: SimulatedMeterFleet
) -> None:
    community = fleet.community
    valid = day_bundles(fleet, 1, per_bundle=4, count=4)[0]
    tampered = bundle_to_json(day_bundles(fleet, 2, per_bundle=3, count=3)[0])
    tampered["import_wh"][1] += 1  # changed after signing
    ghost_key = simulated_device_key(community.community_id, 7, "t:ghost/grid")
    unknown = sign_bundle(
        make_bundle(
            "t:ghost/grid", [DAY0, DAY0 + INTERVAL], [1, 2], [5, 5], [0, 0], [5, 10], [0, 0]
        ),
        ghost_key,
    )
    negative = sign_bundle(
        make_bundle(community.meters[3].meter_id, [DAY0], [1], [-5], [0], [100], [0]),
        fleet.keys[3],
    )
    future_start = (NOW // INTERVAL + 1) * INTERVAL
    future = sign_bundle(
        make_bundle(community.meters[4].meter_id, [future_start], [1], [5], [0], [5], [0]),
        fleet.keys[4],
    )
    missing_field = bundle_to_json(day_bundles(fleet, 5, per_bundle=1, count=1)[0])
    del missing_field["seq"]

    response = client.post(
        "/v1/readings",
        content=body(valid, tampered, unknown, negative, future, 42, missing_field),
    )

    assert response.status_code == 200, response.text
    reply = response.json()
    expected_reasons = {
        "bad_signature": 3,
        "unknown_meter": 2,
        "negative_energy": 1,
        "future_timestamp": 1,
        "malformed": 2,
    }
    assert reply["received"] == 4 + 3 + 2 + 1 + 1 + 2
    assert (reply["inserted"], reply["duplicates"], reply["conflicts"]) == (4, 0, 0)
    assert reply["rejected"] == expected_reasons
    listed = {(r["meter"], r["start"], r["reason"]) for r in reply["rejections"]}
    assert listed == {
        *((community.meters[2].meter_id, DAY0 + INTERVAL * k, "bad_signature") for k in range(3)),
        ("t:ghost/grid", DAY0, "unknown_meter"),
        ("t:ghost/grid", DAY0 + INTERVAL, "unknown_meter"),
        (community.meters[3].meter_id, DAY0, "negative_energy"),
        (community.meters[4].meter_id, future_start, "future_timestamp"),
        (None, None, "malformed"),
        (community.meters[5].meter_id, None, "malformed"),
    }
    assert all(r["detail"] for r in reply["rejections"])

    assert store.count("readings") == 4
    assert store.readings()["meter_id"].unique().tolist() == [community.meters[1].meter_id]
    assert store.rejection_counts() == expected_reasons
    quarantined = store.rejections()
    assert len(quarantined) == 9
    assert set(quarantined["transport"]) == {"http"}
    assert set(quarantined["received_at_s"]) == {NOW}
    malformed = quarantined[quarantined["reason"] == "malformed"]
    assert sorted(malformed["payload"]) == sorted([orjson.dumps(missing_field).decode(), "42"])
    bad = quarantined[quarantined["reason"] == "bad_signature"]
    assert orjson.loads(bad["payload"].iloc[0]) == tampered
    assert client.get("/v1/ingest/stats").json()["rejected"] == expected_reasons


def test_the_reply_lists_at_most_100_rejections(
    client: TestClient, fleet: SimulatedMeterFleet
) -> None:
    tampered = bundle_to_json(day_bundles(fleet, 1, per_bundle=96)[0])
    tampered["seq"][0] += 1
    reply = client.post("/v1/readings", content=body(tampered, *["x"] * 10)).json()

    assert reply["rejected"] == {"bad_signature": 96, "malformed": 10}
    assert len(reply["rejections"]) == 100


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"",
        b'[{"v": 1}]',
        b'{"readings": []}',
        b'{"bundles": {"v": 1}}',
        b'{"bundles": [], "extra": 1}',
    ],
)
def test_a_body_not_of_the_expected_shape_is_refused_whole(
    client: TestClient, store: SqlStore, content: bytes
) -> None:
    response = client.post("/v1/readings", content=content)

    assert response.status_code == 400
    assert response.json()["reason"] == "malformed"
    assert response.json()["error"]
    assert store.count("rejected_readings") == 0
    assert client.get("/v1/ingest/stats").json()["received"] == 0


def test_an_empty_list_of_bundles_is_fine(client: TestClient) -> None:
    response = client.post("/v1/readings", content=b'{"bundles": []}')

    assert response.status_code == 200
    assert response.json()["received"] == 0


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_without_the_right_token_requests_are_refused(
    service: IngestService, store: SqlStore, fleet: SimulatedMeterFleet, authorization: str | None
) -> None:
    payload = body(*day_bundles(fleet, 1, per_bundle=96))
    headers = {} if authorization is None else {"Authorization": authorization}
    with TestClient(create_app(service, api_token=TOKEN)) as client:
        response = client.post("/v1/readings", content=payload, headers=headers)
        stats = client.get("/v1/ingest/stats", headers=headers)
        health = client.get("/healthz")

    assert response.status_code == 401
    assert response.json()["reason"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert stats.status_code == 401
    assert health.status_code == 200
    assert store.count("readings") == 0


def test_with_the_token_requests_are_served(
    service: IngestService, store: SqlStore, fleet: SimulatedMeterFleet
) -> None:
    payload = body(*day_bundles(fleet, 1, per_bundle=96))
    headers = {"Authorization": f"bearer {TOKEN}"}
    with TestClient(create_app(service, api_token=TOKEN)) as client:
        response = client.post("/v1/readings", content=payload, headers=headers)
        stats = client.get("/v1/ingest/stats", headers=headers)

    assert response.status_code == 200
    assert response.json()["inserted"] == 96
    assert stats.json()["inserted"] == 96
    assert store.count("readings") == 96


def test_a_body_over_the_limit_is_refused(
    service: IngestService, store: SqlStore, fleet: SimulatedMeterFleet
) -> None:
    payload = body(*day_bundles(fleet, 1, per_bundle=96))
    limit = len(payload) - 1

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for at in range(0, len(payload), 1000):
            yield payload[at : at + 1000]

    with TestClient(create_app(service, max_body_bytes=limit)) as client:
        declared = client.post("/v1/readings", content=payload)
        streamed = client.post("/v1/readings", content=chunks())
        fits = client.post("/v1/readings", content=payload[:limit])  # not JSON, but not too big

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["reason"] == "too_large"
    assert fits.status_code == 400
    assert store.count("readings") == 0


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
