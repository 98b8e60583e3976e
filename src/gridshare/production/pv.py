"""Photovoltaic output with pvlib's ModelChain (PVWatts DC and inverter models).

References: Dobos, A. P. (2014). PVWatts Version 5 Manual, NREL/TP-6A20-62641;
pvlib-python ``ModelChain.with_pvwatts``, ``pvlib.pvsystem.pvwatts_losses``,
``pvlib.temperature.sapm_cell``, ``pvlib.irradiance.get_total_irradiance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import pandas as pd
from pvlib.location import Location as PvlibLocation
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import PVSystem
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from gridshare.errors import ConfigurationError
from gridshare.model import Location
from gridshare.units import W_PER_KW

NOMINAL_INVERTER_EFFICIENCY = 0.96
"""PVWatts nominal inverter efficiency (dimensionless)."""
GAMMA_PDC_PER_C = -0.004
"""Temperature coefficient of DC power, 1/degC (PVWatts default for standard modules)."""

PVWATTS_LOSSES_PERCENT: Final = 14.0
"""PVWatts v5's default total system losses, % of DC power. It is the rounded total of
its default loss categories (soiling 2, shading 3, snow 0, mismatch 2, wiring 2,
connections 0.5, light-induced degradation 1.5, nameplate 1, age 0, availability 3 %),
which combine as ``100 * (1 - prod(1 - L_i / 100))`` = 14.08 %
(``pvlib.pvsystem.pvwatts_losses()``)."""

TemperatureModel = Literal[
    "open_rack_glass_glass",
    "close_mount_glass_glass",
    "open_rack_glass_polymer",
    "insulated_back_glass_polymer",
]
"""A SAPM cell-temperature parameter set of pvlib (``TEMPERATURE_MODEL_PARAMETERS
["sapm"]``): modules on an open rack, mounted close to a roof, or with an insulated back.
The less air flows behind the modules, the hotter the cells and the lower the output."""
TEMPERATURE_MODELS: Final[tuple[TemperatureModel, ...]] = get_args(TemperatureModel)
ROOF_MOUNT: Final[TemperatureModel] = "close_mount_glass_glass"
"""The default: glass-glass modules mounted close to a roof."""

TranspositionModel = Literal[
    "isotropic", "klucher", "haydavies", "reindl", "perez", "perez-driesse"
]
"""A sky-diffuse transposition model of ``pvlib.irradiance.get_total_irradiance``: how
diffuse horizontal irradiance becomes diffuse irradiance on the tilted plane. (pvlib's
``king`` is left out: deprecated in pvlib 0.16, to be removed in 0.17.)"""
TRANSPOSITION_MODELS: Final[tuple[TranspositionModel, ...]] = get_args(TranspositionModel)
PVWATTS_TRANSPOSITION: Final[TranspositionModel] = "perez"
"""The default: Perez et al. (1990), as in PVWatts v5 and pvlib's
``ModelChain.with_pvwatts`` (pvlib's plain ``ModelChain`` defaults to ``haydavies``)."""


@dataclass(frozen=True, slots=True)
class PvDesign:
    """What determines the shape of a PV array's output (its size only scales it).

    ``tilt_deg`` from horizontal; ``azimuth_deg`` clockwise from north; ``dc_ac_ratio``
    DC rating over inverter AC rating; ``losses_percent`` PVWatts total system losses in %
    of DC power (:data:`PVWATTS_LOSSES_PERCENT`; combine PVWatts' categories with
    ``pvlib.pvsystem.pvwatts_losses``); ``temperature_model`` the SAPM mounting;
    ``transposition_model`` the sky-diffuse model.
    """

    tilt_deg: float
    azimuth_deg: float
    dc_ac_ratio: float = 1.2
    losses_percent: float = PVWATTS_LOSSES_PERCENT
    temperature_model: TemperatureModel = ROOF_MOUNT
    transposition_model: TranspositionModel = PVWATTS_TRANSPOSITION

    def __post_init__(self) -> None:
        if not 0.0 <= self.losses_percent < 100.0:
            raise ConfigurationError(
                f"losses_percent {self.losses_percent} % is outside 0 <= l < 100"
            )
        if self.temperature_model not in TEMPERATURE_MODELS:
            raise ConfigurationError(
                f"unknown temperature_model {self.temperature_model!r}; "
                f"expected one of {', '.join(TEMPERATURE_MODELS)}"
            )
        if self.transposition_model not in TRANSPOSITION_MODELS:
            raise ConfigurationError(
                f"unknown transposition_model {self.transposition_model!r}; "
                f"expected one of {', '.join(TRANSPOSITION_MODELS)}"
            )


def pvwatts_losses_factor(losses_percent: float) -> float:
    """Share of DC power left after PVWatts system losses: ``1 - losses_percent / 100``.

    PVWatts v5 (Dobos 2014, "system losses"; pvlib ``ModelChain.pvwatts_losses``) multiplies
    DC power by this factor before the inverter. ``losses_percent`` in %, result
    dimensionless.
    """
    return (100.0 - losses_percent) / 100.0


def _total_losses_model(losses_percent: float) -> Callable[[ModelChain], ModelChain]:
    """A ModelChain losses model that applies a PVWatts *total* loss to DC power.

    pvlib's own ``losses_model="pvwatts"`` reads only the ten loss categories of
    ``pvwatts_losses`` from ``PVSystem.losses_parameters`` and falls back to their
    defaults (14.08 %) for any it does not find; it has no key for a total. This does
    what ``ModelChain.pvwatts_losses`` does with the total given.
    """

    def apply(chain: ModelChain) -> ModelChain:
        factor = pvwatts_losses_factor(losses_percent)
        chain.results.losses = factor
        chain.results.dc = chain.results.dc * factor
        return chain

    return apply


def model_chain(design: PvDesign, location: Location, kwp: float) -> ModelChain:
    """pvlib ModelChain (PVWatts) for an array of ``kwp`` DC at ``location``."""
    system = PVSystem(
        surface_tilt=design.tilt_deg,
        surface_azimuth=design.azimuth_deg,
        module_parameters={"pdc0": kwp * W_PER_KW, "gamma_pdc": GAMMA_PDC_PER_C},
        inverter_parameters={
            "pdc0": kwp * W_PER_KW / design.dc_ac_ratio / NOMINAL_INVERTER_EFFICIENCY,
            "eta_inv_nom": NOMINAL_INVERTER_EFFICIENCY,
        },
        temperature_model_parameters=TEMPERATURE_MODEL_PARAMETERS["sapm"][design.temperature_model],
    )
    site = PvlibLocation(
        latitude=location.latitude_deg,
        longitude=location.longitude_deg,
        altitude=location.altitude_m,
    )
    return ModelChain.with_pvwatts(
        system,
        site,
        losses_model=_total_losses_model(design.losses_percent),
        transposition_model=design.transposition_model,
    )


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
    return ac_w / W_PER_KW
