"""The live path end to end: simulated meters publish signed readings to the real broker;
the live pipeline verifies, stores, closes, commits and certifies every interval."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridshare.app.live import ListenResult, listen
from gridshare.cli import app
from gridshare.ingest.mqtt import BrokerConfig
from gridshare.ingest.service import IngestService, Offered
from gridshare.ledger.chain import open_chain
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.metering import MeteringLedger
from gridshare.model.summary import CertificateSummary, CommitSummary, MarketSummary
from gridshare.pipeline.metering_steps import audit_metering
from gridshare.simulator.community import build_community
from gridshare.simulator.live import publish_scenario, rebased_start_s, scenario_bundles
from gridshare.simulator.run import prepare
from gridshare.storage import open_store
from tests.integration.conftest import free_port, unique_id

pytestmark = pytest.mark.slow  # live pipelines of up to a day of intervals, each on chain

TINY = Path(__file__).parents[1] / "scenarios" / "data" / "tiny.toml"
TOKEN = "test-token"  # noqa: S105 - a test server on loopback


def community_of(spec):  # type: ignore[no-untyped-def]
    from gridshare.simulator.weather import read_typical_year

    return build_community(spec, read_typical_year(spec.weather.source).location)[0]


class Listener:
    """`listen` on a background thread, as a node runs beside its meters: started, then
    waited on until it subscribed (onboarding on chain done), then joined."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        self.result: list[ListenResult] = []
        self.failure: list[BaseException] = []
        kwargs["on_ready"] = self.ready.set
        self._thread = threading.Thread(target=self._run, args=args, kwargs=kwargs, daemon=True)
        self._thread.start()
        assert self.ready.wait(120), repr(self.failure[:1])

    def _run(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.result.append(listen(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            self.failure.append(exc)
            self.ready.set()

    def join(self) -> ListenResult:
        self._thread.join(timeout=900)
        assert not self.failure, repr(self.failure[:1])
        assert self.result, "the live pipeline did not finish"
        return self.result[0]


def test_readings_over_the_broker_are_verified_stored_committed_and_certified(
    tmp_path: Path, broker: BrokerConfig
) -> None:
    spec = prepare(TINY)
    intervals = 96
    now = time.time()
    first = rebased_start_s(spec, intervals, 0, now)
    operator = LocalSigner.generate()
    listener = Listener(
        spec, broker, tmp_path, operator, first_start_s=first, intervals=intervals,
        grace_s=900, client_id=unique_id("test-", 8),
    )  # fmt: skip
    # publish once the subscriber holds its session (after onboarding on chain)
    published = publish_scenario(spec, broker, now=lambda: now)
    done = listener.join()
    summary = done.summary
    assert summary.live is not None
    ingest = summary.live.ingest
    assert ingest.inserted == published > 0, (ingest.rejected, summary.pipeline)
    assert ingest.rejected == {}
    assert summary.section(CommitSummary).commitments == intervals
    assert summary.live.closed_complete == intervals  # every meter reported every interval

    store = open_store(done.database_url)
    connection = open_chain(tmp_path, operator)
    try:
        assert store.count("readings") == published
        community_id = store.committed_communities()[0]
        starts = [int(s) for s in store.commitments(community_id)["interval_start_s"]]
        assert starts[0] == first
        assert len(starts) == intervals
        deployment = Deployment.read(connection.deployment_file())
        ledger = MeteringLedger(connection.transactions, deployment)
        audit = audit_metering(starts, lambda s: store.leaf_rows(community_id, s), ledger)
        assert audit.ok, audit.problems[:3]
        issued = summary.section(CertificateSummary).certificates_issued_wh
        assert audit.certified_wh == audit.production_wh == issued
        assert audit.production_wh > 0
    finally:
        connection.close()
        store.close()

    # the auditor's view: every reading proven by its root and by its device's signature
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert f"{published} stored readings proven by their device's signature" in " ".join(
        ok.output.split()
    )

    # after a restart, intervals already committed stay closed
    store = open_store(done.database_url)
    try:
        store.register_community(community_of(spec))
        restarted = IngestService.for_store(store, now=lambda: now)
        assert restarted.closed_before_s == first + 900 * intervals
        late = restarted.submit(
            [Offered(b) for b in next(iter(scenario_bundles(spec, first)))[2][:1]], "test"
        )
        assert late.rejected == {"interval_closed": 1}
    finally:
        store.close()

    # a reading changed in the database is caught twice: root and signature
    with sqlite3.connect(tmp_path / "gridshare.sqlite") as c:
        c.execute(
            "UPDATE readings SET export_wh = export_wh + 5 WHERE meter_pk = (SELECT meter_pk "
            "FROM meters WHERE meter_id = 'tiny:coop-wind-001/wind/meter') "
            "AND interval_start_s = ?",
            (first + 900 * 10,),
        )
    bad = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1, bad.output
    flat = " ".join(bad.output.split())
    assert "production root" in flat
    assert "tiny:coop-wind-001/wind/meter at" in flat
    assert "the device signed" in flat


def test_http_batches_feed_the_same_live_pipeline(tmp_path: Path, broker: BrokerConfig) -> None:
    """Readings come over HTTP; the balancing commands and grid status still use MQTT."""
    import httpx
    import orjson

    from gridshare.metering.wire import bundle_to_json

    spec = prepare(TINY)
    intervals = 96
    first = rebased_start_s(spec, intervals, 0, time.time())
    port = free_port()
    listener = Listener(
        spec, broker, tmp_path, LocalSigner.generate(), first_start_s=first,
        intervals=intervals, grace_s=900, mqtt=False, http_port=port, api_token=TOKEN,
    )  # fmt: skip
    posted = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        day = list(scenario_bundles(spec, first))
        for k in range(0, len(day), 24):  # six hours of every meter per request
            bundles = [b for _, _, part in day[k : k + 24] for b in part]
            body = orjson.dumps({"bundles": [bundle_to_json(b) for b in bundles]})
            reply = client.post("/v1/readings", content=body, headers=headers)
            assert reply.status_code == 200, reply.text
            assert reply.json()["inserted"] == len(bundles)
            posted += len(bundles)
        again = client.post("/v1/readings", content=body, headers=headers).json()
        assert (again["inserted"], again["duplicates"]) == (0, len(bundles))
    summary = listener.join().summary
    assert summary.live is not None
    assert summary.section(CommitSummary).commitments == intervals
    assert summary.live.closed_complete == intervals
    assert summary.live.ingest.inserted == posted
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output


def test_verify_catches_added_readings_and_lost_commitment_records(
    tmp_path: Path, broker: BrokerConfig
) -> None:
    spec = prepare(TINY)
    intervals = 8
    now = time.time()
    first = rebased_start_s(spec, 96, 0, now)
    listener = Listener(
        spec, broker, tmp_path, LocalSigner.generate(), first_start_s=first,
        intervals=intervals, grace_s=900, client_id=unique_id("test-", 8),
    )  # fmt: skip
    publish_scenario(spec, broker, now=lambda: now)
    listener.join()
    runner = CliRunner()
    assert runner.invoke(app, ["verify", "--data-dir", str(tmp_path)]).exit_code == 0

    db = tmp_path / "gridshare.sqlite"
    with sqlite3.connect(db) as c:  # an unsigned reading, added after the fact
        c.execute(
            "INSERT INTO readings SELECT interval_start_s + 900 * 500, meter_pk, 1, 0, NULL "
            "FROM readings WHERE interval_start_s = ? LIMIT 1",
            (first,),
        )
    added = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert added.exit_code == 1
    assert "holds a reading no device signed" in " ".join(added.output.split())

    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM readings WHERE interval_start_s = ?", (first + 900 * 500,))
        c.execute("DELETE FROM interval_commitments WHERE interval_start_s = ?", (first + 900,))
    lost = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert lost.exit_code == 1
    assert f"interval {first + 900}: committed on chain, but the store has no record" in " ".join(
        lost.output.split()
    )


def test_live_members_trade_for_two_days_on_the_same_steps_as_a_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: BrokerConfig
) -> None:
    """`meters listen` runs the step list `simulate` runs, market included: two days of
    signed readings over MQTT give trades, settled on chain, and `verify` passes."""
    import gridshare.app.node
    import gridshare.app.simulate
    from gridshare.app.simulate import run_simulation
    from gridshare.pipeline import Pipeline

    built: dict[str, list[str]] = {}

    def recording(kind: str) -> type[Pipeline]:
        class Recording(Pipeline):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                built[kind] = [step.name for step in self.steps]

        return Recording

    # the live node (`listen` and `serve`) builds its pipeline in app.node.run_node
    monkeypatch.setattr(gridshare.app.node, "Pipeline", recording("live"))
    monkeypatch.setattr(gridshare.app.simulate, "Pipeline", recording("simulate"))

    spec = prepare(TINY, days=2)
    intervals = 192
    now = time.time()
    first = rebased_start_s(spec, intervals, 0, now)
    operator = LocalSigner.generate()
    listener = Listener(
        spec, broker, tmp_path / "live", operator, first_start_s=first, intervals=intervals,
        grace_s=900, client_id=unique_id("test-", 8),
    )  # fmt: skip
    published = publish_scenario(spec, broker, now=lambda: now)
    done = listener.join()
    summary = done.summary
    assert summary.live is not None
    assert summary.live.ingest.inserted == published > 0
    assert summary.live.closed_complete == intervals

    market = summary.section(MarketSummary)
    assert market.traded_kwh > 0, market
    assert market.market.orders > 0
    assert market.market.settle_transactions > 0

    store = open_store(done.database_url)
    try:
        assert store.count("market_trades") > 0
        assert store.count("market_intervals") >= intervals - 1
    finally:
        store.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--data-dir", str(tmp_path / "live")])
    assert ok.exit_code == 0, ok.output

    run_simulation(
        spec, tmp_path / "sim", operator=LocalSigner.generate(), plots=False
    )  # the same scenario, simulated
    assert built["live"] == built["simulate"]
    assert built["live"] == ["accounting", "commit", "certify", "market", "balancing"]
