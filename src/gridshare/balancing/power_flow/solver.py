"""The AC power flow of one network with members on its buses: :class:`PowerFlowModel`.

The model
---------
pandapower builds the network's bus admittance matrix ``Y`` once (one ``runpp`` when the
model is made; its per-unit system, transformer model and bus fusing through closed
switches are used unchanged). With one slack bus ``s`` (the ``ext_grid``, fixed voltage
``V_s``) and PQ buses elsewhere, each interval solves the power-balance equations

    S_k = V_k * conj(sum_j Y_kj V_j)    for every PQ bus k,

with ``S_k = -(P_k + j Q_k)`` the net injection of the members and background loads at
bus ``k`` (per unit of the network's ``sn_mva``). They are solved by Newton-Raphson in
polar coordinates (Tinney & Hart 1967; the Jacobian is MATPOWER's ``dSbus_dV``,
Zimmerman et al. 2011), warm-started from the previous interval's voltages and stopped
when the largest active or reactive mismatch is below ``tolerance_pu`` (1e-8 pu, the
same criterion as pandapower's ``tolerance_mva`` on a 1 MVA base). Linear algebra is
dense NumPy for small networks and SciPy sparse LU above :data:`DENSE_MAX_BUSES` buses.

Each member's reactive power follows its power factor: ``Q = P tan(arccos pf)``, so a
consuming member draws lagging reactive power and an exporting member at the same power
factor feeds it in proportion (a constant-power-factor net injection). ``solve`` also
accepts explicit ``q_kvar``.

Voltage sensitivity
-------------------
Around a solved operating point, ``d|V| / dP`` for every bus and member comes from the
same Jacobian: ``J dx = dS`` with ``dS`` the change of the member's injection
(``-(1 + j tan phi) dP``), the classic Jacobian-inverse sensitivity (Christakou et al.
2013). A dispatch LP can then use ``v_min <= V0 + S @ delta_p <= v_max``.

References: Tinney & Hart 1967; Zimmerman et al. 2011 (MATPOWER); Thurner et al. 2018
(pandapower); Christakou et al. 2013. Full citations in :mod:`gridshare.balancing.power_flow`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Final

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]
from numpy.typing import ArrayLike
from pandapower.auxiliary import LoadflowNotConverged  # type: ignore[import-untyped]
from scipy import sparse  # type: ignore[import-untyped]
from scipy.sparse.linalg import spsolve  # type: ignore[import-untyped]

from gridshare.balancing.power_flow.common import ComplexArray, PandapowerNet, PowerFlowError
from gridshare.balancing.power_flow.network import as_int_vector, check_member_buses
from gridshare.balancing.power_flow.results import PowerFlowLimits, PowerFlowResult, SeriesResult
from gridshare.units import KW_PER_MW, FloatArray, IntArray

DENSE_MAX_BUSES: Final = 60
"""Networks with at most this many PQ buses are solved with dense linear algebra (faster
than sparse LU up to about this size on the project's VM), larger ones with SciPy's
sparse LU."""
SQRT3: Final = math.sqrt(3.0)

# pypower bus and branch columns (pandapower.pypower.idx_bus / idx_brch)
_PD, _QD, _BASE_KV = 2, 3, 9
_F_BUS, _T_BUS = 0, 1


def _solved_copy(net: PandapowerNet) -> PandapowerNet:
    """A copy of ``net`` that pandapower has solved once (with its background loads), so
    that its internal case (admittances, bus and branch maps, a starting point) is built;
    refused when the network has no single slack, voltage-controlled generators, or does
    not converge."""
    work = copy.deepcopy(net)
    if len(work.ext_grid[work.ext_grid["in_service"].astype(bool)]) != 1:
        raise PowerFlowError("the network needs exactly one in-service ext_grid (the PCC)")
    if len(work.gen) and work.gen["in_service"].astype(bool).any():
        raise PowerFlowError(
            "voltage-controlled generators (net.gen) are not supported; "
            "model them as static generators (net.sgen)"
        )
    try:
        pp.runpp(work)
    except LoadflowNotConverged as exc:
        raise PowerFlowError(
            "pandapower's power flow of the network with its background loads does not "
            "converge; reduce the loads left in service or call connect_members without "
            "keep_background"
        ) from exc
    return work


class PowerFlowModel:
    """Per-interval AC power flow of one network with members on its buses.

    ``net`` is not changed: pandapower runs once on a copy (its in-service loads and
    static generators stay as constant-power background load under the members) to
    build the admittance matrix, the bus and branch maps and a starting point; every
    :meth:`solve` after that is this module's Newton-Raphson on those matrices. Supported
    networks have one slack (``ext_grid``) and PQ buses only (no voltage-controlled
    ``gen``); pandapower's choices for lines, transformers, switches and shunts are kept.

    The model remembers the last converged voltages and starts the next solve from
    them (warm start); results do not depend on that beyond the tolerance.
    """

    def __init__(
        self,
        net: PandapowerNet,
        bus_of_member: ArrayLike,
        *,
        power_factor: float | ArrayLike = 0.95,
        v_min_pu: float = 0.95,
        v_max_pu: float = 1.05,
        max_line_loading_percent: float = 100.0,
        tolerance_pu: float = 1e-8,
        max_iterations: int = 20,
    ) -> None:
        buses = as_int_vector(bus_of_member, "bus_of_member")
        check_member_buses(net, buses)
        if not 0 < v_min_pu < v_max_pu:
            raise PowerFlowError(f"need 0 < v_min_pu < v_max_pu, got {v_min_pu} and {v_max_pu}")
        if not max_line_loading_percent > 0:
            raise PowerFlowError("max_line_loading_percent must be > 0")
        if not (tolerance_pu > 0 and max_iterations >= 1):
            raise PowerFlowError("tolerance_pu must be > 0 and max_iterations >= 1")
        pf = np.asarray(power_factor, dtype=np.float64)
        if pf.ndim == 0:
            pf = np.full(buses.shape, float(pf))
        if pf.shape != buses.shape or not np.all((pf > 0) & (pf <= 1)):
            raise PowerFlowError(
                "power_factor must be in (0, 1], one value or one per member "
                f"({buses.size} members)"
            )
        self.limits = PowerFlowLimits(v_min_pu, v_max_pu, max_line_loading_percent)
        self.n_members = int(buses.size)
        self.bus_of_member = buses
        self.tan_phi: FloatArray = np.sqrt(1.0 / pf**2 - 1.0)
        self.tolerance_pu = tolerance_pu
        self.max_iterations = max_iterations
        self._build(net, buses)

    # ---- set-up from pandapower's internal case

    def _build(self, net: PandapowerNet, buses: IntArray) -> None:
        work = _solved_copy(net)
        internal = work["_ppc"]["internal"]
        ref = np.asarray(internal["ref"], dtype=np.int64)
        pv = np.asarray(internal["pv"], dtype=np.int64)
        pq = np.asarray(internal["pq"], dtype=np.int64)
        bus = np.asarray(internal["bus"]).real
        if ref.size != 1 or pv.size:
            raise PowerFlowError(
                f"the network solves with {ref.size} slack and {pv.size} PV buses; "
                "only one slack and PQ buses are supported"
            )
        base_mva = float(internal["baseMVA"])
        self._base_mva = base_mva
        slack = int(ref[0])
        self._slack = slack
        self._pq = pq
        self._n_pq = pq.size
        self._n_ppci = bus.shape[0]
        self._map_buses(net, work, buses)

        # background (the loads pandapower saw), per unit injections
        s_bg = -(bus[:, _PD] + 1j * bus[:, _QD]) / base_mva
        self._s_background_pq: ComplexArray = s_bg[pq].astype(np.complex128)
        self._slack_background_kw = float(bus[slack, _PD]) * KW_PER_MW
        self._slack_background_kvar = float(bus[slack, _QD]) * KW_PER_MW

        y_pq = self._set_admittance(sparse.csr_matrix(internal["Ybus"]), internal["V"])
        self._set_jacobian_pattern(y_pq)
        self._map_branches(net, work, bus)

    def _map_buses(self, net: PandapowerNet, work: PandapowerNet, buses: IntArray) -> None:
        """Buses: pandapower index -> ppci index -> position among the PQ buses; and each
        member's position (-1: on the slack bus)."""
        n_ppci, pq = self._n_ppci, self._pq
        lookup = np.asarray(work._pd2ppc_lookups["bus"], dtype=np.int64)
        self.bus_index: IntArray = net.bus.index.to_numpy(dtype=np.int64)
        ppci_of_bus = lookup[self.bus_index]
        live = (ppci_of_bus >= 0) & (ppci_of_bus < n_ppci)
        live &= net.bus["in_service"].to_numpy(dtype=bool)
        self._bus_live = live
        self._ppci_of_bus = np.where(live, ppci_of_bus, 0)
        pq_pos = np.full(n_ppci, -1, dtype=np.int64)
        pq_pos[pq] = np.arange(pq.size)
        self._pq_pos_of_ppci = pq_pos
        label_pos = {int(b): k for k, b in enumerate(self.bus_index)}
        member_ppci = self._ppci_of_bus[[label_pos[int(b)] for b in buses]]
        if buses.size and not live[[label_pos[int(b)] for b in buses]].all():
            raise PowerFlowError("a member's bus is not connected to the slack in this network")
        self._member_pos = pq_pos[member_ppci]  # -1: the member is on the slack bus
        self._member_on_pq = self._member_pos >= 0
        self._member_at_slack = ~self._member_on_pq

    def _set_admittance(self, ybus: Any, v_internal: Any) -> Any:
        """The admittance blocks between PQ buses and towards the slack, and the starting
        voltages; returns ``Y_pq`` (sparse)."""
        pq, slack = self._pq, self._slack
        v_start = np.asarray(v_internal, dtype=np.complex128)
        y_pq = ybus[pq][:, pq].tocsr()
        self._dense = self._n_pq <= DENSE_MAX_BUSES
        self._y_pp: Any = y_pq.toarray() if self._dense else y_pq
        self._v_slack = complex(v_start[slack])
        self._y_ps_vs: ComplexArray = np.asarray(
            ybus[pq][:, [slack]].toarray().ravel() * self._v_slack, dtype=np.complex128
        )
        self._y_slack_row = ybus[[slack]].toarray().ravel()
        self._v_start_pq: ComplexArray = v_start[pq].astype(np.complex128)
        self._v_pq: ComplexArray = self._v_start_pq.copy()
        return y_pq

    def _set_jacobian_pattern(self, y_pq: Any) -> None:
        """The Jacobian's sparsity: ``Y_pq``'s pattern plus the diagonal, in COO order, and
        its CSC structure once (each iteration only permutes the new values into it)."""
        n = self._n_pq
        pattern = (y_pq + sparse.identity(n, format="csr")).tocoo()
        rows = np.asarray(pattern.row, dtype=np.int64)
        cols = np.asarray(pattern.col, dtype=np.int64)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        self._jr, self._jc = rows, cols
        self._jy: ComplexArray = np.asarray(y_pq[rows, cols], dtype=np.complex128).ravel()
        self._jdiag = np.flatnonzero(rows == cols)
        self._jdiag_bus = rows[self._jdiag]
        j_rows = np.concatenate([rows, rows, rows + n, rows + n])
        j_cols = np.concatenate([cols, cols + n, cols, cols + n])
        self._j_flat = j_rows * (2 * n) + j_cols
        numbered = sparse.csc_matrix(
            (np.arange(1, j_rows.size + 1, dtype=np.float64), (j_rows, j_cols)),
            shape=(2 * n, 2 * n),
        )
        numbered.sort_indices()
        self._j_csc_order = numbered.data.astype(np.int64) - 1
        self._j_csc_indices = numbered.indices.copy()
        self._j_csc_indptr = numbered.indptr.copy()

    def _map_branches(self, net: PandapowerNet, work: PandapowerNet, bus: FloatArray) -> None:
        """Branch admittances, kA per pu current at each end, and which ppci branch row is
        each line's and transformer's (-1: out of service), with their ratings."""
        internal = work["_ppc"]["internal"]
        base_mva = self._base_mva
        branch = np.asarray(internal["branch"])
        f_bus = branch[:, _F_BUS].real.astype(np.int64)
        t_bus = branch[:, _T_BUS].real.astype(np.int64)
        base_kv = bus[:, _BASE_KV]
        self._yf = sparse.csr_matrix(internal["Yf"])
        self._yt = sparse.csr_matrix(internal["Yt"])
        self._f_bus, self._t_bus = f_bus, t_bus
        # |I| (pu) -> kA at each end: baseMVA / (sqrt(3) * base kV of that end's bus)
        self._ka_per_pu_f = base_mva / (SQRT3 * base_kv[f_bus])
        self._ka_per_pu_t = base_mva / (SQRT3 * base_kv[t_bus])
        in_service = np.asarray(internal["branch_is"], dtype=bool)
        ppci_row = np.cumsum(in_service) - 1
        lookups = work._pd2ppc_lookups["branch"]

        def rows_of(element: str, count: int) -> IntArray:
            if element not in lookups:
                return np.full(count, -1, dtype=np.int64)
            start, stop = lookups[element]
            rows_ppc = np.arange(start, stop)
            return np.where(in_service[rows_ppc], ppci_row[rows_ppc], -1).astype(np.int64)

        line = net.line
        self.line_index: IntArray = line.index.to_numpy(dtype=np.int64)
        self._line_rows = rows_of("line", len(line))
        self._line_i_max_ka = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(
            dtype=np.float64
        )
        trafo = net.trafo
        self.trafo_index: IntArray = trafo.index.to_numpy(dtype=np.int64)
        self._trafo_rows = rows_of("trafo", len(trafo))
        rating = (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy(dtype=np.float64)
        self._trafo_hv_scale = trafo["vn_hv_kv"].to_numpy(dtype=np.float64) * SQRT3 / rating * 100
        self._trafo_lv_scale = trafo["vn_lv_kv"].to_numpy(dtype=np.float64) * SQRT3 / rating * 100

    # ---- the numerical core

    def _injections(self, p_kw: FloatArray, q_kvar: FloatArray | None) -> ComplexArray:
        """Per-unit net injections at the PQ buses."""
        q = p_kw * self.tan_phi if q_kvar is None else q_kvar
        scale = KW_PER_MW * self._base_mva
        pos = self._member_pos[self._member_on_pq]
        p_on = p_kw[self._member_on_pq]
        q_on = q[self._member_on_pq]
        p_bus = np.bincount(pos, weights=p_on, minlength=self._n_pq)
        q_bus = np.bincount(pos, weights=q_on, minlength=self._n_pq)
        return self._s_background_pq - (p_bus + 1j * q_bus) / scale

    def _currents(self, v: ComplexArray) -> ComplexArray:
        return np.asarray(self._y_pp @ v, dtype=np.complex128) + self._y_ps_vs

    def _jacobian(self, v: ComplexArray, current: ComplexArray) -> Any:
        """MATPOWER's dS/dVa and dS/dVm restricted to the PQ buses, stacked real/imag."""
        rows, cols = self._jr, self._jc
        v_norm = v / np.abs(v)
        d_va = -1j * v[rows] * np.conj(self._jy * v[cols])
        d_va[self._jdiag] += 1j * v[self._jdiag_bus] * np.conj(current[self._jdiag_bus])
        d_vm = v[rows] * np.conj(self._jy * v_norm[cols])
        d_vm[self._jdiag] += np.conj(current[self._jdiag_bus]) * v_norm[self._jdiag_bus]
        data = np.concatenate([d_va.real, d_vm.real, d_va.imag, d_vm.imag])
        size = 2 * self._n_pq
        if self._dense:
            jac = np.zeros(size * size)
            jac[self._j_flat] = data
            return jac.reshape(size, size)
        return sparse.csc_matrix(
            (data[self._j_csc_order], self._j_csc_indices, self._j_csc_indptr),
            shape=(size, size),
        )

    def _linear_solve(self, jac: Any, rhs: FloatArray) -> FloatArray:
        if self._dense:
            return np.asarray(np.linalg.solve(jac, rhs), dtype=np.float64)
        return np.asarray(spsolve(jac, rhs), dtype=np.float64).reshape(rhs.shape)

    def _newton(self, s_pq: ComplexArray, v: ComplexArray) -> tuple[ComplexArray, bool, int]:
        n = self._n_pq
        if n == 0:
            return v, True, 0
        vm = np.abs(v)
        va = np.angle(v)
        for iteration in range(self.max_iterations + 1):
            current = self._currents(v)
            mismatch = v * np.conj(current) - s_pq
            worst = max(float(np.max(np.abs(mismatch.real))), float(np.max(np.abs(mismatch.imag))))
            if worst < self.tolerance_pu:
                return v, True, iteration
            if iteration == self.max_iterations or not math.isfinite(worst):
                break
            step = self._linear_solve(
                self._jacobian(v, current), -np.concatenate([mismatch.real, mismatch.imag])
            )
            va = va + step[:n]
            vm = vm + step[n:]
            if not np.all(vm > 0.05):  # collapsed: no physical solution from here
                break
            v = vm * np.exp(1j * va)
        return v, False, iteration

    def _check_injection(
        self, p_kw: ArrayLike, q_kvar: ArrayLike | None, shape: tuple[int, ...]
    ) -> tuple[FloatArray, FloatArray | None]:
        p = np.asarray(p_kw, dtype=np.float64)
        if p.shape != shape:
            raise PowerFlowError(
                f"p_kw has shape {p.shape}; expected {shape} "
                f"({self.n_members} members{', intervals first' if len(shape) == 2 else ''})"
            )
        if not np.all(np.isfinite(p)):
            raise PowerFlowError("p_kw holds NaN or infinite values")
        if q_kvar is None:
            return p, None
        q = np.asarray(q_kvar, dtype=np.float64)
        if q.shape != shape or not np.all(np.isfinite(q)):
            raise PowerFlowError(f"q_kvar must be finite with shape {shape}, like p_kw")
        return p, q

    def _solve_into(
        self, p: FloatArray, q: FloatArray | None
    ) -> tuple[ComplexArray | None, int, float, float]:
        """Solve one interval: the full internal voltage vector (None if it did not
        converge), the iterations, and the slack's P and Q (kW, kVAr)."""
        s_pq = self._injections(p, q)
        v, converged, iterations = self._newton(s_pq, self._v_pq)
        if not converged:
            self._v_pq = self._v_start_pq.copy()
            return None, iterations, math.nan, math.nan
        self._v_pq = v
        v_full = np.empty(self._n_ppci, dtype=np.complex128)
        v_full[self._slack] = self._v_slack
        v_full[self._pq] = v
        s_slack = self._v_slack * np.conj(self._y_slack_row @ v_full)
        qm = p * self.tan_phi if q is None else q
        at_slack = self._member_at_slack
        slack_p = float(s_slack.real) * self._base_mva * KW_PER_MW + self._slack_background_kw
        slack_q = float(s_slack.imag) * self._base_mva * KW_PER_MW + self._slack_background_kvar
        slack_p += float(p[at_slack].sum())
        slack_q += float(qm[at_slack].sum())
        return v_full, iterations, slack_p, slack_q

    def _branch_results(self, v_full: ComplexArray) -> tuple[FloatArray, FloatArray, float]:
        i_f = self._yf @ v_full
        i_t = self._yt @ v_full
        s_f = v_full[self._f_bus] * np.conj(i_f)
        s_t = v_full[self._t_bus] * np.conj(i_t)
        losses_kw = float(np.sum(s_f.real + s_t.real)) * self._base_mva * KW_PER_MW
        i_f_ka = np.abs(i_f) * self._ka_per_pu_f
        i_t_ka = np.abs(i_t) * self._ka_per_pu_t
        rows = self._line_rows
        live = rows >= 0
        line_ka = np.where(live, np.maximum(i_f_ka[rows], i_t_ka[rows]), 0.0)
        line_loading = line_ka / self._line_i_max_ka * 100.0
        trows = self._trafo_rows
        tlive = trows >= 0
        trafo_loading = np.where(
            tlive,
            np.maximum(i_f_ka[trows] * self._trafo_hv_scale, i_t_ka[trows] * self._trafo_lv_scale),
            0.0,
        )
        return line_loading, trafo_loading, losses_kw

    def _bus_results(self, v_full: ComplexArray) -> tuple[FloatArray, FloatArray]:
        v_bus = v_full[self._ppci_of_bus]
        vm = np.where(self._bus_live, np.abs(v_bus), np.nan)
        va = np.where(self._bus_live, np.degrees(np.angle(v_bus)), np.nan)
        return vm, va

    # ---- public API

    def solve(self, p_kw: ArrayLike, q_kvar: ArrayLike | None = None) -> PowerFlowResult:
        """The power flow of one interval.

        ``p_kw[i]`` is member ``i``'s net consumption (kW, positive = import); its
        reactive power is ``q_kvar[i]`` when given, otherwise ``p_kw[i] * tan(arccos pf)``.
        Non-convergence is reported (``converged=False``, values NaN), not raised.
        """
        p, q = self._check_injection(p_kw, q_kvar, (self.n_members,))
        return self.solve_series(p[None, :], None if q is None else q[None, :]).at(0)

    def solve_series(self, p_kw: ArrayLike, q_kvar: ArrayLike | None = None) -> SeriesResult:
        """Power flows for ``T`` intervals in order: ``p_kw`` (and ``q_kvar``) have shape
        ``(T, n_members)``. Each interval starts from the previous one's voltages."""
        p_all = np.asarray(p_kw, dtype=np.float64)
        t_count = p_all.shape[0] if p_all.ndim == 2 else -1
        p_all, q_all = self._check_injection(p_kw, q_kvar, (t_count, self.n_members))
        n_bus, n_line, n_trafo = self.bus_index.size, self.line_index.size, self.trafo_index.size
        vm = np.full((t_count, n_bus), np.nan)
        va = np.full((t_count, n_bus), np.nan)
        line_loading = np.full((t_count, n_line), np.nan)
        trafo_loading = np.full((t_count, n_trafo), np.nan)
        losses = np.full(t_count, np.nan)
        slack_p = np.full(t_count, np.nan)
        slack_q = np.full(t_count, np.nan)
        converged = np.zeros(t_count, dtype=bool)
        iterations = np.zeros(t_count, dtype=np.int64)
        for t in range(t_count):
            q_t = None if q_all is None else q_all[t]
            v_full, iterations[t], sp, sq = self._solve_into(p_all[t], q_t)
            if v_full is None:
                continue
            converged[t] = True
            slack_p[t], slack_q[t] = sp, sq
            vm[t], va[t] = self._bus_results(v_full)
            line_loading[t], trafo_loading[t], losses[t] = self._branch_results(v_full)
        return SeriesResult(
            vm_pu=vm,
            va_degree=va,
            line_loading_percent=line_loading,
            trafo_loading_percent=trafo_loading,
            losses_kw=losses,
            slack_p_kw=slack_p,
            slack_q_kvar=slack_q,
            converged=converged,
            iterations=iterations,
            bus_index=self.bus_index,
            line_index=self.line_index,
            limits=self.limits,
        )

    def sensitivity(self, p_kw_base: ArrayLike, q_kvar_base: ArrayLike | None = None) -> FloatArray:
        """``d|V| / dP``: shape ``(n_buses, n_members)``, pu per kW of member net
        consumption, at the operating point ``p_kw_base`` (and ``q_kvar_base``).

        The member's reactive power is taken to follow its power factor
        (``dQ = tan(phi) dP``). Row order is ``net.bus``; the slack bus and
        out-of-service buses have zero rows. Consuming more lowers voltages, so entries
        are normally <= 0 in a passive feeder. Raises :class:`PowerFlowError` when the operating
        point has no solution.
        """
        p, q = self._check_injection(p_kw_base, q_kvar_base, (self.n_members,))
        v, converged, _ = self._newton(self._injections(p, q), self._v_pq)
        if not converged:
            raise PowerFlowError(
                "the operating point does not converge, so it has no voltage sensitivity; "
                "check the loads against the network's capacity"
            )
        self._v_pq = v
        n = self._n_pq
        result = np.zeros((self.bus_index.size, self.n_members))
        if n == 0 or self.n_members == 0:
            return result
        jac = self._jacobian(v, self._currents(v))
        members = np.flatnonzero(self._member_on_pq)
        pos = self._member_pos[members]
        scale = KW_PER_MW * self._base_mva
        rhs = np.zeros((2 * n, members.size))
        rhs[pos, np.arange(members.size)] = -1.0 / scale
        rhs[n + pos, np.arange(members.size)] = -self.tan_phi[members] / scale
        d_vm = self._linear_solve(jac, rhs)[n:]
        bus_pos = self._pq_pos_of_ppci[self._ppci_of_bus]
        rows = np.flatnonzero(self._bus_live & (bus_pos >= 0))
        result[np.ix_(rows, members)] = d_vm[bus_pos[rows]]
        return result

    def reset(self) -> None:
        """Forget the warm start: the next solve starts from the background solution."""
        self._v_pq = self._v_start_pq.copy()
