"""Storage dispatch over a horizon: a linear programme solved with HiGHS (issue 6, step 1).

For ``N`` batteries over ``T`` intervals, with each battery owner's forecast net load
``L[n,t]`` (Wh; > 0 the owner imports, < 0 it has surplus) and the community's
remaining net load ``R[t]`` (members without batteries), choose charge ``c[n,t]``,
discharge ``d[n,t]`` (AC Wh), stored energy ``s[n,t]``, import ``I[t]``, export
``E[t]``, and the peak import ``P``:

    minimise   sum_t (buy[t] I[t] - sell[t] E[t]) / 1000  +  demand * P / 1000
               + penalty * (over_import[t] + over_export[t])
    subject to I[t] - E[t] = R[t] + sum_n (L[n,t] + c[n,t] - d[n,t])
               s[n,t] = s[n,t-1] + eta_c[n] c[n,t] - d[n,t] / eta_d[n]
               min[n] <= s[n,t] <= cap[n],  0 <= c, d <= step[n]
               I[t] <= import_limit + over_import[t],  E[t] <= export_limit + over_export[t]
               P >= I[t]

Prices are micro-units per kWh (so the objective is in micro-units). The limits are soft
(a large penalty per Wh over them), so every schedule the self-consumption rule makes is
feasible here too, and the optimum is never worse than the rule on the same inputs
(tested). Peak shaving (``demand``) and load shifting (time-varying prices) fall out of
the same model. docs/balancing.md writes it out.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from gridshare.balancing.horizon import block_sum
from gridshare.balancing.monitor import BalanceLimits
from gridshare.balancing.self_consumption import BatteryFleet, self_consumption_step
from gridshare.errors import DataError
from gridshare.units import WH_PER_KWH, FloatArray, IntArray, kw_per_wh

OVER_LIMIT_PENALTY = 10_000_000.0
"""Micro-units per Wh over a grid limit (10,000 currency units per kWh): limits hold
whenever they can."""
VOLTAGE_PENALTY = 10_000_000_000.0
"""Micro-units per pu outside a bus's voltage band (10 currency units per 0.001 pu)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The optimal plan in fractional Wh (``*_wh_f``, floats) and fractional micro-units
    (``cost_micros_f``): the LP's solution, which the caller rounds to whole Wh at the
    meter (:meth:`first_setpoints_wh`) and to whole micro-units on the chain."""

    charge_wh_f: FloatArray
    """(N, T)"""
    discharge_wh_f: FloatArray
    stored_wh_f: FloatArray
    """(N, T): stored energy at the end of each interval."""
    import_wh_f: FloatArray
    """(T,)"""
    export_wh_f: FloatArray
    peak_import_wh_f: float
    cost_micros_f: float
    """The objective: energy cost minus export revenue, plus demand charge and penalties."""
    generation_wh_f: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    """(G, T): the dispatchable generators' planned output."""
    short_wh_f: FloatArray = field(default_factory=lambda: np.zeros(0))
    """(N,): how far each owner's forecast first-step export falls short of what it sold
    (its battery never charges from sold energy; it is not made to discharge for it)."""

    def first_setpoints_wh(self) -> NDArray[np.int64]:
        """Each battery's net charge for the next interval (> 0 charge), in whole Wh."""
        return np.rint(self.charge_wh_f[:, 0] - self.discharge_wh_f[:, 0]).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Generators:
    """Dispatchable plants (hydro, biomass) the plan may run."""

    max_wh: IntArray
    """(G,): most energy per interval (available power times the interval, whole Wh)."""
    cost_micros_per_kwh: FloatArray
    """(G,): marginal cost of running (fuel, wear)."""


@dataclass(frozen=True, slots=True)
class VoltageLimits:
    """Linearised bus voltages: ``V[b, t] = base_pu[b, t] + sum_n S[b, n] (c - d)[n, t]``.

    ``sensitivity_pu_per_wh`` is the voltage change per Wh of a battery's net charge in
    one interval (from the power flow's sensitivity); only watched buses are included.
    """

    sensitivity_pu_per_wh: FloatArray
    """(K, N)"""
    base_pu: FloatArray
    """(K, T): the forecast voltage without any battery action."""
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05


