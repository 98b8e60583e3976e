"""The REST API (gridshare.api) against a real store, on SQLite and on PostgreSQL: members
sign in with their own keys (EIP-4361), read their own meters and balances and their
community's aggregates, and are refused everything else with a reason.

A community of five members runs a day through the pipeline loop and the accounting step
into the store: 15-minute readings of every meter and each interval's balance. Keys are
generated here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from gridshare.api.app import create_app
from gridshare.api.ports import ApiStore
from gridshare.model import Community, ReadingBatch
from gridshare.model.records import COMMUNITY_FLOW_COLUMNS
from gridshare.pipeline import Pipeline
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.settings import Settings
from gridshare.storage import SqlStore, open_store
from gridshare.units import Interval
from tests.factories import QUARTER, small_community
from tests.postgres import throwaway_database
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account, personal_sign, siwe_text

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 but still drives its TestClient with the project's httpx
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DAY0 = datetime(2025, 6, 2, tzinfo=UTC)
NOW = DAY0 + timedelta(days=2, hours=9)
MEMBERS = 5
DAY = {"start": "2025-06-02T00:00:00Z", "end": "2025-06-03T00:00:00Z"}


@dataclass
class Populated:
    """A store holding one community's day, and the accounts of its people."""

    store: SqlStore
    community: Community
    members: list[LocalAccount]
    operator: LocalAccount
    auditor: LocalAccount

    def pid(self, i: int) -> str:
        return f"{self.community.community_id}:m{i}"


class _DayClock:
    """The 96 intervals of DAY0."""

    def intervals(self) -> Iterator[Interval]:
        interval = Interval(DAY0, QUARTER)
        for _ in range(96):
            yield interval
            interval = interval.next()


class RandomMeters:
    """Random readings of every meter, the PCC seeing the members' exchange."""

    durable = False

    def __init__(self, n_meters: int, seed: int) -> None:
        self.n_meters = n_meters
        self.rng = np.random.default_rng(seed)

    def collect(self, interval: Interval) -> ReadingBatch:
        imports = self.rng.integers(0, 600, self.n_meters, dtype=np.int64)
        exports = self.rng.integers(0, 150, self.n_meters, dtype=np.int64)
        imports[0], exports[0] = imports[1:].sum(), exports[1:].sum()
        return ReadingBatch(
            interval,
            np.arange(self.n_meters, dtype=np.int64),
            imports,
            exports,
            np.full(self.n_meters, -1, dtype=np.int64),
        )


def _run_day(store: SqlStore, community: Community, seed: int) -> None:
    """A day through the pipeline loop and the accounting step, as a run stores it."""
    store.begin_run("api-day", community.community_id, "test", seed)
    meters = RandomMeters(len(community.meters), seed)
    steps = [EnergyAccountingStep(community)]
    Pipeline(community, _DayClock(), meters, store, steps, run_id="api-day").run()
    store.finish_run("api-day", "finished", None)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def database_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    """An empty, migrated store on the database ``request.param`` names (a module-scoped
    fixture's parameter: ``sqlite`` or ``postgresql``), closed and dropped afterwards."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.sqlite'}"
        else:
            admin = str(request.getfixturevalue("postgres_server"))
            url = stack.enter_context(throwaway_database(admin))
        store = open_store(url)
        stack.callback(store.close)  # closed before the database is dropped
        yield store


def register_members(store: SqlStore, community_id: str) -> tuple[Community, list[LocalAccount]]:
    """A community of :data:`MEMBERS` members in ``store``, each with an account of their
    own (generated here)."""
    community = small_community(MEMBERS, community_id=community_id)
    store.register_community(community)
    members = [new_account() for _ in range(MEMBERS)]
    store.set_participant_accounts(
        {f"{community_id}:m{i}": a.address for i, a in enumerate(members)}
    )
    return community, members


@pytest.fixture(scope="module", params=DATABASES)
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Populated]:
    """One populated store per database for the module's (read-only) tests."""
    with database_store(request, tmp_path_factory) as store:
        community, members = register_members(store, "api")
        _run_day(store, community, seed=11)
        yield Populated(store, community, members, new_account(), new_account())


def settings_for(populated: Populated, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        api_domain=DOMAIN,
        api_uri=URI,
        api_operators=[populated.operator.address],
        api_auditors=[populated.auditor.address.lower()],
        **overrides,
    )


