"""The operator's API: ``gridshare verify`` as a background job (``/v1/audit/verify``) and
the community's configuration (``/v1/communities/{community_id}/configuration``), for the
operator and the auditor only.

The verify job runs for real over the tiny scenario's day, committed and certified on its
embedded chain (the app layer's :func:`gridshare.app.audit.verifier` opens its own store
and chain in the job's thread); the state machine (one job at a time, errors without a
traceback) is driven by verifiers the test controls. The configuration is the island
scenario's, built by the app layer and checked field by field against the scenario file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from gridshare.api.app import create_app
from gridshare.app.audit import verifier
from gridshare.app.configuration import community_configuration
from gridshare.app.simulate import SimulationResult, run_simulation
from gridshare.errors import GridshareError
from gridshare.ledger.keys import LocalSigner
from gridshare.pipeline.audit import AuditReport, Progress
from gridshare.settings import Settings
from gridshare.simulator.run import prepare, scenario_community
from gridshare.storage import SqlStore, open_store
from tests.integration.conftest import wait_until
from tests.integration.test_api import NOW, TestClient, assert_refused, register_members, sign_in
from tests.siwe import CHAIN_ID, DOMAIN, URI, new_account

DATA = Path(__file__).parents[1] / "scenarios" / "data"
TINY = DATA / "tiny.toml"
ISLAND = DATA / "island.toml"


@dataclass
class People:
    store: SqlStore
    member: LocalAccount
    operator: LocalAccount
    auditor: LocalAccount

    def settings(self, data_dir: Path) -> Settings:
        return Settings(
            data_dir=data_dir,
            api_domain=DOMAIN,
            api_uri=URI,
            api_operators=[self.operator.address],
            api_auditors=[self.auditor.address],
        )


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    """A store with a member who can sign in (the routes read nothing else from it)."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('ops') / 'store.sqlite'}")
    try:
        _, members = register_members(store, "isle")
        yield People(store, members[0], new_account(), new_account())
    finally:
        store.close()


def _client(people: People, data_dir: Path, **ports: Any) -> TestClient:
    app = create_app(
        people.store, people.settings(data_dir), chain_id=CHAIN_ID, now=lambda: NOW, **ports
    )
    return TestClient(app)