def linearised_voltage_limits(
    sensitivity_pu_per_kw: FloatArray,
    vm_pu: FloatArray,
    p_kw: FloatArray,
    owner: IntArray,
    net_wh_f: FloatArray,
    spans: IntArray,
    interval_hours: float,
    limits: BalanceLimits,
) -> VoltageLimits:
    """Voltage limits for the watched buses over a plan's steps, linearised around the
    last power flow: ``vm_pu`` (K,) the watched buses' voltages at members' powers
    ``p_kw`` (n,), ``sensitivity_pu_per_kw`` (K, n) their change per kW of each member's
    net load; the base is moved to the plan's own forecast ``net_wh_f`` (n, T, fractional
    Wh per interval) and averaged over each step of ``spans``; a battery acts through its
    ``owner``'s bus; the band is ``limits``'."""
    per_wh = kw_per_wh(interval_hours)
    sens_battery = sensitivity_pu_per_kw[:, owner] * per_wh  # pu per Wh of net charge
    delta = net_wh_f * per_wh - p_kw[:, None]
    base = vm_pu[:, None] + sensitivity_pu_per_kw @ delta
    base_steps = block_sum(base, spans) / spans
    return VoltageLimits(sens_battery, base_steps, limits.v_min_pu, limits.v_max_pu)


def planned_member_net_wh(
    schedule: Schedule, net_wh_f: FloatArray, owner: IntArray, spans: IntArray
) -> IntArray | None:
    """Each member's planned net import in the plan's second interval, whole Wh: its
    forecast net load (``net_wh_f``, (n, T)) plus the planned net charge of the batteries
    it ``owner``s; None when the plan does not hold that interval at full resolution."""
    if spans.size < 2 or spans[0] != 1 or spans[1] != 1:
        return None
    planned = net_wh_f[:, 1].copy()
    np.add.at(planned, owner, schedule.charge_wh_f[:, 1] - schedule.discharge_wh_f[:, 1])
    return np.rint(planned).astype(np.int64)


def _spans(steps: IntArray | None, t: int) -> IntArray:
    """The intervals each of ``t`` steps spans: ``steps``, or one each."""
    return np.ones(t, dtype=np.int64) if steps is None else np.asarray(steps, dtype=np.int64)


def grid_cost_micros_f(
    import_wh_f: FloatArray,
    export_wh_f: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    demand_micros_per_kwh: float = 0.0,
    *,
    steps: IntArray | None = None,
) -> float:
    """The model's cost of an exchange with the grid (micro-units), without penalties; a
    step of ``steps[t]`` intervals counts its mean import towards the peak."""
    span = _spans(steps, np.size(import_wh_f))
    energy = float(np.dot(buy, import_wh_f) - np.dot(sell, export_wh_f)) / WH_PER_KWH
    peak = float(np.max(np.asarray(import_wh_f) / span, initial=0.0))
    return energy + demand_micros_per_kwh * peak / WH_PER_KWH


_banner_hidden = False


def _new_solver() -> highspy.Highs:
    """A HiGHS instance. The first one in a process prints HiGHS's banner from C, before
    any option can silence it; it is sent to /dev/null so it does not cut through the
    CLI's progress bars."""
    global _banner_hidden
    if _banner_hidden:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    _banner_hidden = True
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _solve(solver: highspy.Highs) -> FloatArray:
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        status = solver.modelStatusToString(solver.getModelStatus())
        raise DataError(f"the dispatch model did not solve: {status}")
    return np.asarray(solver.getSolution().col_value)


def rule_cost_micros_f(
    fleet: BatteryFleet,
    stored_wh: NDArray[np.int64],
    owner_load_wh_f: FloatArray,
    rest_load_wh_f: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    demand_micros_per_kwh: float = 0.0,
    *,
    steps: IntArray | None = None,
) -> float:
    """What the self-consumption rule would cost on the same forecast: each battery
    charges from its owner's surplus and covers its deficit, step by step (a step of
    ``steps[t]`` intervals has that many times an interval's power), and the community's
    exchange is priced as :func:`grid_cost_micros_f` prices the plan's."""
    t = rest_load_wh_f.size
    span = _spans(steps, t)
    stored = np.asarray(stored_wh, dtype=np.int64)
    net = np.asarray(rest_load_wh_f, dtype=np.float64).copy()
    for k in range(t):
        scaled = BatteryFleet(
            fleet.capacity_wh,
            fleet.min_stored_wh,
            fleet.max_step_wh * span[k],
            fleet.charge_efficiency,
            fleet.discharge_efficiency,
        )
        surplus = -np.rint(owner_load_wh_f[:, k]).astype(np.int64)
        step = self_consumption_step(scaled, stored, surplus)
        stored = step.stored_wh
        net[k] += float((owner_load_wh_f[:, k] + step.charge_wh - step.discharge_wh).sum())
    return grid_cost_micros_f(
        np.maximum(net, 0), np.maximum(-net, 0), buy, sell, demand_micros_per_kwh, steps=span
    )


