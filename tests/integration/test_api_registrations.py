"""Joining a community through the API, on SQLite and PostgreSQL: an account that is not a
member signs in with its own key as an applicant and registers; the operator approves or
rejects; every refusal has a reason and stores nothing; every operator action is logged.

(That an approved member then meters, and an unapproved one cannot, is tested on a running
node in tests/integration/test_serve.py.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from gridshare.api.app import create_app
from gridshare.app.registrations import CommunityFile
from gridshare.cli import app as cli
from gridshare.ledger.keys import Keystore
from gridshare.metering.wire import device_address
from gridshare.settings import Settings
from gridshare.simulator.run import prepare, scenario_community
from gridshare.storage import SqlStore
from tests.integration.test_api import (
    DATABASES,
    NOW,
    TestClient,
    assert_refused,
    database_store,
    sign_in,
)
from tests.integration.test_api_stream import _Server
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account

TINY = Path(__file__).parents[1] / "scenarios" / "data" / "tiny.toml"
QUEUE = "/v1/communities/tiny/registrations"


def _device() -> str:
    return "0x" + device_address(secrets.token_bytes(32)).hex()


def _producer(handle: str, **member: Any) -> dict[str, Any]:
    """A registration of a 12 kWp PV producer, each meter with a fresh device key."""
    pid = f"tiny:{handle}-001"
    return {
        "handle": handle,
        "member": {"role": "producer", "pv": {"kwp": 12.0, "tilt_deg": 20}, **member},
        "devices": {f"{pid}/grid": _device(), f"{pid}/pv/meter": _device()},
        "location": {"latitude_deg": 36.1, "longitude_deg": -79.9},
    }


@pytest.fixture(scope="module", params=DATABASES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    with database_store(request, tmp_path_factory) as store:
        store.register_community(scenario_community(prepare(TINY), "tiny.toml"))
        yield store


class People:
    def __init__(self) -> None:
        self.operator = new_account()
        self.auditor = new_account()


@pytest.fixture
def people() -> People:
    return People()


@pytest.fixture
def client(store: SqlStore, people: People, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        api_domain=DOMAIN,
        api_uri=URI,
        api_operators=[people.operator.address],
        api_auditors=[people.auditor.address],
    )
    app = create_app(
        store,
        settings,
        chain_id=CHAIN_ID,
        now=lambda: NOW,
        community_file=CommunityFile(prepare(TINY)),
    )
    with TestClient(app) as client:
        yield client


def _register(client: TestClient, account: LocalAccount, body: dict[str, Any]) -> Any:
    return client.post(QUEUE, json=body, headers=sign_in(client, account))


def test_an_applicant_registers_and_the_operator_approves_with_the_action_logged(
    client: TestClient, people: People
) -> None:
    applicant = new_account()
    handle = "farm-" + secrets.token_hex(3)
    body = _producer(handle)
    reply = _register(client, applicant, body)
    assert reply.status_code == 202, reply.text
    held = reply.json()
    assert (held["status"], held["participant_id"]) == ("pending", f"tiny:{handle}-001")
    assert held["applicant"] == applicant.address.lower()
    assert held["devices"] == {m: a.lower() for m, a in body["devices"].items()}
    assert held["member"]["pv"]["kwp"] == 12.0
    assert held["location"] == body["location"]

    mine = client.get("/v1/registrations/mine", headers=sign_in(client, applicant))
    assert [r["handle"] for r in mine.json()["registrations"]] == [handle]
    # the applicant reads nothing else, and cannot approve itself
    own = sign_in(client, applicant)
    assert_refused(client.get(QUEUE, headers=own), 403, "not_registered")
    assert_refused(client.post(f"{QUEUE}/{handle}/approve", json={}, headers=own), 403, "not_registered")  # fmt: skip  # noqa: E501

    auditor = sign_in(client, people.auditor)
    pending = client.get(QUEUE, params={"status": "pending"}, headers=auditor).json()
    assert handle in [r["handle"] for r in pending["registrations"]]
    refused = client.post(f"{QUEUE}/{handle}/approve", json={}, headers=auditor)
    assert_refused(refused, 403, "wrong_role")  # the auditor changes nothing

    operator = sign_in(client, people.operator)
    approved = client.post(f"{QUEUE}/{handle}/approve", json={"reason": "site visit ok"}, headers=operator)  # fmt: skip  # noqa: E501
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert (decided["status"], decided["reason"]) == ("approved", "site visit ok")
    assert decided["decided_by"] == people.operator.address.lower()
    again = client.post(f"{QUEUE}/{handle}/reject", json={}, headers=operator)
    assert "approved already" in assert_refused(again, 409, "not_pending")["detail"]

    log = client.get("/v1/communities/tiny/operator-actions", headers=auditor).json()["actions"]
    mine_logged = [a for a in log if a["target"] == handle]
    assert [(a["action"], a["actor"], a["detail"]) for a in mine_logged] == [
        ("registration.approve", people.operator.address.lower(), "site visit ok")
    ]
    # a refused decision logs nothing
    assert len(client.get("/v1/communities/tiny/operator-actions", headers=auditor).json()["actions"]) == len(log)  # fmt: skip  # noqa: E501


def test_a_rejected_applicant_sees_why_and_may_register_again(
    client: TestClient, people: People
) -> None:
    applicant = new_account()
    handle = "shed-" + secrets.token_hex(3)
    assert _register(client, applicant, _producer(handle)).status_code == 202
    operator = sign_in(client, people.operator)
    rejected = client.post(f"{QUEUE}/{handle}/reject", json={"reason": "no grid connection yet"}, headers=operator)  # fmt: skip  # noqa: E501
    assert rejected.json()["status"] == "rejected"
    mine = client.get("/v1/registrations/mine", headers=sign_in(client, applicant)).json()
    assert mine["registrations"][0]["reason"] == "no grid connection yet"
    retry = _register(client, applicant, _producer(handle + "b"))
    assert retry.status_code == 202, retry.text


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        (lambda b: b["member"].update(role="consumer"), 422, "bad_member"),
        (lambda b: b["member"]["pv"].update(kwp=-3), 422, "bad_member"),
        (lambda b: b["member"].update(critical=True), 422, "operator_field"),
        (lambda b: b["member"].update(bus=3), 422, "operator_field"),
        (lambda b: b["member"]["pv"].update(variation=0.2), 422, "bad_member"),
        (lambda b: b["devices"].popitem(), 422, "devices_mismatch"),
        (lambda b: b["devices"].update({"tiny:homes-01/grid": _device()}), 422, "devices_mismatch"),
        (lambda b: b["devices"].update(dict.fromkeys(b["devices"], "0x12")), 422, "bad_address"),
        (lambda b: b["devices"].update(dict.fromkeys(b["devices"], _device())), 422, "bad_address"),
        (lambda b: b.update(handle="homes"), 422, "handle_taken"),
        (lambda b: b.update(handle="Not A Handle"), 422, "invalid_request"),
        (lambda b: b.update(surprise=1), 422, "invalid_request"),
    ],
)
def test_a_bad_registration_is_refused_with_its_reason_and_stores_nothing(
    client: TestClient, store: SqlStore, change: Any, status: int, error: str
) -> None:
    before = len(store.registrations("tiny"))
    body = _producer("bad-" + secrets.token_hex(3))
    change(body)
    reply = _register(client, new_account(), body)
    assert_refused(reply, status, error)
    assert len(store.registrations("tiny")) == before


def test_conflicting_registrations_are_refused(
    client: TestClient, store: SqlStore, people: People
) -> None:
    first = _producer("dup-" + secrets.token_hex(3))
    applicant = new_account()
    assert _register(client, applicant, first).status_code == 202
    # the same account again, while its first is open
    assert_refused(_register(client, applicant, _producer("other-" + secrets.token_hex(3))), 409, "registration_open")  # fmt: skip  # noqa: E501
    # another account with the same handle, or with a device already named
    assert_refused(_register(client, new_account(), _producer(first["handle"])), 409, "handle_taken")  # fmt: skip  # noqa: E501
    stolen = _producer("thief-" + secrets.token_hex(3))
    meter = next(iter(stolen["devices"]))
    stolen["devices"][meter] = next(iter(first["devices"].values()))
    assert_refused(_register(client, new_account(), stolen), 409, "device_taken")
    # the operator and the auditor are not applicants
    assert_refused(_register(client, people.operator, _producer("op-" + secrets.token_hex(3))), 409, "already_member")  # fmt: skip  # noqa: E501
    # another community's queue is not this node's
    other = client.post(
        "/v1/communities/elsewhere/registrations",
        json=_producer("x-" + secrets.token_hex(3)),
        headers=sign_in(client, new_account()),
    )
    assert_refused(other, 404, "unknown_community")
    assert_refused(client.post(QUEUE, json=first), 401, "unauthenticated")
    operator = sign_in(client, people.operator)
    assert_refused(client.post(f"{QUEUE}/nobody/approve", json={}, headers=operator), 404, "unknown_registration")  # fmt: skip  # noqa: E501


def test_the_cli_registers_with_a_keystore_key_and_the_operator_approves(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gridshare members register|registrations|approve` against the API on a real HTTP
    server, each signing in with a key from the local keystore."""
    monkeypatch.setenv("GRIDSHARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDSHARE_KEY_PASSWORD", "a-test-password")
    monkeypatch.setenv("GRIDSHARE_KEY_KDF_ITERATIONS", "1000")
    keys = Keystore(tmp_path / "keys", kdf_iterations=1000)
    member = keys.create("me", "a-test-password")
    operator = keys.create("operator", "a-test-password")
    settings = Settings(
        data_dir=tmp_path / "node", api_domain=DOMAIN, api_uri=URI, api_operators=[operator]
    )
    app = create_app(
        store, settings, chain_id=CHAIN_ID, community_file=CommunityFile(prepare(TINY))
    )
    handle = "cli-" + secrets.token_hex(3)
    body = _producer(handle)
    lines = ['community = "tiny"', f'handle = "{handle}"', "[member]", 'role = "producer"']
    lines += ["[member.pv]", "kwp = 12.0", "[devices]"]
    lines += [f'"{m}" = "{a}"' for m, a in body["devices"].items()]
    registration = tmp_path / "me.toml"
    registration.write_text("\n".join(lines) + "\n", "utf-8")
    runner = CliRunner()
    with _Server(app) as http:
        url = str(http.base_url)
        done = runner.invoke(cli, ["members", "register", str(registration), "--node", url, "--key", "me"])  # fmt: skip  # noqa: E501
        assert done.exit_code == 0, done.output
        assert f"tiny:{handle}-001" in done.output
        assert "pending" in done.output
        again = runner.invoke(cli, ["members", "register", str(registration), "--node", url, "--key", "me"])  # fmt: skip  # noqa: E501
        assert again.exit_code == 2, again.output
        assert "registration_open" in again.output
        assert "Traceback" not in again.output
        wrong = runner.invoke(cli, ["members", "approve", "tiny", handle, "--node", url, "--key", "me"])  # fmt: skip  # noqa: E501
        assert wrong.exit_code == 2, wrong.output
        assert "not_registered" in wrong.output
        queue = runner.invoke(cli, ["members", "registrations", "tiny", "--node", url, "--status", "pending"])  # fmt: skip  # noqa: E501
        assert queue.exit_code == 0, queue.output
        assert handle in queue.output
        approved = runner.invoke(cli, ["members", "approve", "tiny", handle, "--node", url, "--reason", "ok"])  # fmt: skip  # noqa: E501
        assert approved.exit_code == 0, approved.output
        assert f"tiny:{handle}-001: approved" in approved.output
    held = store.registration("tiny", handle)
    assert held is not None
    assert (held.status, held.applicant, held.decided_by) == ("approved", member.lower(), operator.lower())  # fmt: skip  # noqa: E501
    unreachable = runner.invoke(cli, ["members", "register", str(registration), "--node", url, "--key", "me"])  # fmt: skip  # noqa: E501
    assert unreachable.exit_code == 2
    assert "cannot reach the node" in unreachable.output


