"""``gridshare simulate``: a scenario's simulated world through the real store, steps and
ledger, then the audit, the summary and the plots."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gridshare.app.ledger import CommunityLedger, Registration, connect_ledger
from gridshare.app.steps import Surroundings, Trading, build_steps
from gridshare.balancing.monitor import Alert
from gridshare.ledger.keys import Signer
from gridshare.model import Community
from gridshare.model.summary import RunSummary, SimulationFacts, Verification
from gridshare.pipeline import ClosedInterval, Pipeline
from gridshare.pipeline.audit import audit_all
from gridshare.simulator.balancing import build_network
from gridshare.simulator.market import escrow_deposits, trading_agents
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.onchain import participant_accounts
from gridshare.simulator.run import Progress, build_simulation
from gridshare.simulator.scenario import Scenario
from gridshare.simulator.source import SimulatedMeterSource
from gridshare.storage import SqlStore, StorageError, default_sqlite_url, open_store

__all__ = [
    "SIMULATION_INTERVALS_PER_TRANSACTION",
    "SimulationResult",
    "fresh_chain",
    "fresh_sqlite",
    "run_plots",
    "run_simulation",
]

SIMULATION_INTERVALS_PER_TRANSACTION = 96
"""Simulated intervals committed together (a day at 15 minutes): fewer commits, same data."""


@dataclass
class SimulationResult:
    summary: RunSummary
    out_dir: Path
    database_url: str
    source: SimulatedMeterSource
    plots: list[Path] = field(default_factory=list)


def run_simulation(
    scenario: Scenario,
    out_dir: Path,
    *,
    scenario_name: str = "scenario",
    database_url: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    plots: bool = True,
    operator: Signer | Callable[[], Signer] | None = None,
    market: str | None = None,
    trading: bool = True,
    balancing: bool = True,
    on_alert: Callable[[Alert], None] | None = None,
) -> SimulationResult:
    """Run ``scenario`` through the pipeline; write ``summary.json`` (and plots) to ``out_dir``.

    With an ``operator`` key the run also has a ledger: an embedded chain in ``out_dir``
    (started afresh), the community's members, devices and generators registered on it,
    every interval committed and its production certified, and finally audited.

    With ``trading`` the members trade through their agents on the peer-to-peer market,
    with the scenario's mechanism or ``market`` (a name from
    :data:`gridshare.market.clearing.MECHANISMS`); with a ledger, every interval's trades
    are settled on the P2PTrading contract.
    """
    community, clock, source, weather, start, end = build_simulation(
        scenario, scenario_name, progress
    )
    network = build_network(scenario, community) if balancing else None
    out_dir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or fresh_sqlite(out_dir)
    store = open_store(database_url)
    ledger: CommunityLedger | None = None
    try:
        _clear_community(store, community.community_id, replace=replace)
        seed = scenario.community.seed
        simulation = scenario.simulation
        run_id = f"{community.community_id}-{simulation.start:%Y%m%d}-{simulation.days}d-s{seed}"
        store.register_community(community)
        store.begin_run(run_id, community.community_id, scenario_name, seed)
        fleet = SimulatedMeterFleet(community, seed)
        store.set_meter_devices(fleet.devices())
        signed = operator is not None
        members = _members(scenario, community, market, signed=signed) if trading else None
        if operator is not None:
            ledger = _fresh_ledger(
                scenario, community, fleet, out_dir, operator, run_id, members, balancing, progress
            )
        # the simulator stands in for the devices, the grid and the event channel
        steps = build_steps(
            scenario,
            community,
            Surroundings(source, source, source, network, on_alert),
            trading=members,
            chains=ledger.chains if ledger else None,
            balancing=balancing,
            flush_every=SIMULATION_INTERVALS_PER_TRANSACTION,
        )
        pipeline = Pipeline(
            community,
            clock,
            source,
            store,
            steps,
            run_id=run_id,
            on_interval=_counter(progress, clock.count),
            intervals_per_transaction=SIMULATION_INTERVALS_PER_TRANSACTION,
        )
        try:
            report = pipeline.run()
        except BaseException:
            store.finish_run(run_id, "failed", None)
            raise
        facts = SimulationFacts(
            scenario=scenario_name,
            seed=seed,
            start=start,
            end=end,
            interval_minutes=simulation.interval_minutes,
            members=scenario.member_count,
            weather_station=weather.station,
        )
        verification = None
        if ledger is not None:
            audit = audit_all(
                ledger.connection.web3,
                ledger.metering.deployment,
                ledger.metering,
                store,
                [community.community_id],
                progress,
                recheck_events=False,  # indexed just now; `gridshare verify` re-reads them
            )
            verification = Verification(audit.ok, audit)
        summary = RunSummary(
            community.community_id, report, pipeline.summaries(), facts, audit=verification
        )
        store.finish_run(run_id, "finished", summary)
        (out_dir / "summary.json").write_text(
            json.dumps(summary.as_json(), indent=2) + "\n", encoding="utf-8"
        )
        result = SimulationResult(summary, out_dir, database_url, source)
        if plots:
            result.plots = run_plots(store, community, source, out_dir, progress)
        return result
    finally:
        if ledger is not None:
            ledger.close()
        store.close()


def fresh_sqlite(out_dir: Path) -> str:
    """The run directory's own SQLite store, started afresh."""
    url = default_sqlite_url(out_dir)
    for suffix in ("", "-wal", "-shm"):
        Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    return url