@dataclass(frozen=True, slots=True)
class _Columns:
    """The LP's variables in column order: charge ``c``, discharge ``d`` and stored energy
    ``s`` (``n * t`` each, battery-major), import ``I``, export ``E``, their excess over the
    limits ``over_I``, ``over_E`` (``t`` each), the peak ``P`` (1), the generators' output
    (``g * t``) and the voltage slack below and above the band (``k * t`` each); and the
    rows: balance (``t``), storage (``n * t``), limits (``3 * t``), voltage (``k * t``)."""

    n: int
    t: int
    g: int
    k: int

    @property
    def nt(self) -> int:
        return self.n * self.t

    @property
    def c0(self) -> int:
        return 0

    @property
    def d0(self) -> int:
        return self.nt

    @property
    def s0(self) -> int:
        return 2 * self.nt

    @property
    def i0(self) -> int:
        return 3 * self.nt

    @property
    def e0(self) -> int:
        return 3 * self.nt + self.t

    @property
    def oi0(self) -> int:
        return 3 * self.nt + 2 * self.t

    @property
    def oe0(self) -> int:
        return 3 * self.nt + 3 * self.t

    @property
    def p0(self) -> int:
        return 3 * self.nt + 4 * self.t

    @property
    def g0(self) -> int:
        return self.p0 + 1

    @property
    def v0(self) -> int:
        """The first voltage slack column (the end of the generators' columns)."""
        return self.g0 + self.g * self.t

    @property
    def n_var(self) -> int:
        return self.v0 + 2 * self.k * self.t

    @property
    def limit_row0(self) -> int:
        return self.t + self.nt

    @property
    def voltage_row0(self) -> int:
        return self.limit_row0 + 3 * self.t

    @property
    def n_row(self) -> int:
        return self.voltage_row0 + self.k * self.t


class _Triplets:
    """The constraint matrix's non-zeros, collected block by block."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []

    def put(self, r: IntArray, c: IntArray, v: FloatArray | float) -> None:
        self.rows.append(np.asarray(r, dtype=np.int64))
        self.cols.append(np.asarray(c, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(r)).copy())

    def matrix(self, n_row: int, n_var: int) -> sparse.csc_matrix:
        return sparse.csc_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(n_row, n_var),
        )


def _checked_steps(
    fleet: BatteryFleet,
    owner_load_wh_f: FloatArray,
    rest_load_wh_f: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    steps: IntArray | None,
    generators: Generators | None,
    sold_wh: IntArray | None,
) -> IntArray:
    """The intervals each step spans, once the inputs' shapes agree with one another."""
    n, t = owner_load_wh_f.shape
    if rest_load_wh_f.shape != (t,) or buy.shape != (t,) or sell.shape != (t,):
        raise DataError("the rest load and the prices need one value per interval")
    if n != fleet.capacity_wh.size:
        raise DataError(f"{n} battery owners' loads for {fleet.capacity_wh.size} batteries")
    span = _spans(steps, t)
    if span.shape != (t,) or (span < 1).any():
        raise DataError("steps needs one whole number of intervals >= 1 per step")
    g = 0 if generators is None else generators.max_wh.size
    if generators is not None and generators.cost_micros_per_kwh.shape != (g,):
        raise DataError("each generator needs one marginal cost")
    if sold_wh is not None and np.shape(sold_wh) != (n,):
        raise DataError(f"sold_wh needs one value per battery owner ({n})")
    return span


