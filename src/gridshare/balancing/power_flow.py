"""Network physics for grid balancing (issue 6): AC power flow, voltage sensitivity, droop.

The community's members sit on the buses of a distribution network (a pandapower network:
a named benchmark feeder or a radial topology described by :class:`NetworkSpec`). For each
interval, :class:`PowerFlowModel` turns every member's net consumption into bus voltages,
line and transformer loadings, network losses and the import at the point of common
coupling (PCC), fast enough to run for every interval of a simulation.

Sign convention (``docs/glossary.md``): a member's ``p_kw`` is its net consumption at the
meter, positive when it imports and negative when it exports; the PCC's ``slack_p_kw`` is
positive when the community imports from the upstream grid.

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

Frequency in island mode
------------------------
Steady-state primary (droop) control: ``delta_f = -droop * f_nom * delta_P / P_rated``
(Kundur 1994, section 11.1; for inverter-based microgrids Chandorkar et al. 1993). The
default band of +-0.2 Hz is the maximum steady-state frequency deviation of the
Continental European synchronous area (Commission Regulation (EU) 2017/1485, Annex III).

References
----------
* W. F. Tinney, C. E. Hart, "Power flow solution by Newton's method", IEEE Trans. PAS-86
  (11), 1967, 1449-1460.
* R. D. Zimmerman, C. E. Murillo-Sanchez, R. J. Thomas, "MATPOWER: steady-state
  operations, planning and analysis tools", IEEE Trans. Power Syst. 26(1), 2011, 12-19.
* L. Thurner et al., "pandapower - an open-source Python tool for convenient modeling,
  analysis, and optimization of electric power systems", IEEE Trans. Power Syst. 33(6),
  2018, 6510-6521.
* M. E. Baran, F. F. Wu, "Network reconfiguration in distribution systems for loss
  reduction and load balancing", IEEE Trans. Power Deliv. 4(2), 1989, 1401-1407.
* CIGRE Task Force C6.04.02, "Benchmark systems for network integration of renewable and
  distributed energy resources", CIGRE technical brochure 575, 2014.
* G. Kerber, "Aufnahmefaehigkeit von Niederspannungsverteilnetzen fuer die Einspeisung
  aus Photovoltaikkleinanlagen", dissertation, TU Muenchen, 2011.
* K. Christakou, J.-Y. Le Boudec, M. Paolone, D.-C. Tomozei, "Efficient computation of
  sensitivity coefficients of node voltages and line currents in unbalanced radial
  electrical distribution networks", IEEE Trans. Smart Grid 4(2), 2013, 741-750.
* P. Kundur, "Power System Stability and Control", McGraw-Hill, 1994.
* M. C. Chandorkar, D. M. Divan, R. Adapa, "Control of parallel connected inverters in
  standalone AC supply systems", IEEE Trans. Ind. Appl. 29(1), 1993, 136-143.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]
import pandapower.networks as pn  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray
from pandapower.auxiliary import LoadflowNotConverged  # type: ignore[import-untyped]
from scipy import sparse  # type: ignore[import-untyped]
from scipy.sparse.linalg import spsolve  # type: ignore[import-untyped]

from gridshare.errors import DataError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
ComplexArray = NDArray[np.complex128]
PandapowerNet = Any
"""A ``pandapower.auxiliary.pandapowerNet`` (pandapower ships no type information)."""

KW_PER_MW: Final = 1_000.0
"""pandapower works in MW and MVAr; members' powers are kW and kVAr."""
DENSE_MAX_BUSES: Final = 60
"""Networks with at most this many PQ buses are solved with dense linear algebra (faster
than sparse LU up to about this size on the project's VM), larger ones with SciPy's
sparse LU."""
SQRT3: Final = math.sqrt(3.0)

