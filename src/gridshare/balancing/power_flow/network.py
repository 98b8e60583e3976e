"""The network a community's members sit on: an explicit topology (:class:`NetworkSpec`
with :class:`BusSpec`, :class:`LineSpec` and :class:`TransformerSpec`) or a named pandapower
benchmark feeder (:data:`NAMED_NETWORKS`), built with :func:`build_network`, and the members
placed on its buses (:func:`connect_members`, :func:`extract_member_loads`).

References: Baran & Wu 1989 (``case33bw``), CIGRE TB 575 2014 (``cigre_lv``), Kerber 2011
(the Kerber feeders); see :mod:`gridshare.balancing.power_flow`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandapower as pp  # type: ignore[import-untyped]
import pandapower.networks as pn  # type: ignore[import-untyped]
from numpy.typing import ArrayLike

from gridshare.balancing.power_flow.common import PandapowerNet, PowerFlowError
from gridshare.model.configuration import (
    BusConfiguration,
    LineConfiguration,
    TransformerConfiguration,
)
from gridshare.units import KW_PER_MW, FloatArray, IntArray

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


def _in_service(table: PandapowerNet) -> list[tuple[int, PandapowerNet]]:
    """The rows of a pandapower table (a DataFrame) that are in service, by index."""
    return [
        (int(index), row)
        for index, row in table.iterrows()
        if "in_service" not in row or bool(row["in_service"])
    ]


def describe_network(
    net: PandapowerNet,
) -> tuple[
    tuple[BusConfiguration, ...],
    tuple[LineConfiguration, ...],
    tuple[TransformerConfiguration, ...],
]:
    """The in-service buses (nominal kV, name), lines (ends, length km, thermal limit kA)
    and transformers of ``net``, as plain records."""
    buses = tuple(
        BusConfiguration(k, r["name"] if isinstance(r["name"], str) else "", float(r["vn_kv"]))
        for k, r in _in_service(net.bus)
    )
    lines = tuple(
        LineConfiguration(
            k, int(r["from_bus"]), int(r["to_bus"]), float(r["length_km"]), float(r["max_i_ka"])
        )
        for k, r in _in_service(net.line)
    )
    transformers = tuple(
        TransformerConfiguration(
            int(r["hv_bus"]),
            int(r["lv_bus"]),
            float(r["sn_mva"]),
            float(r["vn_hv_kv"]),
            float(r["vn_lv_kv"]),
            float(r["vk_percent"]),
            float(r["vkr_percent"]),
        )
        for _, r in _in_service(net.trafo)
    )
    return buses, lines, transformers


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
        buses = as_int_vector(bus_of_member, "bus_of_member")
        if buses.size != n_members:
            raise PowerFlowError(f"bus_of_member has {buses.size} entries for {n_members} members")
        check_member_buses(net, buses)
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

    def consumption_k(column: str) -> FloatArray:
        """Loads' ``column`` (MW or MVAr) times their scaling, then the sgens' negated, in
        kW or kVAr."""
        mega = np.concatenate(
            [
                (load[column] * load["scaling"]).to_numpy(dtype=np.float64),
                -(sgen[column] * sgen["scaling"]).to_numpy(dtype=np.float64),
            ]
        )
        return mega * KW_PER_MW

    p_kw, q_kvar = consumption_k("p_mw"), consumption_k("q_mvar")
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    return MemberLoads(bus, p_kw, q_kvar)


def as_int_vector(values: ArrayLike, name: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise PowerFlowError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise PowerFlowError(f"{name} must hold integer bus indices, got {array.dtype}")
    return array.astype(np.int64)


def check_member_buses(net: PandapowerNet, buses: IntArray) -> None:
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