def _put_balance_rows(a: _Triplets, col: _Columns) -> None:
    """Rows ``0 .. t``: ``I - E - sum_n (c - d) - sum_g gen = R + sum_n L``."""
    t, idx = col.t, np.arange(col.nt)
    a.put(np.arange(t), col.i0 + np.arange(t), 1.0)
    a.put(np.arange(t), col.e0 + np.arange(t), -1.0)
    a.put(idx % t, col.c0 + idx, -1.0)
    a.put(idx % t, col.d0 + idx, 1.0)
    if col.g:
        gi = np.arange(col.g * t)
        a.put(gi % t, col.g0 + gi, 1.0)  # generation lowers what the community imports


def _put_storage_rows(a: _Triplets, col: _Columns, fleet: BatteryFleet) -> None:
    """Rows ``t .. t + n t``: ``s[k] - s[k-1] - eta_c c + d / eta_d = 0`` (``s[-1]`` is the
    stored energy at the start, on the right-hand side)."""
    t, idx = col.t, np.arange(col.nt)
    r = t + idx
    a.put(r, col.s0 + idx, 1.0)
    later = idx[idx % t > 0]
    a.put(t + later, col.s0 + later - 1, -1.0)
    a.put(r, col.c0 + idx, -np.repeat(fleet.charge_efficiency, t))
    a.put(r, col.d0 + idx, 1.0 / np.repeat(fleet.discharge_efficiency, t))


def _put_limit_rows(a: _Triplets, col: _Columns, span: IntArray) -> None:
    """``3 t`` rows: ``I - over_I <= limit``; ``E - over_E <= limit``; ``I / span - P <= 0``."""
    t, base = col.t, col.limit_row0
    a.put(base + np.arange(t), col.i0 + np.arange(t), 1.0)
    a.put(base + np.arange(t), col.oi0 + np.arange(t), -1.0)
    a.put(base + t + np.arange(t), col.e0 + np.arange(t), 1.0)
    a.put(base + t + np.arange(t), col.oe0 + np.arange(t), -1.0)
    a.put(base + 2 * t + np.arange(t), col.i0 + np.arange(t), 1.0 / span)
    a.put(base + 2 * t + np.arange(t), np.full(t, col.p0), -1.0)


def _put_voltage_rows(a: _Triplets, col: _Columns, voltage: VoltageLimits, span: IntArray) -> None:
    """``k t`` rows, one per watched bus and step: ``v_lo <= V0 + S (c - d) <= v_hi``,
    with slack below and above."""
    t, row = col.t, col.voltage_row0
    sens = voltage.sensitivity_pu_per_wh
    bus, battery = np.nonzero(sens)
    for step in range(t):
        rows_kt = row + bus * t + step
        a.put(rows_kt, col.c0 + battery * t + step, sens[bus, battery] / span[step])
        a.put(rows_kt, col.d0 + battery * t + step, -sens[bus, battery] / span[step])
    slack = np.arange(col.k * t)
    a.put(row + slack, col.v0 + slack, 1.0)
    a.put(row + slack, col.v0 + col.k * t + slack, -1.0)


def _voltage_lo(voltage: VoltageLimits | None) -> list[FloatArray]:
    return [] if voltage is None else [(voltage.v_min_pu - voltage.base_pu).ravel()]


def _voltage_hi(voltage: VoltageLimits | None) -> list[FloatArray]:
    return [] if voltage is None else [(voltage.v_max_pu - voltage.base_pu).ravel()]


def _column_bounds(
    col: _Columns,
    fleet: BatteryFleet,
    span: IntArray,
    owner_load_wh_f: FloatArray,
    generators: Generators | None,
    sold_wh: IntArray | None,
    peak_floor_wh: int,
) -> tuple[FloatArray, FloatArray]:
    """Each variable's lower and upper bound: the batteries' step and energy limits, the
    generators' output, no first-step charging from sold energy, the peak already set."""
    c0, d0, s0, nt, t = col.c0, col.d0, col.s0, col.nt, col.t
    step_limit = np.tile(span, col.n) * np.repeat(fleet.max_step_wh.astype(np.float64), t)
    col_lo = np.zeros(col.n_var)
    col_lo[col.p0] = max(0.0, peak_floor_wh)
    col_hi = np.full(col.n_var, highspy.kHighsInf)
    col_hi[c0 : c0 + nt] = step_limit
    col_hi[d0 : d0 + nt] = step_limit
    if generators is not None:
        col_hi[col.g0 : col.v0] = np.outer(generators.max_wh, span).ravel()
    if sold_wh is not None:  # no charging from sold energy in the first step
        unsold = np.maximum(-owner_load_wh_f[:, 0] - np.asarray(sold_wh), 0.0)
        col_hi[c0 : c0 + nt : t] = np.minimum(col_hi[c0 : c0 + nt : t], unsold)
    col_lo[s0 : s0 + nt] = np.repeat(fleet.min_stored_wh.astype(np.float64), t)
    col_hi[s0 : s0 + nt] = np.repeat(fleet.capacity_wh.astype(np.float64), t)
    return col_lo, col_hi


