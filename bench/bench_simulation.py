"""Simulation speed: the demo scenario scaled to N members for D days, full pipeline.

    .venv/bin/python bench/bench_simulation.py --members 1000 --days 365
    .venv/bin/python bench/bench_simulation.py --members 1000 --days 30 --database-url postgresql://postgres@127.0.0.1:5432/test

Prints the wall time of each phase and the interval and reading rates. The store is a
fresh SQLite file in a temporary directory unless --database-url is given (then the
community's earlier data there is replaced).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from gridshare.app.simulate import run_simulation
from gridshare.model.summary import AccountingSummary
from gridshare.simulator.run import prepare
from gridshare.simulator.scenario import Scenario

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo.toml"


def scaled(scenario: Scenario, members: int) -> Scenario:
    """The scenario with every multi-member group scaled so the total is ``members``."""
    fixed = sum(g.count for g in scenario.groups if g.count == 1)
    scalable = sum(g.count for g in scenario.groups if g.count > 1)
    factor = (members - fixed) / scalable
    groups = [
        g if g.count == 1 else g.model_copy(update={"count": max(1, round(g.count * factor))})
        for g in scenario.groups
    ]
    return scenario.model_copy(update={"groups": groups})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", action="store_true", help="print the top functions by time")
    args = parser.parse_args()

    scenario = scaled(prepare(DEMO, days=args.days), args.members)
    phases: dict[str, float] = {}
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == 0 or phase not in marks:
            marks[phase] = now
        if done == total:
            phases[phase] = now - marks[phase]

    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = run_simulation(
            scenario,
            Path(tmp),
            scenario_name="bench",
            database_url=args.database_url,
            replace=True,
            progress=progress,
            plots=False,
        )
        if profiler:
            profiler.disable()
        total = time.perf_counter() - started
    intervals = result.summary.pipeline.intervals
    readings = result.summary.pipeline.readings.inserted
    store = "postgresql" if args.database_url else "sqlite"
    print(f"members={scenario.member_count} days={args.days} store={store}")
    print(f"profiles (weather, pvlib, windpowerlib, BDEW): {phases.get('profiles', 0.0):.1f} s")
    seconds = phases["intervals"]
    print(f"pipeline: {seconds:.1f} s for {intervals} intervals, {readings} readings")
    print(f"  {intervals / seconds:,.0f} intervals/s, {readings / seconds:,.0f} readings/s")
    residual = result.summary.section(AccountingSummary).energy_balance_residual_wh
    print(f"total: {total:.1f} s; residual {residual} Wh")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
