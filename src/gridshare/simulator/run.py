"""Wire a scenario into the pipeline: simulated clock and meters, real store and steps."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from gridshare.balancing.monitor import Alert
from gridshare.errors import ConfigurationError
from gridshare.ledger.balancing import BalancingLedger
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import deploy_or_load
from gridshare.ledger.keys import Signer
from gridshare.ledger.market import MarketLedger
from gridshare.ledger.metering import MeteringLedger
from gridshare.market.orders import address_of, domain_separator
from gridshare.model import Community
from gridshare.pipeline import ClosedInterval, JsonValue, Pipeline
from gridshare.pipeline.accounting_step import EnergyAccountingStep
from gridshare.pipeline.audit import audit_all
from gridshare.pipeline.market_step import MarketStep
from gridshare.pipeline.metering_steps import CertificationStep, CommitmentStep
from gridshare.pipeline.steps import Step
from gridshare.simulator.balancing import (
    CommunityBalancingChain,
    build_balancing,
    build_network,
    flexibility_budget,
    member_flags,
    member_flexibility,
    outage_spans,
)
from gridshare.simulator.clock import SimulatedClock
from gridshare.simulator.community import build_community
from gridshare.simulator.market import (
    build_market,
    escrow_deposits,
    market_rules,
    member_keys,
)
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.simulator.onchain import onboard, participant_accounts
from gridshare.simulator.scenario import Scenario, ScenarioError, load_scenario
from gridshare.simulator.source import SimulatedMeterSource
from gridshare.simulator.weather import PVLIB_PREFIX, TypicalYear, read_typical_year
from gridshare.storage import StorageError, default_sqlite_url, open_store
from gridshare.units import UnitError

SIMULATION_INTERVALS_PER_TRANSACTION = 96
"""Simulated intervals committed together (a day at 15 minutes): fewer commits, same data."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total)."""


@dataclass
class SimulationResult:
    summary: dict[str, JsonValue]
    out_dir: Path
    database_url: str
    source: SimulatedMeterSource
    plots: list[Path] = field(default_factory=list)


def simulation_window(scenario: Scenario) -> tuple[datetime, datetime]:
    """UTC start and end: local midnight of the start date to local midnight ``days`` later."""
    zone = ZoneInfo(scenario.community.time_zone)
    first = scenario.simulation.start
    last = first + timedelta(days=scenario.simulation.days)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def prepare(scenario_path: Path, days: int | None = None) -> Scenario:
    """Load a scenario, optionally overriding its number of days."""
    scenario = load_scenario(scenario_path)
    source = scenario.weather.source
    if not source.startswith(PVLIB_PREFIX) and not Path(source).is_absolute():
        weather = scenario.weather.model_copy(update={"source": str(scenario_path.parent / source)})
        scenario = scenario.model_copy(update={"weather": weather})
    if days is not None:
        raw = scenario.model_dump()
        raw["simulation"]["days"] = days
        try:
            scenario = Scenario.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ScenarioError(f"--days {days}: {problem}") from None
    return scenario


