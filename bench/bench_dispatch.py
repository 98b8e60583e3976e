"""Dispatch LP solve time: N batteries x 96 intervals (issue 6 goal: 100 x 96 <= 0.5 s).

    .venv/bin/python bench/bench_dispatch.py [--sizes 10 100 1000] [--steps 96]

Random home batteries (2-20 kWh), owners' net loads and the rest of the community's
load; a time-of-use import tariff with an evening peak, a flat export tariff and a
demand charge. Best of 3 per size, model build included.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gridshare.balancing.dispatch import optimise_dispatch
from gridshare.balancing.self_consumption import BatteryFleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--steps", type=int, default=96)
    args = parser.parse_args()
    t = args.steps
    rng = np.random.default_rng(3)
    hour = np.arange(t) * 24 / t
    buy = np.where((hour >= 17) & (hour < 21), 400_000.0, 250_000.0)
    sell = np.full(t, 70_000.0)
    print(f"{'batteries':>10}{'variables':>11}{'best s':>9}")
    for n in args.sizes:
        capacity = rng.integers(2_000, 20_000, n)
        fleet = BatteryFleet.from_round_trip(
            capacity, capacity // 10, capacity // 8, np.full(n, 0.9)
        )
        load = rng.normal(100, 400, (n, t))
        rest = rng.normal(20_000, 5_000, t)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            optimise_dispatch(
                fleet, capacity // 2, load, rest, buy, sell, demand_micros_per_kwh=10_000_000
            )
            best = min(best, time.perf_counter() - started)
        print(f"{n:>10}{3 * n * t + 4 * t + 1:>11,}{best:>9.3f}")


if __name__ == "__main__":
    main()