CONFIGURATION = "/v1/communities/tiny/configuration"


def test_the_operator_changes_the_configuration_and_every_change_is_logged(
    client: TestClient, store: SqlStore, people: People
) -> None:
    operator = sign_in(client, people.operator)
    before = len(store.configuration_changes("tiny"))
    change = {
        "grid": {
            "import_limit_kw": 650,
            "time_of_use": [{"start": "17:00", "end": "20:00", "import_price_per_kwh": 0.5}],
        },
        "balancing": {"island": {"reserve_hours": 6}, "network": {"name": "case33bw"}},
        "groups": {"homes": {"critical": True, "shed_priority": 3, "bus": 7}},
    }
    reply = client.patch(CONFIGURATION, json={"change": change, "reason": "storm season"}, headers=operator)  # fmt: skip  # noqa: E501
    assert reply.status_code == 202, reply.text
    body = reply.json()
    configured = body["configuration"]
    assert configured["limits"]["import_limit_kw"] == 650
    assert configured["emergency"]["reserve_hours"] == 6
    assert configured["tariff"]["time_of_use"] == [
        {"start": "17:00", "end": "20:00", "import_price_micros_per_kwh": 500_000}
    ]
    homes = [f"tiny:homes-{i:03d}" for i in range(1, 5)]
    assert set(homes) <= set(configured["critical_loads"])
    buses = {m["participant_id"]: m["bus"] for m in configured["network"]["member_buses"]}
    assert [buses[h] for h in homes] == [7] * 4
    assert body["change"]["change"] == change
    assert body["change"]["actor"] == people.operator.address.lower()

    auditor = sign_in(client, people.auditor)
    changes = client.get(f"{CONFIGURATION}/changes", headers=auditor).json()["changes"]
    assert len(changes) == before + 1
    assert (changes[-1]["change"], changes[-1]["reason"]) == (change, "storm season")
    log = client.get("/v1/communities/tiny/operator-actions", headers=auditor).json()["actions"]
    assert (log[-1]["action"], log[-1]["target"], log[-1]["detail"]) == (
        "configuration.change",
        "balancing,grid,groups",
        "storm season",
    )
    # the next change builds on it: null resets a value to the community file's default
    reset = client.patch(CONFIGURATION, json={"change": {"balancing": {"island": {"reserve_hours": None}}}}, headers=operator)  # fmt: skip  # noqa: E501
    assert reset.status_code == 202, reset.text
    assert reset.json()["configuration"]["emergency"]["reserve_hours"] == 4.0
    assert reset.json()["configuration"]["limits"]["import_limit_kw"] == 650


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"market": {"fee_per_kwh": 0.5}}, "change.market"),
        ({"community": {"name": "mine"}}, "change.community"),
        ({"groups": {"nobody": {"critical": True}}}, "change.groups.nobody"),
        ({"groups": {"homes": {"load": {"annual_kwh": 1}}}}, "change.groups.homes"),
        ({"grid": {"import_limit_kw": -5}}, "grid.import_limit_kw"),
        ({"grid": {"surprise": 1}}, "grid.surprise"),
        ({"grid": {"export_price_per_kwh": 5}}, "at least the export price"),
        (
            {
                "grid": {
                    "time_of_use": [{"start": "10:00", "end": "10:00", "import_price_per_kwh": 1}]
                }
            },
            "start != end",
        ),
        ({"balancing": {"island": {"reserve_hours": 500}}}, "balancing.island.reserve_hours"),
        (
            {"balancing": {"network": {"name": "case33bw"}}, "groups": {"homes": {"bus": 999}}},
            "balancing.network",
        ),
    ],
)
def test_a_change_the_node_could_not_run_is_refused_and_stores_nothing(
    client: TestClient, store: SqlStore, people: People, change: dict[str, Any], fault: str
) -> None:
    before = len(store.configuration_changes("tiny")), len(store.operator_actions("tiny"))
    reply = client.patch(CONFIGURATION, json={"change": change}, headers=sign_in(client, people.operator))  # fmt: skip  # noqa: E501
    assert fault in assert_refused(reply, 422, "bad_configuration")["detail"]
    assert (len(store.configuration_changes("tiny")), len(store.operator_actions("tiny"))) == before


def test_only_the_operator_changes_the_configuration(client: TestClient, people: People) -> None:
    change = {"change": {"grid": {"import_limit_kw": 1}}}
    auditor = sign_in(client, people.auditor)
    assert_refused(client.patch(CONFIGURATION, json=change, headers=auditor), 403, "wrong_role")
    applicant = sign_in(client, new_account())
    assert_refused(client.patch(CONFIGURATION, json=change, headers=applicant), 403, "not_registered")  # fmt: skip  # noqa: E501
    assert_refused(client.get(f"{CONFIGURATION}/changes", headers=applicant), 403, "not_registered")  # fmt: skip  # noqa: E501
    operator = sign_in(client, people.operator)
    elsewhere = client.patch("/v1/communities/elsewhere/configuration", json=change, headers=operator)  # fmt: skip  # noqa: E501
    assert_refused(elsewhere, 404, "unknown_community")
