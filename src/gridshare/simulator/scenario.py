"""Scenario files (TOML): a community, its weather, its grid tariff and its members.

Every key is checked; an unknown key, a wrong type or an impossible value stops with one
message naming the file, the key and what is expected. See docs/scenarios.md.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from gridshare.consumption.profiles import PROFILE_NAMES, require_profile
from gridshare.errors import ConfigurationError
from gridshare.model import Category, DispatchMode, Role
from gridshare.production.pv import (
    PVWATTS_LOSSES_PERCENT,
    PVWATTS_TRANSPOSITION,
    ROOF_MOUNT,
    TemperatureModel,
    TranspositionModel,
)
from gridshare.production.wind import require_turbine_type


def _number(value: object) -> object:
    """Numbers must be written as TOML numbers, not strings or booleans."""
    if isinstance(value, str | bool):
        raise ValueError("expected a number, not a string or boolean")
    return value


Number = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
Whole = Annotated[int, Strict()]
Fraction = Annotated[Number, Field(ge=0.0, le=1.0)]
Positive = Annotated[Number, Field(gt=0.0)]
Price = Annotated[
    Decimal,
    BeforeValidator(_number),
    Field(ge=0, max_digits=12, decimal_places=6, allow_inf_nan=False),
]


class ScenarioError(ConfigurationError):
    """A scenario file cannot be used; the message names file, key and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommunitySpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
    name: str
    time_zone: str
    seed: Annotated[Whole, Field(ge=0)] = 0

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Berlin')") from None
        return value


class SimulationSpec(_Strict):
    start: date
    days: Annotated[Whole, Field(ge=1, le=3660)]
    interval_minutes: Literal[5, 10, 15, 30, 60] = 15


class WeatherSpec(_Strict):
    source: str
    """``pvlib:NAME`` for a TMY3 file shipped with pvlib, or a path to a TMY3 CSV."""
    roughness_length_m: Positive = 0.15


class TimeOfUseSpec(_Strict):
    """A daily window (local time, ``[start, end)``, may wrap midnight) with its own
    import price."""

    start: Clock
    end: Clock
    import_price_per_kwh: Price


class GridSpec(_Strict):
    """The main-grid connection and the community's one tariff: accounting, the market's
    grid fallback and members' savings, and the dispatch plan all price energy with it."""

    import_price_per_kwh: Price
    export_price_per_kwh: Price
    import_limit_kw: Positive
    export_limit_kw: Positive
    time_of_use: list[TimeOfUseSpec] = Field(default_factory=list)
    demand_charge_per_kw: Price = Decimal(0)
    """Charged on the peak interval's mean import (currency per kW)."""


class LoadSpec(_Strict):
    profile: str
    annual_kwh: Positive
    variation: Annotated[Number, Field(ge=0.0, lt=1.0)] = 0.0
    """Each member's annual kWh is drawn uniformly within +-variation of the group's."""
    time_shift_minutes: Annotated[Whole, Field(ge=0, le=180)] = 0
    """Each member's profile is shifted by whole quarter hours within +-this many minutes."""

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        try:
            return require_profile(value)
        except ConfigurationError:
            raise ValueError(
                f"unknown load profile {value!r}; expected one of {', '.join(PROFILE_NAMES)}"
            ) from None


class PvSpec(_Strict):
    kwp: Positive
    variation: Annotated[Number, Field(ge=0.0, lt=1.0)] = 0.0
    tilt_deg: Annotated[Number, Field(ge=0.0, le=90.0)] = 30.0
    azimuth_deg: Annotated[Number, Field(ge=0.0, lt=360.0)] = 180.0
    dc_ac_ratio: Annotated[Number, Field(ge=0.5, le=2.0)] = 1.2
    losses_percent: Annotated[Number, Field(ge=0.0, lt=100.0)] = PVWATTS_LOSSES_PERCENT
    """PVWatts total system losses, % of DC power (PVWatts v5's default 14 %)."""
    temperature_model: TemperatureModel = ROOF_MOUNT
    """pvlib's SAPM cell-temperature parameter set: how the modules are mounted."""
    transposition_model: TranspositionModel = PVWATTS_TRANSPOSITION
    """pvlib's sky-diffuse model for the tilted plane (PVWatts v5 uses Perez)."""