NAMED_NETWORKS: Final[dict[str, Callable[[], PandapowerNet]]] = {
    "case33bw": pn.case33bw,
    "cigre_lv": pn.create_cigre_network_lv,
    "kerber_landnetz": pn.create_kerber_landnetz_kabel_1,
    "kerber_landnetz_overhead": pn.create_kerber_landnetz_freileitung_1,
    "kerber_dorfnetz": pn.create_kerber_dorfnetz,
}
"""Networks :func:`build_network` knows by name: Baran & Wu's 33-bus 12.66 kV feeder,
the CIGRE European LV benchmark (20/0.4 kV, residential, industrial and commercial
feeders) and three of Kerber's German LV reference feeders."""
KERBER_SEED: Final = 0
"""pandapower draws the Kerber feeders' house-connection cable types at random (Python's
``random``); :func:`build_network` seeds that draw so the same name gives the same
network every time."""

# pypower bus and branch columns (pandapower.pypower.idx_bus / idx_brch)
_PD, _QD, _BASE_KV = 2, 3, 9
_F_BUS, _T_BUS = 0, 1

VoltageKind = Literal["under", "over"]
FrequencyState = Literal["ok", "low", "high"]


class PowerFlowError(DataError):
    """A network, a member mapping or an injection the power flow cannot use."""


# --------------------------------------------------------------------------- topology


