"""Expand a scenario's member groups into a community and the simulator's per-member plan.

Per-member variation is drawn from ``numpy.random.default_rng([seed, group_number])``:
the same scenario and seed always give the same members, and editing one group does not
change the members of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from gridshare.model import (
    Asset,
    AssetKind,
    Battery,
    Category,
    Community,
    DispatchableGenerator,
    DispatchMode,
    FlexibleLoad,
    GridTariff,
    Location,
    Meter,
    MeterKind,
    Participant,
    PvArray,
    Role,
    TouWindow,
    WindTurbine,
)
from gridshare.production.pv import PvDesign
from gridshare.production.wind import rated_power_kw as wind_rated_power_kw
from gridshare.simulator.scenario import Scenario
from gridshare.units import SECONDS_PER_MINUTE, FloatArray, currency_to_micros

QUARTER_HOUR_S = 900


@dataclass(frozen=True)
class MemberLoad:
    participant_index: int
    profile: str
    annual_kwh: float
    shift_s: int


@dataclass(frozen=True)
class SimulationPlan:
    """What the simulated meter source needs, besides the community itself."""

    loads: tuple[MemberLoad, ...]
    pv: tuple[tuple[PvArray, PvDesign], ...]
    wind: tuple[WindTurbine, ...]
    dispatchable: tuple[DispatchableGenerator, ...]
    batteries: tuple[Battery, ...]
    location: Location
    roughness_length_m: float


def _members(count: int, rng: np.random.Generator, variation: float) -> FloatArray:
    factors: FloatArray = 1.0 + variation * rng.uniform(-1.0, 1.0, size=count)
    return factors


def build_community(scenario: Scenario, location: Location) -> tuple[Community, SimulationPlan]:
    """The community and simulation plan a scenario describes."""
    spec = scenario.community
    participants: list[Participant] = []
    assets: list[Asset] = []
    meters: list[Meter] = []
    loads: list[MemberLoad] = []
    pv: list[tuple[PvArray, PvDesign]] = []

    operator_id = f"{spec.id}:operator"
    participants.append(
        Participant(
            operator_id, f"{spec.name} operator", Role.OPERATOR, Category.COMMERCIAL, location
        )
    )
    meters.append(Meter(f"{spec.id}:pcc", operator_id, MeterKind.PCC))

    for number, group in enumerate(scenario.groups):
        rng = np.random.default_rng([spec.seed, number])
        load_factor = _members(group.count, rng, group.load.variation if group.load else 0.0)
        pv_factor = _members(group.count, rng, group.pv.variation if group.pv else 0.0)
        max_shift = (
            (group.load.time_shift_minutes * SECONDS_PER_MINUTE // QUARTER_HOUR_S)
            if group.load
            else 0
        )
        shifts = rng.integers(-max_shift, max_shift + 1, size=group.count) * QUARTER_HOUR_S
        width = max(3, len(str(group.count)))
        for i in range(group.count):
            pid = f"{spec.id}:{group.name}-{i + 1:0{width}d}"
            participants.append(
                Participant(pid, f"{group.name} {i + 1}", group.role, group.category, location)
            )
            meters.append(Meter(f"{pid}/grid", pid, MeterKind.GRID))
            index = len(participants) - 1
            if group.load is not None:
                loads.append(
                    MemberLoad(
                        index,
                        group.load.profile,
                        group.load.annual_kwh * float(load_factor[i]),
                        int(shifts[i]),
                    )
                )
            member_assets: list[Asset] = []
            if group.pv is not None:
                kwp = round(group.pv.kwp * float(pv_factor[i]), 3)
                design = PvDesign(
                    tilt_deg=group.pv.tilt_deg,
                    azimuth_deg=group.pv.azimuth_deg,
                    dc_ac_ratio=group.pv.dc_ac_ratio,
                    losses_percent=group.pv.losses_percent,
                    temperature_model=group.pv.temperature_model,
                    transposition_model=group.pv.transposition_model,
                )
                array = PvArray(
                    f"{pid}/pv",
                    pid,
                    kwp=kwp,
                    tilt_deg=design.tilt_deg,
                    azimuth_deg=design.azimuth_deg,
                    inverter_kw=round(kwp / design.dc_ac_ratio, 3),
                )
                pv.append((array, design))
                member_assets.append(array)
            if group.wind is not None:
                member_assets.append(
                    WindTurbine(
                        f"{pid}/wind",
                        pid,
                        group.wind.turbine_type,
                        group.wind.hub_height_m,
                        wind_rated_power_kw(group.wind.turbine_type, group.wind.hub_height_m),
                    )
                )
            for kind, dispatchable in (
                (AssetKind.HYDRO, group.hydro),
                (AssetKind.BIOMASS, group.biomass),
            ):
                if dispatchable is not None:
                    member_assets.append(
                        DispatchableGenerator(
                            f"{pid}/{kind.value}",
                            pid,
                            kind,
                            dispatchable.capacity_kw,
                            dispatchable.availability,
                            DispatchMode(dispatchable.dispatch),
                        )
                    )
            if group.flexible_load is not None:
                member_assets.append(
                    FlexibleLoad(f"{pid}/flexible-load", pid, group.flexible_load.power_kw)
                )
            if group.battery is not None:
                b = group.battery
                member_assets.append(
                    Battery(
                        f"{pid}/battery",
                        pid,
                        b.capacity_kwh,
                        b.power_kw,
                        b.round_trip_efficiency,
                        b.min_soc,
                        b.initial_soc,
                    )
                )
            for asset in member_assets:
                if isinstance(asset, FlexibleLoad):
                    continue  # metered by its member's connection meter
                meter_kind = (
                    MeterKind.STORAGE if isinstance(asset, Battery) else MeterKind.PRODUCTION
                )
                meters.append(Meter(f"{asset.asset_id}/meter", pid, meter_kind, asset.asset_id))
            assets.extend(member_assets)

    grid = scenario.grid
    community = Community(
        community_id=spec.id,
        name=spec.name,
        time_zone=spec.time_zone,
        interval_length=timedelta(minutes=scenario.simulation.interval_minutes),
        participants=tuple(participants),
        assets=tuple(assets),
        meters=tuple(meters),
        tariff=GridTariff(
            import_price_micros_per_kwh=currency_to_micros(grid.import_price_per_kwh),
            export_price_micros_per_kwh=currency_to_micros(grid.export_price_per_kwh),
            import_limit_kw=grid.import_limit_kw,
            export_limit_kw=grid.export_limit_kw,
            time_zone=spec.time_zone,
            windows=tuple(
                TouWindow(w.start, w.end, currency_to_micros(w.import_price_per_kwh))
                for w in grid.time_of_use
            ),
            demand_charge_micros_per_kw=currency_to_micros(grid.demand_charge_per_kw),
        ),
    )
    plan = SimulationPlan(
        loads=tuple(loads),
        pv=tuple(pv),
        wind=tuple(a for a in assets if isinstance(a, WindTurbine)),
        dispatchable=tuple(a for a in assets if isinstance(a, DispatchableGenerator)),
        batteries=tuple(a for a in assets if isinstance(a, Battery)),
        location=location,
        roughness_length_m=scenario.weather.roughness_length_m,
    )
    return community, plan