def _column_costs(
    col: _Columns,
    buy: FloatArray,
    sell: FloatArray,
    demand_micros_per_kwh: float,
    terminal_value_micros_per_kwh: float,
    generators: Generators | None,
) -> FloatArray:
    """The objective's coefficients (micro-units per Wh, per pu of voltage slack)."""
    c0, s0, nt, t = col.c0, col.s0, col.nt, col.t
    cost = np.zeros(col.n_var)
    cost[col.i0 : col.i0 + t] = buy / WH_PER_KWH
    cost[col.e0 : col.e0 + t] = -sell / WH_PER_KWH
    cost[col.oi0 : col.oi0 + t] = OVER_LIMIT_PENALTY
    cost[col.oe0 : col.oe0 + t] = OVER_LIMIT_PENALTY
    cost[col.p0] = demand_micros_per_kwh / WH_PER_KWH
    cost[s0 + t - 1 : s0 + nt : t] -= terminal_value_micros_per_kwh / WH_PER_KWH
    if generators is not None:
        cost[col.g0 : col.v0] = np.repeat(generators.cost_micros_per_kwh / WH_PER_KWH, t)
    cost[col.v0 : col.n_var] = VOLTAGE_PENALTY
    # tiny charges break ties: against charging and discharging at once, and for storing
    # surplus early rather than late (a plan that defers charging to an equally good
    # later interval can defer it for ever when it is re-planned every interval)
    cost[c0 : c0 + 2 * nt] += 1e-6
    cost[c0 : c0 + nt] += 1e-4 * (np.arange(nt) % t) / t
    return cost


def _highs_lp(
    matrix: sparse.csc_matrix,
    row_lo: FloatArray,
    row_hi: FloatArray,
    col_lo: FloatArray,
    col_hi: FloatArray,
    cost: FloatArray,
) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = matrix.shape
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    return lp


def _one_direction_in_first_step(solver: highspy.Highs, x: FloatArray, col: _Columns) -> FloatArray:
    """The first step is the one dispatched, as one net setpoint per battery. A penalty
    (a grid or voltage limit) can make charging and discharging at once look useful, to
    burn energy in the losses; no battery can follow that. Fix each such battery's
    direction in the first step and solve again (rare: only when a limit binds)."""
    c0, d0, nt, t = col.c0, col.d0, col.nt, col.t
    first_c, first_d = x[c0 : c0 + nt : t], x[d0 : d0 + nt : t]
    both = np.minimum(first_c, first_d) > 1e-6
    if not both.any():
        return x
    owners = np.nonzero(both)[0]
    charging = first_c[owners] >= first_d[owners]
    fixed = np.where(charging, d0 + owners * t, c0 + owners * t).astype(np.int32)
    solver.changeColsBounds(fixed.size, fixed, np.zeros(fixed.size), np.zeros(fixed.size))
    return _solve(solver)