@dataclass(frozen=True, slots=True)
class BusSpec:
    """A bus of an explicit topology: its nominal voltage (kV, line-to-line)."""

    vn_kv: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A line (cable or overhead) between two buses of the same voltage level."""

    from_bus: int
    to_bus: int
    length_km: float
    r_ohm_per_km: float
    x_ohm_per_km: float
    max_i_ka: float
    """Thermal rating: 100 % loading."""
    c_nf_per_km: float = 0.0


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    """The MV/LV transformer at the point of common coupling (pandapower's two-winding
    model from its nameplate values)."""

    sn_mva: float
    vn_hv_kv: float
    vn_lv_kv: float
    vk_percent: float
    """Short-circuit voltage, percent of rated voltage."""
    vkr_percent: float
    """Real part of the short-circuit voltage (copper losses), percent."""
    pfe_kw: float = 0.0
    """Iron losses, kW."""
    i0_percent: float = 0.0
    """No-load current, percent of rated current."""


def _check_transformer(t: TransformerSpec) -> None:
    if not (t.sn_mva > 0 and t.vn_hv_kv > 0 and t.vn_lv_kv > 0):
        raise PowerFlowError("the transformer's sn_mva, vn_hv_kv and vn_lv_kv must be > 0")
    if not 0 <= t.vkr_percent < t.vk_percent:
        raise PowerFlowError(
            f"the transformer needs 0 <= vkr_percent < vk_percent "
            f"(got {t.vkr_percent} and {t.vk_percent})"
        )
    if t.pfe_kw < 0 or t.i0_percent < 0:
        raise PowerFlowError("the transformer's pfe_kw and i0_percent must be >= 0")


def _check_line(
    k: int, line: LineSpec, buses: tuple[BusSpec, ...], *, has_transformer: bool
) -> None:
    """Line ``k`` joins two different buses of one voltage level (not the transformer's MV
    side) with a positive length, rating and impedance."""
    n = len(buses)
    ends = (line.from_bus, line.to_bus)
    if not all(0 <= b < n for b in ends) or line.from_bus == line.to_bus:
        raise PowerFlowError(
            f"line {k} joins buses {ends}; it needs two different buses in 0..{n - 1}"
        )
    if has_transformer and 0 in ends:
        raise PowerFlowError(
            f"line {k} touches bus 0, the transformer's MV side; connect LV lines "
            "to bus 1 (the LV busbar) or beyond"
        )
    vn_from, vn_to = buses[line.from_bus].vn_kv, buses[line.to_bus].vn_kv
    if not math.isclose(vn_from, vn_to):
        raise PowerFlowError(
            f"line {k} joins bus {line.from_bus} ({vn_from} kV) and bus {line.to_bus} "
            f"({vn_to} kV); put a transformer between voltage levels"
        )
    if not (line.length_km > 0 and line.max_i_ka > 0):
        raise PowerFlowError(f"line {k} needs length_km > 0 and max_i_ka > 0")
    if line.r_ohm_per_km < 0 or line.x_ohm_per_km < 0 or line.c_nf_per_km < 0:
        raise PowerFlowError(f"line {k} has a negative r, x or c per km")
    if line.r_ohm_per_km + line.x_ohm_per_km == 0:
        raise PowerFlowError(f"line {k} has zero impedance; merge its two buses instead")


def _cut_off_from_bus_0(n: int, branches: Sequence[tuple[int, int]]) -> list[int]:
    """The buses of ``0 .. n - 1`` that no path of ``branches`` joins to bus 0, sorted."""
    adjacency: list[list[int]] = [[] for _ in range(n)]
    for a, b in branches:
        adjacency[a].append(b)
        adjacency[b].append(a)
    reached = {0}
    frontier = [0]
    while frontier:
        nxt = [b for a in frontier for b in adjacency[a] if b not in reached]
        reached.update(nxt)
        frontier = nxt
    return sorted(set(range(n)) - reached)


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """A microgrid's network: a named pandapower network or an explicit topology.

    Named: ``NetworkSpec(named="case33bw")`` (see :data:`NAMED_NETWORKS`).

    Explicit: ``buses``, ``lines`` and optionally ``transformer``. The upstream grid (the
    slack, ``ext_grid`` at ``slack_vm_pu``) is always bus 0. With a transformer, bus 0 is
    its MV side (the point of common coupling) and bus 1 its LV busbar; lines join buses
    of one voltage level and every bus must be reachable from bus 0. Lines may form
    meshes (the solver does not need a radial network), but distribution feeders are
    usually radial.
    """

    named: str | None = None
    buses: tuple[BusSpec, ...] = ()
    lines: tuple[LineSpec, ...] = ()
    transformer: TransformerSpec | None = None
    slack_vm_pu: float = 1.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.slack_vm_pu <= 1.5:
            raise PowerFlowError(f"slack_vm_pu {self.slack_vm_pu} is not a plausible voltage")
        if self.named is not None:
            if self.buses or self.lines or self.transformer is not None:
                raise PowerFlowError(
                    "a NetworkSpec is either named or an explicit topology; "
                    f"drop the buses, lines and transformer or the name {self.named!r}"
                )
            if self.named not in NAMED_NETWORKS:
                raise PowerFlowError(
                    f"unknown network {self.named!r}; known: {', '.join(sorted(NAMED_NETWORKS))}"
                )
            return
        self._check_topology()

    def _check_topology(self) -> None:
        n = len(self.buses)
        if n < 2:
            raise PowerFlowError(
                "an explicit network needs at least two buses (bus 0 is the slack)"
            )
        for k, bus in enumerate(self.buses):
            if not bus.vn_kv > 0:
                raise PowerFlowError(f"bus {k} has vn_kv {bus.vn_kv}; it must be positive")
        branches: list[tuple[int, int]] = []
        if self.transformer is not None:
            _check_transformer(self.transformer)
            branches.append((0, 1))
        for k, line in enumerate(self.lines):
            _check_line(k, line, self.buses, has_transformer=self.transformer is not None)
            branches.append((line.from_bus, line.to_bus))
        cut_off = _cut_off_from_bus_0(n, branches)
        if cut_off:
            raise PowerFlowError(f"buses {cut_off} are not connected to bus 0 (the slack)")

    @classmethod
    def feeder(
        cls,
        n_buses: int,
        *,
        segment_km: float = 0.03,
        r_ohm_per_km: float = 0.206,
        x_ohm_per_km: float = 0.08,
        max_i_ka: float = 0.27,
        transformer: TransformerSpec | None = None,
    ) -> NetworkSpec:
        """A straight LV feeder: bus 0 (20 kV PCC), a 20/0.4 kV 250 kVA transformer to
        bus 1, then ``n_buses - 2`` further buses in a line. Defaults: NAYY 4x150 SE cable
        (0.206 + j0.08 ohm/km, 270 A) in 30 m segments."""
        if n_buses < 3:
            raise PowerFlowError("a feeder needs at least 3 buses (PCC, LV busbar, one more)")
        trafo = transformer or TransformerSpec(
            sn_mva=0.25, vn_hv_kv=20.0, vn_lv_kv=0.4, vk_percent=4.0, vkr_percent=1.2
        )
        buses = (BusSpec(trafo.vn_hv_kv, "PCC"),) + tuple(
            BusSpec(trafo.vn_lv_kv, f"LV {k}") for k in range(1, n_buses)
        )
        lines = tuple(
            LineSpec(k, k + 1, segment_km, r_ohm_per_km, x_ohm_per_km, max_i_ka)
            for k in range(1, n_buses - 1)
        )
        return cls(buses=buses, lines=lines, transformer=trafo)


def build_network(spec: NetworkSpec) -> PandapowerNet:
    """A fresh pandapower network for ``spec`` (named: with its own loads; explicit:
    buses, lines, the transformer and the slack, no loads)."""
    if spec.named is not None:
        if not spec.named.startswith("kerber"):
            return NAMED_NETWORKS[spec.named]()
        state = random.getstate()
        random.seed(KERBER_SEED)
        try:
            return NAMED_NETWORKS[spec.named]()
        finally:
            random.setstate(state)
    net = pp.create_empty_network(name="gridshare microgrid")
    for k, bus in enumerate(spec.buses):
        pp.create_bus(net, vn_kv=bus.vn_kv, name=bus.name or f"bus {k}", index=k)
    pp.create_ext_grid(net, bus=0, vm_pu=spec.slack_vm_pu, name="upstream grid")
    if spec.transformer is not None:
        t = spec.transformer
        pp.create_transformer_from_parameters(
            net,
            hv_bus=0,
            lv_bus=1,
            sn_mva=t.sn_mva,
            vn_hv_kv=t.vn_hv_kv,
            vn_lv_kv=t.vn_lv_kv,
            vkr_percent=t.vkr_percent,
            vk_percent=t.vk_percent,
            pfe_kw=t.pfe_kw,
            i0_percent=t.i0_percent,
            name="PCC transformer",
        )
    for line in spec.lines:
        pp.create_line_from_parameters(
            net,
            from_bus=line.from_bus,
            to_bus=line.to_bus,
            length_km=line.length_km,
            r_ohm_per_km=line.r_ohm_per_km,
            x_ohm_per_km=line.x_ohm_per_km,
            c_nf_per_km=line.c_nf_per_km,
            max_i_ka=line.max_i_ka,
        )
    return net


def _slack_buses(net: PandapowerNet) -> set[int]:
    in_service = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    return {int(b) for b in in_service["bus"]}


def _live_buses(net: PandapowerNet) -> set[int]:
    return {int(b) for b in net.bus.index[net.bus["in_service"].astype(bool)]}


def connect_members(
    net: PandapowerNet,
    n_members: int,
    *,
    bus_of_member: ArrayLike | None = None,
    seed: int | None = None,
    keep_background: bool = False,
) -> IntArray:
    """Place members ``0..n_members-1`` on buses of ``net``; returns each member's bus.

    With ``bus_of_member`` the mapping is taken as given (checked). Otherwise members go
    round-robin over the network's load buses (in-service buses with an entry in
    ``net.load``, in ascending order), or over all in-service buses except the slack and
    transformer MV sides when it has no loads; a ``seed`` shuffles that bus order first
    (deterministic for a given seed).

    The network's own loads and static generators are taken out of service
    (``in_service = False``: members replace them) unless ``keep_background``, in which
    case they stay as background load under the members. ``net`` is changed in place.
    """
    if n_members < 0:
        raise PowerFlowError(f"n_members is {n_members}; it must be >= 0")
    if bus_of_member is not None:
        buses = _as_int_vector(bus_of_member, "bus_of_member")
        if buses.size != n_members:
            raise PowerFlowError(f"bus_of_member has {buses.size} entries for {n_members} members")
        _check_member_buses(net, buses)
    else:
        candidates = sorted({int(b) for b in net.load["bus"]} & _live_buses(net))
        if not candidates:
            excluded = _slack_buses(net) | {int(b) for b in net.trafo["hv_bus"]}
            candidates = sorted(_live_buses(net) - excluded)
        if not candidates and n_members:
            raise PowerFlowError("the network has no bus to connect members to")
        order = np.asarray(candidates, dtype=np.int64)
        if seed is not None:
            order = np.random.default_rng(seed).permutation(order)
        buses = order[np.arange(n_members) % max(order.size, 1)] if n_members else order[:0]
    if not keep_background:
        net.load["in_service"] = False
        net.sgen["in_service"] = False
    return buses.astype(np.int64)


@dataclass(frozen=True, slots=True)
class MemberLoads:
    """A network's own loads (and static generators, as negative loads) as members."""

    bus_of_member: IntArray
    p_kw: FloatArray
    """Net consumption, kW (loads positive, generators negative)."""
    q_kvar: FloatArray
    """Reactive consumption, kVAr."""


