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

from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from gridshare.balancing.self_consumption import BatteryFleet
from gridshare.errors import DataError

FloatArray = NDArray[np.float64]
OVER_LIMIT_PENALTY = 10_000_000.0
"""Micro-units per Wh over a grid limit (10,000 currency units per kWh): limits hold
whenever they can."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The optimal plan (float Wh; the caller rounds to integer Wh at the meter)."""

    charge_wh: FloatArray
    """(N, T)"""
    discharge_wh: FloatArray
    stored_wh: FloatArray
    """(N, T): stored energy at the end of each interval."""
    import_wh: FloatArray
    """(T,)"""
    export_wh: FloatArray
    peak_import_wh: float
    cost_micros: float
    """The objective: energy cost minus export revenue, plus demand charge and penalties."""


def grid_cost_micros(
    import_wh: FloatArray,
    export_wh: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    demand_micros_per_kwh: float = 0.0,
) -> float:
    """The model's cost of an exchange with the grid (micro-units), without penalties."""
    energy = float(np.dot(buy, import_wh) - np.dot(sell, export_wh)) / 1000
    return energy + demand_micros_per_kwh * float(np.max(import_wh, initial=0.0)) / 1000


def optimise_dispatch(
    fleet: BatteryFleet,
    stored_wh: NDArray[np.int64],
    owner_load_wh: FloatArray,
    rest_load_wh: FloatArray,
    buy: FloatArray,
    sell: FloatArray,
    *,
    import_limit_wh: float = np.inf,
    export_limit_wh: float = np.inf,
    demand_micros_per_kwh: float = 0.0,
) -> Schedule:
    """Solve the dispatch LP over ``T = rest_load_wh.size`` intervals."""
    n, t = np.asarray(owner_load_wh).shape
    if rest_load_wh.shape != (t,) or buy.shape != (t,) or sell.shape != (t,):
        raise DataError("the rest load and the prices need one value per interval")
    if n != fleet.capacity_wh.size:
        raise DataError(f"{n} battery owners' loads for {fleet.capacity_wh.size} batteries")
    nt = n * t
    # variable layout: c (nt), d (nt), s (nt), I (t), E (t), over_I (t), over_E (t), P (1)
    c0, d0, s0 = 0, nt, 2 * nt
    i0, e0, oi0, oe0 = 3 * nt, 3 * nt + t, 3 * nt + 2 * t, 3 * nt + 3 * t
    p0 = 3 * nt + 4 * t
    n_var = p0 + 1
    eta_c = np.repeat(fleet.charge_efficiency, t)
    eta_d = np.repeat(fleet.discharge_efficiency, t)
    idx = np.arange(nt)
    cols, rows, vals = [], [], []

    def put(r: NDArray[np.int64], c: NDArray[np.int64], v: NDArray[np.float64] | float) -> None:
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(r)).copy())

    # 1. balance rows (t): I - E - sum_n (c - d) = R + sum_n L
    step_of = idx % t
    put(np.arange(t), i0 + np.arange(t), 1.0)
    put(np.arange(t), e0 + np.arange(t), -1.0)
    put(step_of, c0 + idx, -1.0)
    put(step_of, d0 + idx, 1.0)
    balance_rhs = rest_load_wh + np.asarray(owner_load_wh).sum(axis=0)
    # 2. storage rows (nt): s[k] - s[k-1] - eta_c c + d / eta_d = 0 (s[-1] is the start)
    r = t + idx
    put(r, s0 + idx, 1.0)
    later = idx[step_of > 0]
    put(t + later, s0 + later - 1, -1.0)
    put(r, c0 + idx, -eta_c)
    put(r, d0 + idx, 1.0 / eta_d)
    storage_rhs = np.where(step_of == 0, np.repeat(stored_wh.astype(np.float64), t), 0.0)
    # 3. limits (t each): I - over_I <= limit; E - over_E <= limit; I - P <= 0
    base = t + nt
    put(base + np.arange(t), i0 + np.arange(t), 1.0)
    put(base + np.arange(t), oi0 + np.arange(t), -1.0)
    put(base + t + np.arange(t), e0 + np.arange(t), 1.0)
    put(base + t + np.arange(t), oe0 + np.arange(t), -1.0)
    put(base + 2 * t + np.arange(t), i0 + np.arange(t), 1.0)
    put(base + 2 * t + np.arange(t), np.full(t, p0), -1.0)
    n_row = base + 3 * t

    matrix = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_row, n_var),
    )
    row_lo = np.concatenate((balance_rhs, storage_rhs, np.full(3 * t, -highspy.kHighsInf)))
    row_hi = np.concatenate(
        (
            balance_rhs,
            storage_rhs,
            np.full(t, min(import_limit_wh, highspy.kHighsInf)),
            np.full(t, min(export_limit_wh, highspy.kHighsInf)),
            np.zeros(t),
        )
    )
    col_lo = np.zeros(n_var)
    col_hi = np.full(n_var, highspy.kHighsInf)
    col_hi[c0 : c0 + nt] = np.repeat(fleet.max_step_wh.astype(np.float64), t)
    col_hi[d0 : d0 + nt] = np.repeat(fleet.max_step_wh.astype(np.float64), t)
    col_lo[s0 : s0 + nt] = np.repeat(fleet.min_stored_wh.astype(np.float64), t)
    col_hi[s0 : s0 + nt] = np.repeat(fleet.capacity_wh.astype(np.float64), t)
    cost = np.zeros(n_var)
    cost[i0 : i0 + t] = buy / 1000
    cost[e0 : e0 + t] = -sell / 1000
    cost[oi0 : oi0 + t] = OVER_LIMIT_PENALTY
    cost[oe0 : oe0 + t] = OVER_LIMIT_PENALTY
    cost[p0] = demand_micros_per_kwh / 1000
    # a tiny charge on throughput breaks ties against charging and discharging at once
    cost[c0 : c0 + 2 * nt] += 1e-6

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_var, n_row
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    solver = highspy.Highs()  # type: ignore[no-untyped-call]
    solver.setOptionValue("output_flag", False)
    if nt > 5_000:  # interior point scales better than simplex on the large, sparse model
        solver.setOptionValue("solver", "ipm")
    solver.passModel(lp)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        status = solver.modelStatusToString(solver.getModelStatus())
        raise DataError(f"the dispatch model did not solve: {status}")
    x = np.asarray(solver.getSolution().col_value)
    return Schedule(
        x[c0 : c0 + nt].reshape(n, t),
        x[d0 : d0 + nt].reshape(n, t),
        x[s0 : s0 + nt].reshape(n, t),
        x[i0 : i0 + t],
        x[e0 : e0 + t],
        float(x[p0]),
        float(solver.getInfo().objective_function_value),
    )