class WindSpec(_Strict):
    turbine_type: str
    """A turbine type of windpowerlib's bundled library, e.g. ``E-53/800``."""
    hub_height_m: Positive

    @field_validator("turbine_type")
    @classmethod
    def _known_turbine(cls, value: str) -> str:
        try:
            require_turbine_type(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return value


class DispatchableSpec(_Strict):
    capacity_kw: Positive
    availability: Fraction = 1.0
    dispatch: DispatchMode = DispatchMode.BASELOAD


class BatterySpec(_Strict):
    capacity_kwh: Positive
    power_kw: Positive
    round_trip_efficiency: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.9
    min_soc: Fraction = 0.1
    initial_soc: Fraction = 0.5

    @model_validator(mode="after")
    def _initial_above_min(self) -> BatterySpec:
        if self.initial_soc < self.min_soc:
            raise ValueError("initial_soc must be >= min_soc")
        return self


class FlexibleLoadSpec(_Strict):
    """A member's flexible load (heat pump, water heater, EV charger) enrolled in demand
    response."""

    power_kw: Positive
    """Most power the load can curtail."""
    protocol: Literal["openadr", "mqtt"] = "mqtt"
    opt_out_probability: Fraction = 0.1
    """Simulated members decline an event with this probability (seeded)."""
    rebound: Fraction = 1.0
    """Share of curtailed energy a shift event moves to the hours after it."""


class GroupSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,23}$")]
    count: Annotated[Whole, Field(ge=1, le=100_000)] = 1
    role: Role
    category: Category = Category.RESIDENTIAL
    load: LoadSpec | None = None
    pv: PvSpec | None = None
    wind: WindSpec | None = None
    hydro: DispatchableSpec | None = None
    biomass: DispatchableSpec | None = None
    battery: BatterySpec | None = None
    flexible_load: FlexibleLoadSpec | None = None
    critical: bool = False
    """A critical load (clinic, shelter, water pumping): served first when islanded."""
    shed_priority: Annotated[Whole, Field(ge=0, le=1000)] = 0
    """Among non-critical loads, the lowest priority is shed first."""
    bus: Annotated[Whole, Field(ge=0)] | None = None
    """The network bus the group's members connect to (default: round-robin)."""

    @model_validator(mode="after")
    def _role_fits_assets(self) -> GroupSpec:
        generates = any(x is not None for x in (self.pv, self.wind, self.hydro, self.biomass))
        if self.role is Role.OPERATOR:
            raise ValueError(
                "the operator is created by gridshare; use producer, consumer or prosumer"
            )
        if self.role is Role.CONSUMER and (generates or self.load is None):
            raise ValueError("a consumer group needs a load and no generation")
        if self.role is Role.PRODUCER and (not generates or self.load is not None):
            raise ValueError(
                "a producer group needs pv, wind, hydro or biomass and no load (with a load "
                "it is a prosumer)"
            )
        if self.role is Role.PROSUMER and (not generates or self.load is None):
            raise ValueError("a prosumer group needs a load and some generation")
        if (self.flexible_load is not None or self.critical) and self.load is None:
            raise ValueError("flexible_load and critical need a load in the group")
        if self.battery is not None and (self.load is None or not generates):
            raise ValueError(
                "a battery needs a load and generation beside it: it runs the "
                "self-consumption rule (charge from the member's surplus, discharge into "
                "its deficit)"
            )
        return self


class MarketSpec(_Strict):
    """The community's peer-to-peer market (docs/market.md)."""

    mechanism: str = "pay-as-clear"
    fee_per_kwh: Price = Decimal(0)
    fee_percent: Annotated[Number, Field(ge=0.0, le=10.0)] = 0.0
    min_price_per_kwh: Price = Decimal(0)
    max_price_per_kwh: Price = Decimal(10)
    escrow_per_member: Price = Decimal(200)
    """Credit each member deposits in the market's escrow at the start (currency)."""
    escrow_per_commercial_member: Price = Decimal(3000)
    bid_fraction: Fraction = 0.6
    """Agents bid this far from the export towards the import price (varied per member)."""
    ask_fraction: Fraction = 0.3
    variation: Annotated[Number, Field(ge=0.0, lt=0.5)] = 0.15
    """Per-member spread of the agents' fractions (uniform, +-)."""
    settlement: Literal["interval", "day"] = "day"
    """On chain: each interval on its own (every order checked by the contract), or each
    UTC day as one batch (checked on challenge; far less gas)."""

    @model_validator(mode="after")
    def _known_mechanism(self) -> MarketSpec:
        from gridshare.market.clearing import MECHANISMS

        if self.mechanism not in MECHANISMS:
            raise ValueError(
                f"unknown mechanism {self.mechanism!r}; choose from {', '.join(MECHANISMS)}"
            )
        if self.min_price_per_kwh > self.max_price_per_kwh:
            raise ValueError("min_price_per_kwh must be <= max_price_per_kwh")
        return self


def _clock(value: object) -> object:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a local time as 'HH:MM', not {value!r}") from None
    return value


Clock = Annotated[time, BeforeValidator(_clock)]


class BusEntry(_Strict):
    vn_kv: Positive
    name: str = ""


class LineEntry(_Strict):
    from_bus: Annotated[Whole, Field(ge=0)]
    to_bus: Annotated[Whole, Field(ge=0)]
    length_km: Positive
    r_ohm_per_km: Positive
    x_ohm_per_km: Annotated[Number, Field(ge=0.0)]
    max_i_ka: Positive


class TransformerEntry(_Strict):
    sn_mva: Positive
    vn_hv_kv: Positive
    vn_lv_kv: Positive
    vk_percent: Positive
    vkr_percent: Annotated[Number, Field(ge=0.0)]


