"""Asset validation: positive ratings, fractions within 0..1, consistent kinds."""

from __future__ import annotations

from typing import Any

import pytest

from gridshare.model import (
    AssetKind,
    Battery,
    DispatchableGenerator,
    DispatchMode,
    ElectricVehicle,
    EnergySource,
    FlexibleLoad,
    ModelError,
    PvArray,
    WindTurbine,
)

PV = {"kwp": 8.0, "tilt_deg": 30.0, "azimuth_deg": 180.0, "inverter_kw": 7.0}
BATTERY = {"capacity_kwh": 10.0, "power_kw": 5.0, "round_trip_efficiency": 0.9}
HYDRO = {
    "kind": AssetKind.HYDRO,
    "rated_power_kw": 30.0,
    "availability_fraction": 0.7,
    "dispatch_mode": DispatchMode.BASELOAD,
}


def test_valid_assets_expose_ratings_and_sources() -> None:
    """Rated power and energy source follow from each asset's parameters."""
    pv = PvArray("pv", "p", **PV)
    assert pv.rated_power_kw == 7.0
    assert pv.source is EnergySource.SOLAR
    assert WindTurbine("wt", "p", "E-53/800", 73.0, 800.0).source is EnergySource.WIND
    hydro = DispatchableGenerator("h", "p", **HYDRO)
    assert hydro.available_kw == pytest.approx(21.0)
    assert hydro.source is EnergySource.HYDRO
    biomass = DispatchableGenerator("b", "p", **{**HYDRO, "kind": AssetKind.BIOMASS})
    assert biomass.source is EnergySource.BIOMASS
    assert Battery("bat", "p", **BATTERY).rated_power_kw == 5.0
    assert ElectricVehicle("ev", "p", 60.0, 11.0).rated_power_kw == 11.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kwp": 0.0}, "kwp must be > 0"),
        ({"kwp": -8.0}, "kwp must be > 0"),
        ({"kwp": float("nan")}, "kwp must be > 0"),
        ({"inverter_kw": -1.0}, "inverter_kw must be > 0"),
        ({"tilt_deg": 91.0}, "tilt_deg"),
        ({"tilt_deg": -1.0}, "tilt_deg"),
        ({"azimuth_deg": 360.0}, "azimuth_deg"),
    ],
)
def test_pv_array_validation(changes: dict[str, Any], message: str) -> None:
    """PV ratings are positive, tilt within 0..90 and azimuth within 0..360."""
    with pytest.raises(ModelError, match=f"asset pv: {message}"):
        PvArray("pv", "p", **{**PV, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity_kwh": -10.0}, "capacity_kwh must be > 0"),
        ({"power_kw": 0.0}, "power_kw must be > 0"),
        ({"round_trip_efficiency": 0.0}, "round_trip_efficiency"),
        ({"round_trip_efficiency": 1.01}, "round_trip_efficiency"),
        ({"min_soc_fraction": 1.5}, "min_soc_fraction must be within 0..1"),
        ({"initial_soc_fraction": -0.1}, "initial_soc_fraction must be within 0..1"),
        ({"min_soc_fraction": 0.6, "initial_soc_fraction": 0.5}, "initial_soc_fraction is below"),
    ],
)
def test_battery_validation(changes: dict[str, Any], message: str) -> None:
    """Battery capacity and power are positive; efficiency and states of charge are fractions."""
    with pytest.raises(ModelError, match=f"asset bat: {message}"):
        Battery("bat", "p", **{**BATTERY, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": AssetKind.PV}, "dispatchable kind must be hydro or biomass"),
        ({"rated_power_kw": -30.0}, "rated_power_kw must be > 0"),
        ({"availability_fraction": 1.2}, "availability_fraction must be within 0..1"),
    ],
)
def test_dispatchable_generator_validation(changes: dict[str, Any], message: str) -> None:
    """Dispatchable units are hydro or biomass with positive power and a fraction available."""
    with pytest.raises(ModelError, match=f"asset h: {message}"):
        DispatchableGenerator("h", "p", **{**HYDRO, **changes})


def test_other_assets_need_positive_ratings() -> None:
    """Wind, flexible loads and EVs refuse non-positive ratings."""
    with pytest.raises(ModelError, match="hub_height_m must be > 0"):
        WindTurbine("wt", "p", "E-53/800", 0.0, 800.0)
    with pytest.raises(ModelError, match="rated_power_kw must be > 0"):
        WindTurbine("wt", "p", "E-53/800", 73.0, -800.0)
    with pytest.raises(ModelError, match="rated_power_kw must be > 0"):
        FlexibleLoad("hp", "p", 0.0)
    with pytest.raises(ModelError, match="battery_kwh must be > 0"):
        ElectricVehicle("ev", "p", -60.0, 11.0)
    with pytest.raises(ModelError, match="charger_kw must be > 0"):
        ElectricVehicle("ev", "p", 60.0, 0.0)