def fresh_chain(out_dir: Path) -> None:
    """Remove the run directory's embedded chain and its deployments record."""
    for stale in ("chain", "deployments"):
        shutil.rmtree(out_dir / stale, ignore_errors=True)


def _clear_community(store: SqlStore, community_id: str, *, replace: bool) -> None:
    readings, runs = store.recorded(community_id)
    if (readings or runs) and not replace:
        raise StorageError(
            f"the database already holds {readings} readings and {runs} runs of community "
            f"{community_id!r}; pass --replace to delete them first, or use another database"
        )
    if readings or runs or replace:
        store.delete_community(community_id)


def _members(
    scenario: Scenario, community: Community, market: str | None, *, signed: bool
) -> Trading:
    """The simulated members' agents and escrow (signed orders when there is a ledger)."""
    agents = trading_agents(community, scenario.market, scenario.community.seed, signed=signed)
    deposits = escrow_deposits(community, scenario.market, scenario.simulation.days)
    escrow = {agents[i].maker: amount for i, amount in deposits.items() if i in agents}
    return Trading(agents, escrow, mechanism=market, signed=signed)


def _fresh_ledger(
    scenario: Scenario,
    community: Community,
    fleet: SimulatedMeterFleet,
    out_dir: Path,
    operator: Signer | Callable[[], Signer],
    run_id: str,
    members: Trading | None,
    balancing: bool,
    progress: Progress | None,
) -> CommunityLedger:
    """A new embedded chain in the run directory with the community on it."""
    if progress:
        progress("ledger", 0, 1)
    fresh_chain(out_dir)
    signer = operator() if callable(operator) else operator
    registration = Registration(
        [bytes.fromhex(a[2:]) for a in fleet.addresses],
        participant_accounts(community, scenario.community.seed, signer.address),
    )
    ledger = connect_ledger(
        scenario,
        community,
        registration,
        out_dir,
        signer,
        run_id=run_id,
        escrow_micros=None if members is None else members.escrow_micros,
        balancing=balancing,
    )
    if progress:
        progress("ledger", 1, 1)
    return ledger


def _counter(progress: Progress | None, total: int) -> Callable[[ClosedInterval], None]:
    done = [0]

    def on_interval(_closed: ClosedInterval) -> None:
        done[0] += 1
        if progress:
            progress("intervals", done[0], total)

    return on_interval


def run_plots(
    store: SqlStore,
    community: Community,
    source: SimulatedMeterSource,
    out_dir: Path,
    progress: Progress | None,
) -> list[Path]:
    from gridshare.simulator.report import write_plots

    if progress:
        progress("plots", 0, 1)
    written = write_plots(
        store.interval_balances(community.community_id),
        community.time_zone,
        int(source.fleet.capacity_wh.sum()),
        out_dir,
        store.balancing_intervals(community.community_id),
        store.dr_events(community.community_id),
    )
    if progress:
        progress("plots", 1, 1)
    return written
