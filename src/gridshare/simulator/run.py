"""A scenario's simulated world: its community, the simulated clock and the meter source.

The composition root (:mod:`gridshare.app.simulate`) runs it through the same store,
steps and ledger that live operation uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from gridshare.errors import ConfigurationError
from gridshare.model import Community
from gridshare.simulator.balancing import member_flags, member_flexibility, outage_spans
from gridshare.simulator.clock import SimulatedClock
from gridshare.simulator.community import build_community
from gridshare.simulator.scenario import Scenario, ScenarioError, load_scenario
from gridshare.simulator.source import SimulatedMeterSource
from gridshare.simulator.weather import PVLIB_PREFIX, TypicalYear, read_typical_year
from gridshare.units import UnitError

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total)."""


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


def scenario_community(scenario: Scenario, scenario_name: str = "scenario") -> Community:
    """The scenario's community alone (its members, assets and meters), without the
    simulated profiles: what a live node serves."""
    try:
        weather = read_typical_year(scenario.weather.source)
    except ConfigurationError as exc:
        raise ScenarioError(f"{scenario_name}: {exc}") from None
    return build_community(scenario, weather.location)[0]


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