def optimise_dispatch(
    fleet: BatteryFleet,
    stored_wh: NDArray[np.int64],
    owner_load_wh_f: FloatArray,
    rest_load_wh_f: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    *,
    import_limit_wh_f: float = np.inf,
    export_limit_wh_f: float = np.inf,
    demand_micros_per_kwh: float = 0.0,
    steps: IntArray | None = None,
    generators: Generators | None = None,
    sold_wh: IntArray | None = None,
    voltage: VoltageLimits | None = None,
    terminal_value_micros_per_kwh: float = 0.0,
    peak_floor_wh: int = 0,
) -> Schedule:
    """Solve the dispatch LP over ``T = rest_load_wh_f.size`` steps.

    ``steps`` (T,) is how many intervals each step spans (default one each): a rolling
    24-hour plan keeps the next hours at the interval's resolution and blocks the rest
    into hours, so a step's power and grid limits (given per interval) are ``steps[t]``
    times an interval's and its peak import is its mean.

    ``sold_wh`` (N,) is what each battery owner sold on the market for the first step:
    the plan never charges the owner's battery from energy it sold (the charge is at
    most the forecast surplus beyond the sale), so dispatch honours the trades.
    ``generators`` adds dispatchable plants with a marginal cost; ``voltage`` adds
    linearised bus voltage limits (soft).

    ``terminal_value_micros_per_kwh`` credits the energy still stored at the end of the
    horizon (a rolling plan sets it to what that energy is surely worth, the export
    price after the discharge loss): without it, energy beyond the horizon's needs is
    worth nothing to the plan, which then sells it at any price. ``peak_floor_wh`` is the
    peak import (per interval) already set in the billing period: the demand charge
    only counts what a plan adds above it.
    """
    owner_load_wh_f = np.asarray(owner_load_wh_f)
    n, t = owner_load_wh_f.shape
    span = _checked_steps(
        fleet, owner_load_wh_f, rest_load_wh_f, buy, sell, steps, generators, sold_wh
    )
    g = 0 if generators is None else generators.max_wh.size
    k = 0 if voltage is None else voltage.sensitivity_pu_per_wh.shape[0]
    col = _Columns(n, t, g, k)

    a = _Triplets()
    _put_balance_rows(a, col)
    _put_storage_rows(a, col, fleet)
    _put_limit_rows(a, col, span)
    if voltage is not None:
        _put_voltage_rows(a, col, voltage, span)
    balance_rhs = rest_load_wh_f + owner_load_wh_f.sum(axis=0)
    storage_rhs = np.where(
        np.arange(col.nt) % t == 0, np.repeat(stored_wh.astype(np.float64), t), 0.0
    )
    row_lo = np.concatenate(
        (balance_rhs, storage_rhs, np.full(3 * t, -highspy.kHighsInf), *_voltage_lo(voltage))
    )
    row_hi = np.concatenate(
        (
            balance_rhs,
            storage_rhs,
            np.minimum(import_limit_wh_f * span, highspy.kHighsInf),
            np.minimum(export_limit_wh_f * span, highspy.kHighsInf),
            np.zeros(t),
            *_voltage_hi(voltage),
        )
    )
    col_lo, col_hi = _column_bounds(
        col, fleet, span, owner_load_wh_f, generators, sold_wh, peak_floor_wh
    )
    cost = _column_costs(
        col, buy, sell, demand_micros_per_kwh, terminal_value_micros_per_kwh, generators
    )
    solver = _new_solver()
    solver.setOptionValue("output_flag", False)
    if col.nt > 5_000:
        # interior point scales better than simplex on the large, sparse model; without
        # crossover the point is feasible to the solver's tolerance (1e-7), and the
        # caller rounds the plan to whole Wh and clips it to each battery's limits
        solver.setOptionValue("solver", "ipm")
        solver.setOptionValue("run_crossover", "off")
    solver.passModel(
        _highs_lp(a.matrix(col.n_row, col.n_var), row_lo, row_hi, col_lo, col_hi, cost)
    )
    x = _one_direction_in_first_step(solver, _solve(solver), col)
    c0, d0, s0, nt = col.c0, col.d0, col.s0, col.nt
    short = np.zeros(0)
    if sold_wh is not None:
        first = x[c0 : c0 + nt : t] - x[d0 : d0 + nt : t]
        short = np.maximum(np.asarray(sold_wh) + owner_load_wh_f[:, 0] + first, 0.0)
    return Schedule(
        x[c0 : c0 + nt].reshape(n, t),
        x[d0 : d0 + nt].reshape(n, t),
        x[s0 : s0 + nt].reshape(n, t),
        x[col.i0 : col.i0 + t],
        x[col.e0 : col.e0 + t],
        float(x[col.p0]),
        float(solver.getInfo().objective_function_value),
        x[col.g0 : col.v0].reshape(g, t),
        short,
    )