def extract_member_loads(net: PandapowerNet) -> MemberLoads:
    """Turn ``net``'s in-service loads and static generators into members.

    Each load (then each sgen) becomes one member with its ``p_mw * scaling`` and
    ``q_mvar * scaling`` (sgens with the sign flipped); they are taken out of service in
    ``net`` (changed in place) so that the power flow does not count them twice. This
    reproduces pandapower's own case with :class:`PowerFlowModel`: the reference mode.
    """
    load = net.load[net.load["in_service"].astype(bool)]
    sgen = net.sgen[net.sgen["in_service"].astype(bool)]
    bus = np.concatenate([load["bus"].to_numpy(), sgen["bus"].to_numpy()]).astype(np.int64)
    p_mw = np.concatenate(
        [
            (load["p_mw"] * load["scaling"]).to_numpy(dtype=np.float64),
            -(sgen["p_mw"] * sgen["scaling"]).to_numpy(dtype=np.float64),
        ]
    )
    q_mvar = np.concatenate(
        [
            (load["q_mvar"] * load["scaling"]).to_numpy(dtype=np.float64),
            -(sgen["q_mvar"] * sgen["scaling"]).to_numpy(dtype=np.float64),
        ]
    )
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    return MemberLoads(bus, p_mw * KW_PER_MW, q_mvar * KW_PER_MW)


