"""Scenario files (TOML): a community, its weather, its grid tariff and its members.

Every key is checked; an unknown key, a wrong type or an impossible value stops with one
message naming the file, the key and what is expected. See docs/scenarios.md.
"""

from __future__ import annotations

import tomllib
from datetime import date
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


class GridSpec(_Strict):
    import_price_per_kwh: Price
    export_price_per_kwh: Price
    import_limit_kw: Positive
    export_limit_kw: Positive


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
    losses_percent: Annotated[Number, Field(ge=0.0, lt=100.0)] = 14.0


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


class Scenario(_Strict):
    community: CommunitySpec
    simulation: SimulationSpec
    weather: WeatherSpec
    grid: GridSpec
    groups: Annotated[list[GroupSpec], Field(min_length=1)]
    market: MarketSpec = Field(default_factory=MarketSpec)

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