@pytest.fixture
def client(populated: Populated, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        populated.store, settings_for(populated, tmp_path), chain_id=CHAIN_ID, now=lambda: NOW
    )
    with TestClient(app) as client:
        yield client


def sign_in(client: TestClient, account: LocalAccount) -> dict[str, str]:
    """The headers of a session opened by ``account``'s signed EIP-4361 message."""
    offered = client.post("/v1/auth/nonce")
    assert offered.status_code == 200, offered.text
    assert (offered.json()["domain"], offered.json()["chain_id"]) == (DOMAIN, CHAIN_ID)
    text = siwe_text(account, offered.json()["nonce"], NOW)
    reply = client.post(
        "/v1/auth/login", json={"message": text, "signature": personal_sign(account, text)}
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def assert_refused(reply: Any, status: int, error: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert body["error"] == error, body
    assert body["detail"], body
    assert "Traceback" not in reply.text
    return body


def test_the_sql_store_is_the_apis_store_port(populated: Populated) -> None:
    assert isinstance(populated.store, ApiStore)
    assert not isinstance(object(), ApiStore)


def test_a_member_reads_their_own_readings_as_the_store_holds_them(
    client: TestClient, populated: Populated
) -> None:
    headers = sign_in(client, populated.members[1])
    pid = populated.pid(1)
    reply = client.get(f"/v1/members/{pid}/readings", params=DAY, headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["participant_id"], body["resolution"]) == (pid, "15min")
    [meter] = body["meters"]
    assert (meter["meter_id"], meter["kind"]) == (f"{pid}/grid", "grid")
    stored = populated.store.readings([f"{pid}/grid"])
    assert len(meter["points"]) == len(stored) == 96
    assert [p["import_wh"] for p in meter["points"]] == stored["import_wh"].tolist()
    assert [p["export_wh"] for p in meter["points"]] == stored["export_wh"].tolist()
    assert meter["points"][1]["start"] == "2025-06-02T00:15:00Z"
    assert {p["readings"] for p in meter["points"]} == {1}

    hourly = client.get(
        f"/v1/members/{pid}/readings", params=DAY | {"resolution": "hour"}, headers=headers
    ).json()["meters"][0]["points"]
    per_hour = stored["import_wh"].to_numpy().reshape(24, 4).sum(axis=1)
    assert [p["import_wh"] for p in hourly] == per_hour.tolist()
    assert {p["readings"] for p in hourly} == {4}

    balances = client.get(
        f"/v1/members/{pid}/balances",
        params={"start": "2025-06-01T00:00:00Z", "end": "2025-06-04T00:00:00Z"},
        headers=headers,
    )
    assert balances.status_code == 200, balances.text
    [day] = balances.json()["points"]  # daily by default; only the 2nd holds readings
    assert day["start"] == "2025-06-02T00:00:00Z"
    assert day["grid_import_wh"] == int(stored["import_wh"].sum())
    assert day["grid_export_wh"] == int(stored["export_wh"].sum())
    assert day["consumption_wh"] == day["grid_import_wh"] - day["grid_export_wh"]
    assert day["readings"] == 96


def test_a_member_is_refused_another_members_data(client: TestClient, populated: Populated) -> None:
    headers = sign_in(client, populated.members[1])
    for what in ("readings", "balances"):
        reply = client.get(f"/v1/members/{populated.pid(2)}/{what}", params=DAY, headers=headers)
        body = assert_refused(reply, 403, "not_yours")
        assert populated.pid(1) in body["detail"]
    # an id that does not exist is refused the same way: a member learns nothing
    reply = client.get("/v1/members/api:nobody/readings", params=DAY, headers=headers)
    assert_refused(reply, 403, "not_yours")
    assert_refused(client.get("/v1/status", headers=headers), 403, "wrong_role")


def test_the_operator_and_the_auditor_read_every_member(
    client: TestClient, populated: Populated
) -> None:
    for account in (populated.operator, populated.auditor):
        headers = sign_in(client, account)
        for i in range(MEMBERS):
            reply = client.get(
                f"/v1/members/{populated.pid(i)}/readings",
                params=DAY | {"resolution": "day"},
                headers=headers,
            )
            assert reply.status_code == 200, reply.text
            [meter] = reply.json()["meters"]
            stored = populated.store.readings([f"{populated.pid(i)}/grid"])
            assert meter["points"][0]["import_wh"] == int(stored["import_wh"].sum())
        reply = client.get("/v1/members/api:nobody/readings", params=DAY, headers=headers)
        assert_refused(reply, 404, "unknown_participant")


def test_requests_without_a_valid_session_are_refused_with_401(
    client: TestClient, populated: Populated
) -> None:
    path = f"/v1/members/{populated.pid(0)}/readings"
    assert_refused(client.get(path, params=DAY), 401, "unauthenticated")
    reply = client.get(path, params=DAY, headers={"Authorization": "Bearer not.a-token"})
    assert_refused(reply, 401, "token_invalid")
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert_refused(client.get("/v1/status"), 401, "unauthenticated")


def test_a_session_expires(populated: Populated, tmp_path: Path) -> None:
    clock = [NOW]
    app = create_app(
        populated.store,
        settings_for(populated, tmp_path),
        chain_id=CHAIN_ID,
        now=lambda: clock[0],
    )
    with TestClient(app) as client:
        headers = sign_in(client, populated.members[0])
        path = f"/v1/members/{populated.pid(0)}/balances"
        assert client.get(path, params=DAY, headers=headers).status_code == 200
        clock[0] = NOW + timedelta(minutes=15)
        assert_refused(client.get(path, params=DAY, headers=headers), 401, "token_expired")


@pytest.mark.parametrize(
    ("params", "error", "says"),
    [
        (DAY | {"resolution": "minute"}, "invalid_request", "resolution"),
        ({"start": DAY["start"]}, "invalid_request", "end"),
        ({"start": "2025-06-02T00:00:00", "end": DAY["end"]}, "invalid_range", "no UTC offset"),
        ({"start": "yesterday", "end": DAY["end"]}, "invalid_range", "ISO 8601"),
        ({"start": DAY["end"], "end": DAY["start"]}, "invalid_range", "after start"),
        ({"start": "2025-06-02T00:05:00Z", "end": DAY["end"]}, "invalid_range", "aligned"),
        (
            {"start": "2025-06-02T00:00:00Z", "end": "2025-07-10T00:00:00Z"},
            "range_too_large",
            "the limit is 3000",
        ),
    ],
)
def test_malformed_queries_are_refused_with_422_and_a_reason(
    client: TestClient, populated: Populated, params: dict[str, str], error: str, says: str
) -> None:
    headers = sign_in(client, populated.members[0])
    reply = client.get(f"/v1/members/{populated.pid(0)}/readings", params=params, headers=headers)
    assert says in assert_refused(reply, 422, error)["detail"]


def test_community_aggregates_for_its_members(client: TestClient, populated: Populated) -> None:
    headers = sign_in(client, populated.members[3])
    reply = client.get("/v1/communities/api/balance", params=DAY, headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["members"], body["resolution"], len(body["points"])) == (MEMBERS, "hour", 24)
    stored = populated.store.interval_balances("api")
    for column in COMMUNITY_FLOW_COLUMNS:
        per_hour = stored[column].to_numpy().reshape(24, 4).sum(axis=1)
        assert [p[column] for p in body["points"]] == per_hour.tolist(), column
    assert {p["intervals"] for p in body["points"]} == {4}
    assert sum(p["member_import_wh"] for p in body["points"]) > 0
    other = client.get("/v1/communities/elsewhere/balance", params=DAY, headers=headers)
    assert_refused(other, 403, "not_yours")


def test_aggregates_of_a_small_community_are_not_served_to_members(
    populated: Populated, tmp_path: Path
) -> None:
    settings = settings_for(populated, tmp_path, api_min_group_members=MEMBERS + 1)
    app = create_app(populated.store, settings, chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client:
        member = sign_in(client, populated.members[0])
        reply = client.get("/v1/communities/api/balance", params=DAY, headers=member)
        assert f"at least {MEMBERS + 1}" in assert_refused(reply, 403, "group_too_small")["detail"]
        operator = sign_in(client, populated.operator)
        assert (
            client.get("/v1/communities/api/balance", params=DAY, headers=operator).status_code
            == 200
        )


def test_sign_in_refusals(client: TestClient, populated: Populated) -> None:
    account = populated.members[0]
    nonce = client.post("/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce, NOW)
    login = {"message": text, "signature": personal_sign(account, text)}
    assert client.post("/v1/auth/login", json=login).status_code == 200
    assert_refused(client.post("/v1/auth/login", json=login), 401, "nonce_unknown")  # replayed

    stranger = new_account()
    nonce = client.post("/v1/auth/nonce").json()["nonce"]
    text = siwe_text(stranger, nonce, NOW)
    reply = client.post(
        "/v1/auth/login", json={"message": text, "signature": personal_sign(stranger, text)}
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["role"], reply.json()["participant_id"]) == ("applicant", None)
    # an account that is not a member may register, and read nothing of anyone's
    applicant = {"Authorization": f"Bearer {reply.json()['token']}"}
    for path in (
        f"/v1/members/{populated.pid(1)}/readings",
        "/v1/communities/api/balance",
        "/v1/status",
    ):
        assert_refused(client.get(path, params=DAY, headers=applicant), 403, "not_registered")

    nonce = client.post("/v1/auth/nonce").json()["nonce"]
    for text, error in (
        (siwe_text(account, nonce, NOW, domain="evil.example"), "wrong_domain"),
        (siwe_text(account, nonce, NOW, chain_id=1), "wrong_chain"),
        (siwe_text(account, "neverissued1", NOW), "nonce_unknown"),
    ):
        reply = client.post(
            "/v1/auth/login", json={"message": text, "signature": personal_sign(account, text)}
        )
        assert_refused(reply, 401, error)
    text = siwe_text(account, nonce, NOW)
    forged = personal_sign(stranger, text)
    reply = client.post("/v1/auth/login", json={"message": text, "signature": forged})
    assert_refused(reply, 401, "bad_signature")
    # the refusals did not use the nonce up: the member can still sign in with it
    reply = client.post(
        "/v1/auth/login", json={"message": text, "signature": personal_sign(account, text)}
    )
    assert reply.status_code == 200, reply.text
    assert_refused(client.post("/v1/auth/login", json={"message": "hello"}), 422, "invalid_request")
    reply = client.post("/v1/auth/login", json={"message": "hello", "signature": "0x00"})
    assert_refused(reply, 422, "malformed_message")


def test_rate_limit_body_limit_and_the_operators_refusal_counts(
    populated: Populated, tmp_path: Path
) -> None:
    clock = [0.0]
    settings = settings_for(
        populated, tmp_path, api_rate_per_s=0.5, api_rate_burst=4, api_max_body_bytes=2048
    )
    app = create_app(
        populated.store, settings, chain_id=CHAIN_ID, now=lambda: NOW, monotonic=lambda: clock[0]
    )
    with TestClient(app) as client:
        headers = sign_in(client, populated.members[0])  # 2 of this IP's 4
        path = f"/v1/members/{populated.pid(0)}/balances"
        for _ in range(4):  # the token's own bucket
            assert client.get(path, params=DAY, headers=headers).status_code == 200
        reply = client.get(path, params=DAY, headers=headers)
        assert_refused(reply, 429, "rate_limited")
        assert reply.headers["Retry-After"] == "2"
        clock[0] += 2.0  # one token back
        assert client.get(path, params=DAY, headers=headers).status_code == 200

        too_big = {"message": "x" * 4000, "signature": "0x"}
        assert_refused(client.post("/v1/auth/login", json=too_big), 413, "body_too_large")
        assert_refused(client.get(path, params=DAY), 401, "unauthenticated")  # IP's 4th

        clock[0] += 100.0
        operator = sign_in(client, populated.operator)
        status = client.get("/v1/status", headers=operator)
        assert status.status_code == 200, status.text
        assert status.json()["refusals"] == {
            "body_too_large": 1,
            "rate_limited": 1,
            "unauthenticated": 1,
        }


class _FailingStore:
    """A store whose readings query fails: the API's last-resort handler answers."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def member_readings(self, *args: object) -> list[Any]:
        raise RuntimeError("disk on fire at /var/lib/secret/path")


def test_an_internal_error_answers_500_with_an_id_and_no_traceback(
    populated: Populated, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing: Any = _FailingStore(populated.store)
    app = create_app(failing, settings_for(populated, tmp_path), chain_id=CHAIN_ID, now=lambda: NOW)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, "gridshare.api"):
        headers = sign_in(client, populated.members[0])
        reply = client.get(f"/v1/members/{populated.pid(0)}/readings", params=DAY, headers=headers)
        body = assert_refused(reply, 500, "internal_error")
        assert "disk on fire" not in reply.text
        assert body["error_id"] in body["detail"]
    assert any(body["error_id"] in record.getMessage() for record in caplog.records)
    assert any("disk on fire" in str(record.exc_info) for record in caplog.records)
