"""Generating, storing and flexible assets with their rated capacities."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridshare.model.errors import ModelError


class AssetKind(StrEnum):
    """Kinds of asset a participant can own."""

    PV = "pv"
    WIND = "wind"
    HYDRO = "hydro"
    BIOMASS = "biomass"
    BATTERY = "battery"
    FLEXIBLE_LOAD = "flexible_load"
    EV = "ev"


class EnergySource(StrEnum):
    """Primary energy source of produced electricity (certificates, reports)."""

    SOLAR = "solar"
    WIND = "wind"
    HYDRO = "hydro"
    BIOMASS = "biomass"


class DispatchMode(StrEnum):
    """How a dispatchable generator runs before the optimiser (issue 6) takes over."""

    BASELOAD = "baseload"
    """Constant output at ``rated_power_kw * availability_fraction``."""
    FOLLOW_LOAD = "follow_load"
    """Covers the community's net import, up to the available capacity."""


def _require_positive(value: float, what: str, asset_id: str) -> None:
    if not value > 0.0:
        raise ModelError(f"asset {asset_id}: {what} must be > 0, got {value}")


def _require_fraction(value: float, what: str, asset_id: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ModelError(f"asset {asset_id}: {what} must be within 0..1, got {value}")


@dataclass(frozen=True, slots=True)
class PvArray:
    """A photovoltaic array; ``kwp`` is its DC rating at standard test conditions."""

    asset_id: str
    participant_id: str
    kwp: float
    tilt_deg: float
    azimuth_deg: float
    """Compass azimuth the array faces, degrees clockwise from north (180 = south)."""
    inverter_kw: float

    kind: AssetKind = AssetKind.PV

    def __post_init__(self) -> None:
        _require_positive(self.kwp, "kwp", self.asset_id)
        _require_positive(self.inverter_kw, "inverter_kw", self.asset_id)
        if not 0.0 <= self.tilt_deg <= 90.0:
            raise ModelError(f"asset {self.asset_id}: tilt_deg must be within 0..90")
        if not 0.0 <= self.azimuth_deg < 360.0:
            raise ModelError(f"asset {self.asset_id}: azimuth_deg must be within 0..360")

    @property
    def rated_power_kw(self) -> float:
        """Maximum AC output: the inverter's rating."""
        return self.inverter_kw

    @property
    def source(self) -> EnergySource:
        return EnergySource.SOLAR


@dataclass(frozen=True, slots=True)
class WindTurbine:
    """A wind turbine from windpowerlib's turbine library."""

    asset_id: str
    participant_id: str
    turbine_type: str
    hub_height_m: float
    rated_power_kw: float

    kind: AssetKind = AssetKind.WIND

    def __post_init__(self) -> None:
        _require_positive(self.hub_height_m, "hub_height_m", self.asset_id)
        _require_positive(self.rated_power_kw, "rated_power_kw", self.asset_id)

    @property
    def source(self) -> EnergySource:
        return EnergySource.WIND


@dataclass(frozen=True, slots=True)
class DispatchableGenerator:
    """A hydro or biomass unit whose output can be set up to its available capacity."""

    asset_id: str
    participant_id: str
    kind: AssetKind
    rated_power_kw: float
    availability_fraction: float
    dispatch_mode: DispatchMode

    def __post_init__(self) -> None:
        if self.kind not in (AssetKind.HYDRO, AssetKind.BIOMASS):
            raise ModelError(f"asset {self.asset_id}: dispatchable kind must be hydro or biomass")
        _require_positive(self.rated_power_kw, "rated_power_kw", self.asset_id)
        _require_fraction(self.availability_fraction, "availability_fraction", self.asset_id)

    @property
    def available_kw(self) -> float:
        return self.rated_power_kw * self.availability_fraction

    @property
    def source(self) -> EnergySource:
        return EnergySource.HYDRO if self.kind is AssetKind.HYDRO else EnergySource.BIOMASS


@dataclass(frozen=True, slots=True)
class Battery:
    """A stationary battery; efficiency is AC-to-AC round trip."""

    asset_id: str
    participant_id: str
    capacity_kwh: float
    power_kw: float
    round_trip_efficiency: float
    min_soc_fraction: float = 0.0
    initial_soc_fraction: float = 0.5

    kind: AssetKind = AssetKind.BATTERY

    def __post_init__(self) -> None:
        _require_positive(self.capacity_kwh, "capacity_kwh", self.asset_id)
        _require_positive(self.power_kw, "power_kw", self.asset_id)
        if not 0.0 < self.round_trip_efficiency <= 1.0:
            raise ModelError(f"asset {self.asset_id}: round_trip_efficiency must be in (0, 1]")
        _require_fraction(self.min_soc_fraction, "min_soc_fraction", self.asset_id)
        _require_fraction(self.initial_soc_fraction, "initial_soc_fraction", self.asset_id)
        if self.initial_soc_fraction < self.min_soc_fraction:
            raise ModelError(f"asset {self.asset_id}: initial_soc_fraction is below min_soc")

    @property
    def rated_power_kw(self) -> float:
        return self.power_kw


@dataclass(frozen=True, slots=True)
class FlexibleLoad:
    """A load whose consumption can be shifted or curtailed (heat pump, boiler...)."""

    asset_id: str
    participant_id: str
    rated_power_kw: float

    kind: AssetKind = AssetKind.FLEXIBLE_LOAD

    def __post_init__(self) -> None:
        _require_positive(self.rated_power_kw, "rated_power_kw", self.asset_id)


@dataclass(frozen=True, slots=True)
class ElectricVehicle:
    """An electric vehicle with its charger."""

    asset_id: str
    participant_id: str
    battery_kwh: float
    charger_kw: float

    kind: AssetKind = AssetKind.EV

    def __post_init__(self) -> None:
        _require_positive(self.battery_kwh, "battery_kwh", self.asset_id)
        _require_positive(self.charger_kw, "charger_kw", self.asset_id)

    @property
    def rated_power_kw(self) -> float:
        return self.charger_kw


Generator = PvArray | WindTurbine | DispatchableGenerator
Asset = PvArray | WindTurbine | DispatchableGenerator | Battery | FlexibleLoad | ElectricVehicle