def _finished(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        reply = client.get(f"/v1/audit/verify/{job_id}", headers=headers)
        assert reply.status_code == 200, reply.text
        seen.update(reply.json())
        return bool(seen["state"] != "running")

    wait_until(done, f"verify job {job_id} to finish", timeout_s=120, poll_s=0.1)
    return seen


# ---- verify: the job's life, with verifiers the test controls


def test_members_may_not_verify(people: People, tmp_path: Path) -> None:
    with _client(people, tmp_path, verifier=lambda _progress: AuditReport()) as client:
        headers = sign_in(client, people.member)
        assert_refused(client.post("/v1/audit/verify", headers=headers), 403, "wrong_role")
        assert_refused(client.get("/v1/audit/verify/latest", headers=headers), 403, "wrong_role")


def test_a_node_without_a_verifier_says_so(people: People, tmp_path: Path) -> None:
    with _client(people, tmp_path) as client:
        headers = sign_in(client, people.operator)
        assert_refused(client.post("/v1/audit/verify", headers=headers), 503, "verify_unavailable")
        assert_refused(
            client.get("/v1/audit/verify/latest", headers=headers), 503, "verify_unavailable"
        )


def test_one_job_at_a_time_with_its_progress(people: People, tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking(progress: Progress) -> AuditReport:
        progress("verify", 3, 10)
        started.set()
        release.wait(30)
        progress("verify", 10, 10)
        return AuditReport(findings=["checked"], problems=["interval 0: a mismatch"])

    with _client(people, tmp_path, verifier=blocking) as client:
        headers = sign_in(client, people.auditor)
        assert_refused(client.get("/v1/audit/verify/latest", headers=headers), 404, "no_verify_job")
        first = client.post("/v1/audit/verify", headers=headers)
        assert first.status_code == 202, first.text
        job_id = first.json()["job_id"]
        assert started.wait(10)
        running = client.get(f"/v1/audit/verify/{job_id}", headers=headers).json()
        assert (running["state"], running["done"], running["total"]) == ("running", 3, 10)
        assert running["ended_at"] is None
        assert running["findings"] is None
        again = client.post("/v1/audit/verify", headers=headers)
        assert job_id in assert_refused(again, 409, "verify_running")["detail"]
        release.set()
        job = _finished(client, headers, job_id)
        assert (job["state"], job["done"], job["total"]) == ("failed", 10, 10)
        assert job["findings"]["problems"] == ["interval 0: a mismatch"]
        assert job["ended_at"] is not None
        assert client.get("/v1/audit/verify/latest", headers=headers).json() == job
        # a finished job no longer blocks the next, which replaces it as the latest
        second = client.post("/v1/audit/verify", headers=headers)
        assert second.status_code == 202, second.text
        _finished(client, headers, second.json()["job_id"])
        assert_refused(
            client.get(f"/v1/audit/verify/{job_id}", headers=headers), 404, "unknown_job"
        )


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        (RuntimeError("secret internals at 0xdeadbeef"), "an unexpected failure"),
        (GridshareError("the chain at http://x is unreachable"), "the chain at http://x"),
    ],
)
def test_a_failing_job_ends_in_error_without_a_traceback(
    people: People, tmp_path: Path, failure: Exception, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(_progress: Progress) -> AuditReport:
        raise failure

    with _client(people, tmp_path, verifier=failing) as client:
        headers = sign_in(client, people.operator)
        started = client.post("/v1/audit/verify", headers=headers)
        assert started.status_code == 202, started.text
        job = _finished(client, headers, started.json()["job_id"])
    assert job["state"] == "error"
    assert shown in job["error"]
    assert job["error_id"] in job["error"]
    assert job["findings"] is None
    text = str(job)
    assert "Traceback" not in text
    assert "0xdeadbeef" not in text
    assert job["error_id"] in caplog.text  # the cause is in the node's log


# ---- verify: for real, over a day committed on the embedded chain


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("tiny")
    return run_simulation(prepare(TINY), out, operator=LocalSigner.generate(), plots=False)


@pytest.mark.slow
def test_the_auditor_verifies_the_store_against_the_chain(
    people: People, tiny_run: SimulationResult, tmp_path: Path
) -> None:
    with _client(people, tmp_path, verifier=verifier(tiny_run.out_dir, None, None)) as client:
        headers = sign_in(client, people.auditor)
        started = client.post("/v1/audit/verify", headers=headers)
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "running"
        job = _finished(client, headers, started.json()["job_id"])
    assert job["state"] == "passed", job
    assert (job["done"], job["total"]) == (96, 96)
    findings = job["findings"]
    assert findings["problems"] == []
    assert findings["intervals_checked"] == 96
    assert findings["certified_wh"] == findings["production_wh"] > 0
    assert any(line.startswith("Metering of tiny") for line in findings["findings"])
    assert job["ended_at"] >= job["started_at"]


# ---- configuration


@pytest.fixture(scope="module")
def island_client(people: People, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    scenario = prepare(ISLAND)
    configuration = community_configuration(scenario, scenario_community(scenario))
    with _client(people, tmp_path_factory.mktemp("api"), configuration=configuration) as client:
        yield client


def test_the_operator_reads_the_configuration_of_the_community_file(
    people: People, island_client: TestClient
) -> None:
    headers = sign_in(island_client, people.operator)
    reply = island_client.get("/v1/communities/isle/configuration", headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    scenario = prepare(ISLAND)
    assert (body["community_id"], body["name"]) == ("isle", scenario.community.name)
    assert body["interval_s"] == scenario.simulation.interval_minutes * 60
    grid = scenario.grid
    tariff = body["tariff"]
    assert tariff["import_price_micros_per_kwh"] == int(grid.import_price_per_kwh * 1_000_000)
    assert tariff["export_price_micros_per_kwh"] == int(grid.export_price_per_kwh * 1_000_000)
    assert tariff["demand_charge_micros_per_kw"] == int(grid.demand_charge_per_kw * 1_000_000)
    assert tariff["time_of_use"] == [
        {
            "start": w.start.strftime("%H:%M") if isinstance(w.start, time) else str(w.start),
            "end": w.end.strftime("%H:%M") if isinstance(w.end, time) else str(w.end),
            "import_price_micros_per_kwh": int(w.import_price_per_kwh * 1_000_000),
        }
        for w in grid.time_of_use
    ]
    limits = body["limits"]
    assert (limits["import_limit_kw"], limits["export_limit_kw"]) == (
        grid.import_limit_kw,
        grid.export_limit_kw,
    )
    island = scenario.balancing.island
    assert limits["nominal_hz"] == island.nominal_hz
    assert limits["f_low_hz"] == pytest.approx(island.nominal_hz - island.frequency_band_hz)
    assert limits["f_high_hz"] == pytest.approx(island.nominal_hz + island.frequency_band_hz)
    assert limits["min_reserve_margin"] == scenario.balancing.min_reserve_margin
    network = scenario.balancing.network
    assert network is not None
    assert (limits["v_min_pu"], limits["v_max_pu"]) == (network.v_min_pu, network.v_max_pu)
    assert body["emergency"] == {
        "reserve_hours": island.reserve_hours,
        "shed_non_critical": island.shed_non_critical,
    }
    market = scenario.market
    assert body["market"]["mechanism"] == market.mechanism
    assert body["market"]["settlement"] == market.settlement
    assert body["market"]["max_price_micros_per_kwh"] == int(market.max_price_per_kwh * 10**6)
    assert body["market"]["fee_bps"] == round(market.fee_percent * 100)

    # who is critical and who is shed in which order: per group of the file
    critical = {g.name for g in scenario.groups if g.critical}
    assert critical
    assert {pid.split(":")[1].rsplit("-", 1)[0] for pid in body["critical_loads"]} == critical
    priorities = {g.name: g.shed_priority for g in scenario.groups}
    participants = [p["participant_id"] for p in body["shed_priorities"]]
    assert len(participants) == 1 + sum(g.count for g in scenario.groups)
    for entry in body["shed_priorities"][1:]:  # the operator first, then the groups
        group = entry["participant_id"].split(":")[1].rsplit("-", 1)[0]
        assert entry["shed_priority"] == priorities[group]

    # the CIGRE LV network: buses with their kV, lines, its transformers, every member's bus
    topology = body["network"]
    assert topology["name"] == network.name == "cigre_lv"
    buses = {b["bus"]: b for b in topology["buses"]}
    assert {round(b["vn_kv"], 2) for b in buses.values()} >= {20.0, 0.4}
    assert topology["lines"]
    assert topology["transformers"]
    for line in topology["lines"]:
        assert line["from_bus"] in buses
        assert line["to_bus"] in buses
        assert line["length_km"] > 0
        assert line["max_i_ka"] > 0
    assert [m["participant_id"] for m in topology["member_buses"]] == participants
    assert all(m["bus"] in buses for m in topology["member_buses"])


def test_the_auditor_reads_it_members_do_not(people: People, island_client: TestClient) -> None:
    auditor = sign_in(island_client, people.auditor)
    assert island_client.get("/v1/communities/isle/configuration", headers=auditor).is_success
    member = sign_in(island_client, people.member)
    reply = island_client.get("/v1/communities/isle/configuration", headers=member)
    assert_refused(reply, 403, "wrong_role")


def test_an_unknown_community_or_none_configured_is_404(
    people: People, island_client: TestClient, tmp_path: Path
) -> None:
    headers = sign_in(island_client, people.operator)
    reply = island_client.get("/v1/communities/elsewhere/configuration", headers=headers)
    assert_refused(reply, 404, "unknown_community")
    with _client(people, tmp_path) as bare:
        headers = sign_in(bare, people.operator)
        reply = bare.get("/v1/communities/isle/configuration", headers=headers)
        assert_refused(reply, 404, "no_configuration")