def _as_int_vector(values: ArrayLike, name: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise PowerFlowError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise PowerFlowError(f"{name} must hold integer bus indices, got {array.dtype}")
    return array.astype(np.int64)


def _check_member_buses(net: PandapowerNet, buses: IntArray) -> None:
    live = _live_buses(net)
    known = {int(b) for b in net.bus.index}
    for member, bus in enumerate(buses.tolist()):
        if bus not in known:
            raise PowerFlowError(
                f"member {member} is mapped to bus {bus}, which the network does not have "
                f"(bus indices {min(known)}..{max(known)})"
            )
        if bus not in live:
            raise PowerFlowError(f"member {member} is mapped to bus {bus}, which is out of service")


# --------------------------------------------------------------------------- results


class VoltageViolation(NamedTuple):
    """A bus outside the voltage band."""

    bus: int
    """pandapower bus index."""
    vm_pu: float
    kind: VoltageKind


class LineOverload(NamedTuple):
    """A line loaded above the limit."""

    line: int
    """pandapower line index."""
    loading_percent: float


@dataclass(frozen=True, slots=True)
class PowerFlowLimits:
    """The operating limits results are checked against."""

    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    max_line_loading_percent: float = 100.0


@dataclass(frozen=True, slots=True)
class PowerFlowResult:
    """One interval's power flow. Arrays follow the order of ``net.bus``, ``net.line``
    and ``net.trafo``; ``bus_index`` and ``line_index`` hold pandapower's indices.

    When ``converged`` is false every value is NaN (nothing is raised): the caller
    decides whether an interval without a solution is an error.
    """

    vm_pu: FloatArray
    """Voltage magnitude per bus (NaN for out-of-service buses)."""
    va_degree: FloatArray
    line_loading_percent: FloatArray
    """Current over the thermal rating (``max_i_ka * df * parallel``), the larger end;
    0 for out-of-service lines."""
    trafo_loading_percent: FloatArray
    """pandapower's current-based transformer loading."""
    losses_kw: float
    """Active losses in lines and transformers (series and magnetising branches)."""
    slack_p_kw: float
    """Active import at the point of common coupling (positive = import)."""
    slack_q_kvar: float
    converged: bool
    iterations: int
    """Newton iterations (Jacobian solves) this interval took."""
    bus_index: IntArray
    line_index: IntArray
    limits: PowerFlowLimits

    @property
    def voltage_violations(self) -> tuple[VoltageViolation, ...]:
        """Buses below ``v_min_pu`` ("under") or above ``v_max_pu`` ("over")."""
        low = np.flatnonzero(self.vm_pu < self.limits.v_min_pu)
        high = np.flatnonzero(self.vm_pu > self.limits.v_max_pu)
        found = [
            VoltageViolation(int(self.bus_index[k]), float(self.vm_pu[k]), "under") for k in low
        ]
        found += [
            VoltageViolation(int(self.bus_index[k]), float(self.vm_pu[k]), "over") for k in high
        ]
        return tuple(sorted(found))

    @property
    def overloaded_lines(self) -> tuple[LineOverload, ...]:
        """Lines above ``max_line_loading_percent``."""
        over = np.flatnonzero(self.line_loading_percent > self.limits.max_line_loading_percent)
        return tuple(
            LineOverload(int(self.line_index[k]), float(self.line_loading_percent[k])) for k in over
        )

    @property
    def is_within_limits(self) -> bool:
        """Converged, with no voltage violation and no overloaded line."""
        return self.converged and not self.voltage_violations and not self.overloaded_lines


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """Power flows over ``T`` intervals: each field of :class:`PowerFlowResult` with a
    leading interval axis."""

    vm_pu: FloatArray
    """(T, buses)"""
    va_degree: FloatArray
    line_loading_percent: FloatArray
    """(T, lines)"""
    trafo_loading_percent: FloatArray
    """(T, transformers)"""
    losses_kw: FloatArray
    """(T,)"""
    slack_p_kw: FloatArray
    slack_q_kvar: FloatArray
    converged: BoolArray
    iterations: IntArray
    bus_index: IntArray
    line_index: IntArray
    limits: PowerFlowLimits

    def at(self, t: int) -> PowerFlowResult:
        """Interval ``t`` as a :class:`PowerFlowResult`."""
        return PowerFlowResult(
            vm_pu=self.vm_pu[t],
            va_degree=self.va_degree[t],
            line_loading_percent=self.line_loading_percent[t],
            trafo_loading_percent=self.trafo_loading_percent[t],
            losses_kw=float(self.losses_kw[t]),
            slack_p_kw=float(self.slack_p_kw[t]),
            slack_q_kvar=float(self.slack_q_kvar[t]),
            converged=bool(self.converged[t]),
            iterations=int(self.iterations[t]),
            bus_index=self.bus_index,
            line_index=self.line_index,
            limits=self.limits,
        )

    @property
    def violating_intervals(self) -> IntArray:
        """Intervals that did not converge or break a voltage or line limit."""
        limits = self.limits
        with np.errstate(invalid="ignore"):
            bad_v = np.any((self.vm_pu < limits.v_min_pu) | (self.vm_pu > limits.v_max_pu), axis=1)
            bad_line = np.any(self.line_loading_percent > limits.max_line_loading_percent, axis=1)
        return np.flatnonzero(bad_v | bad_line | ~self.converged).astype(np.int64)


# --------------------------------------------------------------------------- the solver


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
        buses = _as_int_vector(bus_of_member, "bus_of_member")
        _check_member_buses(net, buses)
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
        if self._dense:
            dx = np.linalg.solve(jac, rhs)
        else:
            dx = np.asarray(spsolve(jac, rhs), dtype=np.float64).reshape(rhs.shape)
        d_vm = dx[n:]
        bus_pos = self._pq_pos_of_ppci[self._ppci_of_bus]
        rows = np.flatnonzero(self._bus_live & (bus_pos >= 0))
        result[np.ix_(rows, members)] = d_vm[bus_pos[rows]]
        return result

    def reset(self) -> None:
        """Forget the warm start: the next solve starts from the background solution."""
        self._v_pq = self._v_start_pq.copy()


# --------------------------------------------------------------------------- frequency


@dataclass(frozen=True, slots=True)
class FrequencyLimits:
    """The band a frequency must stay in (Hz). The default, 50 +- 0.2 Hz, is the maximum
    steady-state deviation of Continental Europe (EU 2017/1485, Annex III)."""

    nominal_hz: float = 50.0
    low_hz: float = 49.8
    high_hz: float = 50.2

    def __post_init__(self) -> None:
        if not 0 < self.low_hz < self.nominal_hz < self.high_hz:
            raise PowerFlowError(
                f"frequency limits need 0 < low < nominal < high, got {self.low_hz}, "
                f"{self.nominal_hz}, {self.high_hz} Hz"
            )

    @classmethod
    def around(cls, nominal_hz: float, band_hz: float = 0.2) -> FrequencyLimits:
        """``nominal_hz +- band_hz``, e.g. ``around(60.0)`` gives 59.8..60.2 Hz."""
        return cls(nominal_hz, nominal_hz - band_hz, nominal_hz + band_hz)

    @classmethod
    def hz_60(cls, band_hz: float = 0.2) -> FrequencyLimits:
        """A 60 Hz system (North America and others), 59.8..60.2 Hz by default."""
        return cls.around(60.0, band_hz)


def droop_frequency_hz(
    imbalance_kw: float, *, droop_percent: float, rated_kw: float, nominal_hz: float = 50.0
) -> float:
    """Steady-state frequency of an islanded microgrid under primary droop control.

    The grid-forming units share an imbalance in proportion to their rating along a
    linear frequency-power characteristic with droop ``R`` (``droop_percent`` / 100: the
    frequency change, as a fraction of nominal, that moves their output from zero to
    rated power):

        delta_f = -R * f_nom * delta_P / P_rated

    ``imbalance_kw`` is load minus generation (positive when load exceeds generation:
    the frequency falls) and ``rated_kw`` the combined rating of the droop-controlled
    units. The model is linear: it does not know that units saturate at their limits
    (Kundur 1994, section 11.1; Chandorkar et al. 1993). Example: 5 % droop, 100 kW
    rated, 10 kW short at 50 Hz gives 50 - 0.05 * 50 * 0.1 = 49.75 Hz.
    """
    if not droop_percent > 0:
        raise PowerFlowError(f"droop_percent is {droop_percent}; it must be > 0 (e.g. 4 or 5)")
    if not rated_kw > 0:
        raise PowerFlowError(f"rated_kw is {rated_kw}; it must be > 0")
    if not nominal_hz > 0:
        raise PowerFlowError(f"nominal_hz is {nominal_hz}; it must be > 0")
    if not math.isfinite(imbalance_kw):
        raise PowerFlowError("imbalance_kw must be a finite number")
    return nominal_hz - droop_percent / 100.0 * nominal_hz * imbalance_kw / rated_kw


def classify_frequency(
    frequency_hz: float, limits: FrequencyLimits | None = None
) -> FrequencyState:
    """``"low"`` below ``limits.low_hz``, ``"high"`` above ``limits.high_hz``, else
    ``"ok"`` (the band's edges are inside). Default: 49.8..50.2 Hz."""
    band = limits or FrequencyLimits()
    if not math.isfinite(frequency_hz):
        raise PowerFlowError("frequency_hz must be a finite number")
    if frequency_hz < band.low_hz:
        return "low"
    if frequency_hz > band.high_hz:
        return "high"
    return "ok"


__all__ = [
    "DENSE_MAX_BUSES",
    "NAMED_NETWORKS",
    "BusSpec",
    "FrequencyLimits",
    "LineOverload",
    "LineSpec",
    "MemberLoads",
    "NetworkSpec",
    "PowerFlowError",
    "PowerFlowLimits",
    "PowerFlowModel",
    "PowerFlowResult",
    "SeriesResult",
    "TransformerSpec",
    "VoltageViolation",
    "build_network",
    "classify_frequency",
    "connect_members",
    "droop_frequency_hz",
    "extract_member_loads",
]
