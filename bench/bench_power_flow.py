"""Power flow time per interval over a day (issue 6 goal: <= 2 ms per interval).

    .venv/bin/python bench/bench_power_flow.py [--networks case33bw cigre_lv] [--steps 96]

Each network's own loads become the members; a day of ``--steps`` intervals scales them
by an evening-peaked daily shape with +-20 % noise per member, and half the members
have rooftop PV that turns them into exporters around noon. Timed per interval:

* gridshare: ``PowerFlowModel.solve_series`` (Newton-Raphson in NumPy/SciPy, warm
  start; voltages, line and transformer loading, losses and slack import every interval),
  best of 5; the model build (one pandapower ``runpp`` plus matrices) is shown apart,
  after a first ``runpp`` has compiled pandapower's numba kernels;
* pandapower: ``runpp`` per interval after updating the loads (pandapower uses
  lightsim2grid's Newton-Raphson inside when it is installed; also shown without);
* lightsim2grid: its C++ Newton-Raphson (``NRSing_KLU``) alone on pandapower's
  admittance matrix, warm-started, voltages only (when lightsim2grid is installed).

The last column is the largest voltage difference from gridshare's solution (pu).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]

from gridshare.balancing.power_flow import (
    NetworkSpec,
    PowerFlowModel,
    build_network,
    extract_member_loads,
)


def day_profile(p_kw: np.ndarray, q_kvar: np.ndarray, steps: int) -> tuple[Any, Any]:
    """(steps, members) net consumption: a residential day shape, noise, and PV."""
    rng = np.random.default_rng(1)
    hour = (np.arange(steps) + 0.5) * 24 / steps
    shape = 0.35 + 0.25 * np.exp(-((hour - 8) ** 2) / 4) + 0.75 * np.exp(-((hour - 19) ** 2) / 6)
    sun = np.clip(np.cos((hour - 13) / 12 * 2 * np.pi) * 1.3 - 0.3, 0, None)
    noise = rng.uniform(0.8, 1.2, (steps, p_kw.size))
    has_pv = rng.uniform(size=p_kw.size) < 0.5
    factor = shape[:, None] * noise
    p = factor * p_kw - 1.2 * sun[:, None] * np.where(has_pv, p_kw, 0.0)
    return p, factor * q_kvar


def time_gridshare(model: PowerFlowModel, p: Any, q: Any) -> tuple[float, float, Any]:
    best = float("inf")
    series = model.solve_series(p, q)
    for _ in range(5):
        model.reset()
        started = time.perf_counter()
        series = model.solve_series(p, q)
        best = min(best, time.perf_counter() - started)
    assert series.converged.all()
    return best / p.shape[0], float(series.iterations.mean()), series.vm_pu


def runpp_net(name: str, buses: Any) -> Any:
    net = build_network(NetworkSpec(named=name))
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    first = len(net.load)
    for bus in buses.tolist():
        pp.create_load(net, bus=bus, p_mw=0.0, q_mvar=0.0)
    return net, np.arange(first, first + buses.size)


def time_runpp(name: str, buses: Any, p: Any, q: Any, **options: Any) -> tuple[float, Any]:
    net, rows = runpp_net(name, buses)
    vm = np.empty((p.shape[0], len(net.bus)))
    pp.runpp(net, **options)
    started = time.perf_counter()
    for t in range(p.shape[0]):
        net.load.loc[rows, "p_mw"] = p[t] / 1000
        net.load.loc[rows, "q_mvar"] = q[t] / 1000
        pp.runpp(net, **options)
        vm[t] = net.res_bus["vm_pu"].to_numpy()
    return (time.perf_counter() - started) / p.shape[0], vm


def time_lightsim2grid(name: str, buses: Any, p: Any, q: Any) -> tuple[float, float, Any] | None:
    try:
        from lightsim2grid.algorithm import NRSing_KLU  # type: ignore[import-not-found]
    except ImportError:
        return None
    from scipy import sparse  # type: ignore[import-untyped]

    net, _ = runpp_net(name, buses)
    pp.runpp(net)
    internal = net._ppc["internal"]
    ybus = sparse.csc_matrix(internal["Ybus"])
    ref = np.asarray(internal["ref"], dtype=np.int32)
    pv = np.asarray(internal["pv"], dtype=np.int32)
    pq = np.asarray(internal["pq"], dtype=np.int32)
    weights = np.zeros(ybus.shape[0])
    weights[ref] = 1.0
    ppci_of_member = net._pd2ppc_lookups["bus"][buses]
    ppci_of_bus = net._pd2ppc_lookups["bus"][net.bus.index.to_numpy()]
    scale = 1000 * float(internal["baseMVA"])
    v = np.asarray(internal["V"], dtype=np.complex128)
    vm = np.empty((p.shape[0], len(net.bus)))
    iterations = 0
    solver = NRSing_KLU()
    started = time.perf_counter()
    for t in range(p.shape[0]):
        p_bus = np.bincount(ppci_of_member, p[t], minlength=ybus.shape[0])
        q_bus = np.bincount(ppci_of_member, q[t], minlength=ybus.shape[0])
        s_bus = -(p_bus + 1j * q_bus) / scale
        assert solver.solve(ybus, v, s_bus, ref, weights, pv, pq, 20, 1e-8)
        v = solver.get_V().copy()
        iterations += solver.get_nb_iter()
        vm[t] = np.abs(v[ppci_of_bus])
    elapsed = time.perf_counter() - started
    return elapsed / p.shape[0], iterations / p.shape[0], vm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["case33bw", "cigre_lv"])
    parser.add_argument("--steps", type=int, default=96)
    args = parser.parse_args()
    header = f"{'network':<16}{'buses':>6}{'members':>8}  {'method':<42}{'ms/interval':>12}"
    print(header + f"{'iterations':>11}{'max dV pu':>11}")
    pp.runpp(build_network(NetworkSpec(named="case33bw")))  # numba compiles here (~2 s)
    for name in args.networks:
        net = build_network(NetworkSpec(named=name))
        members = extract_member_loads(net)
        p, q = day_profile(members.p_kw, members.q_kvar, args.steps)
        started = time.perf_counter()
        model = PowerFlowModel(net, members.bus_of_member)
        build_ms = (time.perf_counter() - started) * 1000
        per_interval, iterations, vm = time_gridshare(model, p, q)
        lead = f"{name:<16}{len(net.bus):>6}{members.p_kw.size:>8}  "
        print(
            f"{lead}{'gridshare solve_series (best of 5)':<42}{per_interval * 1000:>12.3f}", end=""
        )
        print(f"{iterations:>11.2f}{'-':>11}")
        print(f"{lead}{'gridshare model build (once)':<42}{build_ms:>12.1f}")
        for label, options in (
            ("pandapower runpp (lightsim2grid inside)", {}),
            ("pandapower runpp (lightsim2grid=False)", {"lightsim2grid": False}),
        ):
            seconds, vm_pp = time_runpp(name, members.bus_of_member, p, q, **options)
            gap = float(np.nanmax(np.abs(vm_pp - vm)))
            print(f"{lead}{label:<42}{seconds * 1000:>12.3f}{'':>11}{gap:>11.1e}")
        ls = time_lightsim2grid(name, members.bus_of_member, p, q)
        if ls is None:
            print(f"{lead}{'lightsim2grid NRSing_KLU (not installed)':<42}")
        else:
            seconds, ls_iterations, vm_ls = ls
            gap = float(np.nanmax(np.abs(vm_ls - vm)))
            print(f"{lead}{'lightsim2grid NRSing_KLU, voltages only':<42}", end="")
            print(f"{seconds * 1000:>12.3f}{ls_iterations:>11.2f}{gap:>11.1e}")


if __name__ == "__main__":
    main()