def build_simulation(
    scenario: Scenario, scenario_name: str = "scenario", progress: Progress | None = None
) -> tuple[Community, SimulatedClock, SimulatedMeterSource, TypicalYear, datetime, datetime]:
    """The scenario's community, simulated clock and meter source (profiles computed)."""
    try:
        weather = read_typical_year(scenario.weather.source)
    except ConfigurationError as exc:
        raise ScenarioError(f"{scenario_name}: {exc}") from None
    community, plan = build_community(scenario, weather.location)
    start, end = simulation_window(scenario)
    try:
        clock = SimulatedClock(start, end, community.interval_length)
    except UnitError as exc:
        raise ScenarioError(f"{scenario_name}: simulation.start: {exc}") from None

    if progress:
        progress("profiles", 0, 1)
    critical, priority = member_flags(scenario)
    opt_out, rebound = member_flexibility(scenario)
    source = SimulatedMeterSource(
        community,
        plan,
        weather,
        clock.first.start_s,
        int(end.timestamp()),
        outages=outage_spans(scenario, int(community.interval_length.total_seconds())),
        critical=critical,
        priority=priority,
        opt_out_probability=opt_out,
        rebound=rebound,
        seed=scenario.community.seed,
    )
    if progress:
        progress("profiles", 1, 1)

    return community, clock, source, weather, start, end


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
    if database_url is None:
        database_url = default_sqlite_url(out_dir)
        for suffix in ("", "-wal", "-shm"):  # the run directory's own store starts afresh
            Path(database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    store = open_store(database_url)
    try:
        readings, runs = store.recorded(community.community_id)
        if (readings or runs) and not replace:
            raise StorageError(
                f"the database already holds {readings} readings and {runs} runs of community "
                f"{community.community_id!r}; pass --replace to delete them first, or use "
                "another database"
            )
        if readings or runs or replace:
            store.delete_community(community.community_id)
        seed = scenario.community.seed
        simulation = scenario.simulation
        run_id = f"{community.community_id}-{simulation.start:%Y%m%d}-{simulation.days}d-s{seed}"
        store.register_community(community)
        store.begin_run(run_id, community.community_id, scenario_name, seed)
        fleet = SimulatedMeterFleet(community, seed)
        store.set_meter_devices(fleet.devices())
        devices: list[bytes | None] = [bytes.fromhex(a[2:]) for a in fleet.addresses]
        connection: ChainConnection | None = None
        ledger: MeteringLedger | None = None
        if operator is not None:
            if progress:
                progress("ledger", 0, 1)
            for stale in ("chain", "deployments"):
                shutil.rmtree(out_dir / stale, ignore_errors=True)
            signer = operator() if callable(operator) else operator
            connection = open_chain(out_dir, signer)
            deployment = deploy_or_load(
                connection.transactions,
                out_dir,
                interval_length_s=int(community.interval_length.total_seconds()),
            )
            ledger = MeteringLedger(connection.transactions, deployment)
            onboard(community, fleet, ledger, seed)
            if progress:
                progress("ledger", 1, 1)

        done = [0]

        def on_interval(_closed: ClosedInterval) -> None:
            done[0] += 1
            if progress:
                progress("intervals", done[0], clock.count)

        accounting = EnergyAccountingStep(community)
        steps: list[Step] = [accounting]
        flush = SIMULATION_INTERVALS_PER_TRANSACTION
        if ledger is not None:
            steps += [
                CommitmentStep(community, devices, ledger, flush_every=flush),
                CertificationStep(community, devices, ledger, flush_every=flush),
            ]
        if trading:
            deposits = escrow_deposits(community, scenario.market, scenario.simulation.days)
            market_chain = None
            domain = domain_separator(0, bytes(20))  # off-chain only: no contract
            if ledger is not None and connection is not None:
                market_chain = MarketLedger(connection.transactions, ledger.deployment)
                domain = market_chain.domain
                interval_s = int(community.interval_length.total_seconds())
                # a simulated day passes in seconds: nobody could dispute in between
                market_chain.configure(
                    market_rules(scenario.market, interval_s),
                    dispute_window_s=0,
                    withdrawal_delay_s=86_400,
                )
                keys = member_keys(community, seed)
                market_chain.fund(
                    {"0x" + address_of(keys[i]).hex(): amount for i, amount in deposits.items()},
                    reference=f"{run_id}/escrow",
                )
            steps.append(
                build_market(
                    community,
                    scenario.market,
                    seed,
                    accounting,
                    domain,
                    deposits,
                    mechanism=market,
                    chain=market_chain,
                    flush_every=flush,
                    signed=ledger is not None,
                )
            )
        if balancing:
            balancing_chain = None
            if ledger is not None and connection is not None:
                balancing_ledger = BalancingLedger(connection.transactions, ledger.deployment)
                balancing_ledger.fund(
                    flexibility_budget(scenario), reference=f"{run_id}/flexibility"
                )
                accounts = participant_accounts(
                    community, seed, connection.transactions.signer.address
                )
                balancing_chain = CommunityBalancingChain(
                    balancing_ledger,
                    {i: accounts[p.participant_id] for i, p in enumerate(community.participants)},
                )
            market_step = next((s for s in steps if isinstance(s, MarketStep)), None)
            balancing_step = build_balancing(
                scenario,
                community,
                accounting,
                source,
                source,
                sales=market_step,
                on_alert=on_alert,
                flush_every=flush,
                channel=source,
                chain=balancing_chain,
                network=network,
            )
            steps.append(balancing_step)
            if market_step is not None:
                market_step.net_forecast = balancing_step
                market_step.grid_status = source
        pipeline = Pipeline(
            community,
            clock,
            source,
            store,
            steps,
            run_id=run_id,
            on_interval=on_interval,
            intervals_per_transaction=SIMULATION_INTERVALS_PER_TRANSACTION,
        )
        try:
            report = pipeline.run()
        except BaseException:
            store.finish_run(run_id, "failed", None)
            if connection is not None:
                connection.close()
            raise
        audit = None
        if ledger is not None and connection is not None:
            audit = audit_all(
                connection.web3,
                ledger.deployment,
                ledger,
                store,
                [community.community_id],
                progress,
                recheck_events=False,  # indexed just now; `gridshare verify` re-reads them
            )
            connection.close()
        summary: dict[str, JsonValue] = {
            "community": community.community_id,
            "scenario": scenario_name,
            "seed": seed,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "interval_minutes": scenario.simulation.interval_minutes,
            "members": scenario.member_count,
            "weather_station": weather.station,
            "pipeline": report.as_json(),
            **pipeline.summary(),
        }
        if audit is not None:
            summary["verified"] = audit.ok
            summary["verification"] = audit.as_json()
        store.finish_run(run_id, "finished", summary)
        (out_dir / "summary.json").write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
        result = SimulationResult(summary, out_dir, database_url, source)
        if plots:
            from gridshare.simulator.report import write_plots

            if progress:
                progress("plots", 0, 1)
            capacity_wh = int(source.fleet.capacity_wh.sum())
            result.plots = write_plots(
                store.interval_balances(community.community_id),
                community.time_zone,
                capacity_wh,
                out_dir,
                store.balancing_intervals(community.community_id),
                store.dr_events(community.community_id),
            )
            if progress:
                progress("plots", 1, 1)
        return result
    finally:
        store.close()
