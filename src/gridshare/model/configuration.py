"""A community's operating configuration as the node runs it, read-only: the network, the
critical loads and shedding order, the limits, the tariff, the emergency protocol and the
market rules. Built by the composition root from the community file; changing it means
editing that file and restarting the node."""

from __future__ import annotations

from dataclasses import dataclass

from gridshare.model.tariff import GridTariff

__all__ = [
    "BusConfiguration",
    "CommunityConfiguration",
    "EmergencyConfiguration",
    "LimitsConfiguration",
    "LineConfiguration",
    "MarketConfiguration",
    "MemberBus",
    "NetworkTopology",
    "ShedPriority",
    "TransformerConfiguration",
]


@dataclass(frozen=True, slots=True)
class BusConfiguration:
    """A bus of the network (bus 0 of an explicit network is the point of common
    coupling)."""

    bus: int
    name: str
    vn_kv: float
    """Nominal voltage, kV."""


@dataclass(frozen=True, slots=True)
class LineConfiguration:
    line: int
    from_bus: int
    to_bus: int
    length_km: float
    max_i_ka: float
    """Thermal limit, kA."""


@dataclass(frozen=True, slots=True)
class TransformerConfiguration:
    hv_bus: int
    lv_bus: int
    sn_mva: float
    vn_hv_kv: float
    vn_lv_kv: float
    vk_percent: float
    vkr_percent: float


@dataclass(frozen=True, slots=True)
class MemberBus:
    """Where a participant is connected."""

    participant_id: str
    bus: int


@dataclass(frozen=True, slots=True)
class NetworkTopology:
    """The network the power flow runs on: a named benchmark feeder or the community's
    own buses, lines and transformer."""

    name: str | None
    """The named network (``case33bw``, ``cigre_lv``, ...); None: the community's own."""
    buses: tuple[BusConfiguration, ...]
    lines: tuple[LineConfiguration, ...]
    transformers: tuple[TransformerConfiguration, ...]
    """An explicit network has at most one (bus 0 to bus 1); a named one may have several."""
    member_buses: tuple[MemberBus, ...]


@dataclass(frozen=True, slots=True)
class ShedPriority:
    """A participant's place in the shedding order when the community islands (shed
    lowest first; critical loads are never shed)."""

    participant_id: str
    shed_priority: int


@dataclass(frozen=True, slots=True)
class LimitsConfiguration:
    """What the balance monitor checks every interval."""

    import_limit_kw: float
    export_limit_kw: float
    warn_fraction: float
    """Warn at this fraction of a limit."""
    v_min_pu: float
    v_max_pu: float
    max_line_loading_percent: float
    nominal_hz: float
    f_low_hz: float
    f_high_hz: float
    min_reserve_margin: float
    """Fraction of the load that dispatchable reserve must cover."""


@dataclass(frozen=True, slots=True)
class EmergencyConfiguration:
    """What the community does when the main grid goes down."""

    reserve_hours: float
    """Stored energy kept to carry the critical loads this long."""
    shed_non_critical: bool


@dataclass(frozen=True, slots=True)
class MarketConfiguration:
    """The community market's rules (prices and fees in micro-units)."""

    mechanism: str
    settlement: str
    """``interval`` or ``day``: how often trades settle on chain."""
    fee_micros_per_kwh: int
    fee_bps: int
    min_price_micros_per_kwh: int
    max_price_micros_per_kwh: int


@dataclass(frozen=True, slots=True)
class CommunityConfiguration:
    """Everything the operator configured for one community, as the node runs it."""

    community_id: str
    name: str
    time_zone: str
    interval_s: int
    network: NetworkTopology | None
    """None: no power flow (the community file names no network)."""
    critical_loads: tuple[str, ...]
    """Participant ids whose loads are critical (served first, never shed)."""
    shed_priorities: tuple[ShedPriority, ...]
    limits: LimitsConfiguration
    tariff: GridTariff
    emergency: EmergencyConfiguration
    market: MarketConfiguration
