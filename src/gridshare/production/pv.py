"""Photovoltaic output with pvlib's ModelChain (PVWatts DC and inverter models).

References: Dobos, A. P. (2014). PVWatts Version 5 Manual, NREL/TP-6A20-62641;
pvlib-python ``ModelChain.with_pvwatts``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pvlib.location import Location as PvlibLocation
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import PVSystem
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from gridshare.model import Location

NOMINAL_INVERTER_EFFICIENCY = 0.96
"""PVWatts nominal inverter efficiency (dimensionless)."""
GAMMA_PDC_PER_C = -0.004
"""Temperature coefficient of DC power, 1/degC (PVWatts default for standard modules)."""
ROOF_MOUNT = "close_mount_glass_glass"
"""SAPM cell-temperature parameters: modules mounted close to a roof."""


@dataclass(frozen=True, slots=True)
class PvDesign:
    """What determines the shape of a PV array's output (its size only scales it)."""

    tilt_deg: float
    azimuth_deg: float
    dc_ac_ratio: float = 1.2
    losses_percent: float = 14.0


def model_chain(design: PvDesign, location: Location, kwp: float) -> ModelChain:
    """pvlib ModelChain (PVWatts) for an array of ``kwp`` DC at ``location``."""
    system = PVSystem(
        surface_tilt=design.tilt_deg,
        surface_azimuth=design.azimuth_deg,
        module_parameters={"pdc0": kwp * 1000.0, "gamma_pdc": GAMMA_PDC_PER_C},
        inverter_parameters={
            "pdc0": kwp * 1000.0 / design.dc_ac_ratio / NOMINAL_INVERTER_EFFICIENCY,
            "eta_inv_nom": NOMINAL_INVERTER_EFFICIENCY,
        },
        temperature_model_parameters=TEMPERATURE_MODEL_PARAMETERS["sapm"][ROOF_MOUNT],
        losses_parameters={"system_loss_percent": design.losses_percent},
    )
    site = PvlibLocation(
        latitude=location.latitude_deg,
        longitude=location.longitude_deg,
        altitude=location.altitude_m,
    )
    return ModelChain.with_pvwatts(system, site, losses_model="pvwatts")


def ac_power_kw(
    weather: pd.DataFrame, design: PvDesign, location: Location, kwp: float
) -> pd.Series:
    """AC power in kW (>= 0) of an array of ``kwp`` for each row of ``weather``.

    ``weather`` has pvlib's columns ``ghi, dni, dhi, temp_air, wind_speed`` (W/m2, degC,
    m/s) and a timezone-aware index of the instants at which the sun's position is taken
    (the middle of each averaging period).
    """
    chain = model_chain(design, location, kwp)
    chain.run_model(weather)
    ac_w = pd.Series(chain.results.ac, index=weather.index).fillna(0.0).clip(lower=0.0)
    return ac_w / 1000.0
