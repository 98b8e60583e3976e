"""Wind turbine output with windpowerlib's ModelChain and its bundled turbine library."""

from __future__ import annotations

import difflib
import warnings
from functools import lru_cache

import pandas as pd
from windpowerlib import ModelChain, WindTurbine
from windpowerlib.data import get_turbine_types

from gridshare.errors import ConfigurationError
from gridshare.units import W_PER_KW

ROUGHNESS_LENGTH_M = 0.15
"""Default surface roughness length: farmland with some hedges and buildings."""


@lru_cache(maxsize=1)
def known_turbine_types() -> frozenset[str]:
    """Turbine types with a power curve in windpowerlib's bundled library."""
    with warnings.catch_warnings():
        # windpowerlib's fillna on object columns: pandas 2.x warns of a future change
        # in downcasting that does not affect this boolean table
        warnings.filterwarnings("ignore", "Downcasting object dtype", FutureWarning)
        table = get_turbine_types(turbine_library="local", print_out=False, filter_=True)
    return frozenset(str(t) for t in table["turbine_type"])


def require_turbine_type(turbine_type: str) -> None:
    """Raise a helpful error when ``turbine_type`` is not in windpowerlib's library."""
    if turbine_type not in known_turbine_types():
        close = difflib.get_close_matches(turbine_type, sorted(known_turbine_types()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigurationError(f"unknown wind turbine type {turbine_type!r}{hint}")


def rated_power_kw(turbine_type: str, hub_height_m: float) -> float:
    """Nominal power of a library turbine in kW."""
    require_turbine_type(turbine_type)
    turbine = WindTurbine(turbine_type=turbine_type, hub_height=hub_height_m)
    return float(turbine.nominal_power) / W_PER_KW


def ac_power_kw(
    weather: pd.DataFrame,
    turbine_type: str,
    hub_height_m: float,
    roughness_length_m: float = ROUGHNESS_LENGTH_M,
) -> pd.Series:
    """Power in kW of one turbine for each row of ``weather``.

    ``weather`` has columns ``wind_speed`` (m/s at 10 m), ``temp_air`` (degC at 2 m) and
    ``pressure`` (Pa at the surface). Wind speed is taken to hub height with the
    logarithmic profile, air density from the barometric formula, and power from the
    turbine's power curve (windpowerlib defaults).
    """
    require_turbine_type(turbine_type)
    turbine = WindTurbine(turbine_type=turbine_type, hub_height=hub_height_m)
    columns = pd.MultiIndex.from_tuples(
        [("wind_speed", 10), ("temperature", 2), ("pressure", 0), ("roughness_length", 0)],
        names=["variable_name", "height"],
    )
    frame = pd.DataFrame(
        {
            columns[0]: weather["wind_speed"].to_numpy(dtype=float),
            columns[1]: weather["temp_air"].to_numpy(dtype=float) + 273.15,
            columns[2]: weather["pressure"].to_numpy(dtype=float),
            columns[3]: roughness_length_m,
        },
        index=weather.index,
    )
    chain = ModelChain(turbine).run_model(frame)
    return pd.Series(chain.power_output.to_numpy(dtype=float) / W_PER_KW, index=weather.index)