class NetworkSpec(_Strict):
    """The microgrid's network for the AC power flow (docs/power_flow.md): a pandapower
    network by ``name``, or the community's own radial network from ``buses``, ``lines``
    and its ``transformer`` (bus 0 is the point of common coupling)."""

    name: str | None = "cigre_lv"
    """A pandapower network: ``cigre_lv`` (CIGRE LV benchmark), ``case33bw`` (Baran & Wu
    33-bus) or a Kerber feeder; members are connected round-robin to its load buses
    unless their group names a ``bus``. Ignored when ``buses`` are given."""
    buses: list[BusEntry] = Field(default_factory=list)
    lines: list[LineEntry] = Field(default_factory=list)
    transformer: TransformerEntry | None = None
    power_factor: Annotated[Number, Field(gt=0.5, le=1.0)] = 0.95
    v_min_pu: Annotated[Number, Field(gt=0.5, lt=1.0)] = 0.95
    v_max_pu: Annotated[Number, Field(gt=1.0, lt=1.5)] = 1.05
    max_line_loading_percent: Positive = 100.0
    scale: Positive = 1.0
    """Multiplies every member's power on the network (study stress cases)."""


class IslandSpec(_Strict):
    """The emergency protocol when the main grid is lost."""

    reserve_hours: Annotated[Number, Field(ge=0.0, le=72.0)] = 4.0
    """Keep enough stored energy to serve the critical loads this long."""
    shed_non_critical: bool = True
    nominal_hz: Literal[50, 60] = 50
    droop_percent: Annotated[Number, Field(gt=0.0, le=20.0)] = 0.25
    """Grid-forming storage's frequency droop: the drop at rated output, as a share of
    nominal (0.25 % of 60 Hz = 0.15 Hz at full output, inside a +-0.2 Hz band)."""
    frequency_band_hz: Annotated[Number, Field(gt=0.0, le=5.0)] = 0.2
    """Alert when the frequency leaves nominal +- this."""


class DemandResponseSpec(_Strict):
    """Demand-response events for enrolled flexible loads (docs/balancing.md)."""

    enabled: bool = True
    rate_per_kwh: Price = Decimal("0.30")
    """Paid per kWh of measured curtailment (CommunityCredit)."""
    event_hours: Annotated[Number, Field(gt=0.0, le=12.0)] = 2.0
    """Longest event."""
    trigger_fraction: Annotated[Number, Field(gt=0.0, le=2.0)] = 0.9
    """Call an event when the plan's import exceeds this share of the import limit..."""
    trigger_import_kw: Positive | None = None
    """... or this many kW, when given (peak shaving below the connection's limit)."""
    kind: Literal["curtail", "shift"] = "shift"
    """Curtail (energy not used) or shift (used after the window)."""


class BalancingSpec(_Strict):
    """Balancing: monitor, dispatch optimiser, demand response, network, islanding."""

    @model_validator(mode="before")
    @classmethod
    def _tariff_lives_in_grid(cls, data: object) -> object:
        if isinstance(data, dict):
            moved = sorted({"time_of_use", "demand_charge_per_kw"} & set(data))
            if moved:
                raise ValueError(
                    f"{', '.join(moved)} moved from [balancing] to [grid]: the community has "
                    "one tariff, which accounting, the market and the plan all use"
                )
        return data

    optimise: bool = True
    """Plan batteries and load-following plants with the LP (else the local rules)."""
    horizon_hours: Annotated[Number, Field(gt=0.0, le=72.0)] = 24.0
    fine_hours: Annotated[Number, Field(ge=0.0, le=72.0)] = 2.0
    """The first hours of the plan at the interval's resolution; the rest hourly."""
    hydro_cost_per_kwh: Price = Decimal(0)
    biomass_cost_per_kwh: Price = Decimal("0.08")
    min_reserve_margin: Fraction = 0.1
    warn_fraction: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.9
    network: NetworkSpec | None = None
    island: IslandSpec = Field(default_factory=IslandSpec)
    demand_response: DemandResponseSpec = Field(default_factory=DemandResponseSpec)


class GridEventSpec(_Strict):
    """Something that happens to the main-grid connection."""

    kind: Literal["grid_outage"] = "grid_outage"
    start: datetime
    """Local time of the community unless an offset is given (TOML datetime)."""
    hours: Annotated[Number, Field(gt=0.0, le=24.0 * 14)]


class Scenario(_Strict):
    community: CommunitySpec
    simulation: SimulationSpec
    weather: WeatherSpec
    grid: GridSpec
    groups: Annotated[list[GroupSpec], Field(min_length=1)]
    market: MarketSpec = Field(default_factory=MarketSpec)
    balancing: BalancingSpec = Field(default_factory=BalancingSpec)
    events: list[GridEventSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_group_names(self) -> Scenario:
        names = [g.name for g in self.groups]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"group names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def member_count(self) -> int:
        return sum(g.count for g in self.groups)


def _key(location: tuple[int | str, ...]) -> str:
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML ``text``; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check the spelling against docs/scenarios.md)"
            elif error["type"] == "missing":
                message = "required key is missing"
            problems.append(f"{source}: {_key(tuple(error['loc']))}: {message}")
        raise ScenarioError("\n".join(problems)) from None


def load_scenario(path: Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc}") from None
    return parse_scenario(text, str(path))
