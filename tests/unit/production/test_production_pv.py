"""PV model parameters act, and act the way pvlib says they should.

Each parameter of :class:`PvDesign` is varied on real typical-year weather (the TMY3 file
for Greensboro, NC that ships with pvlib) and the output is checked against pvlib's own
functions called here independently: ``pvwatts_losses`` and a ModelChain using pvlib's
loss categories for the losses, ``temperature.sapm_cell`` with Sandia's published SAPM
coefficients for the cell temperature, ``irradiance.get_total_irradiance`` for the
transposition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest
from pvlib import atmosphere, irradiance, solarposition, temperature
from pvlib.iotools import read_tmy3
from pvlib.location import Location as PvlibLocation
from pvlib.modelchain import PVWATTS_CONFIG, ModelChain
from pvlib.pvsystem import PVSystem, pvwatts_losses

from gridshare.errors import ConfigurationError
from gridshare.model import Location
from gridshare.production.pv import (
    GAMMA_PDC_PER_C,
    NOMINAL_INVERTER_EFFICIENCY,
    PVWATTS_LOSSES_PERCENT,
    ROOF_MOUNT,
    TEMPERATURE_MODELS,
    TRANSPOSITION_MODELS,
    PvDesign,
    TemperatureModel,
    TranspositionModel,
    ac_power_kw,
    model_chain,
    pvwatts_losses_factor,
)

KWP = 5.0
PVWATTS_CATEGORIES = (
    "soiling",
    "shading",
    "snow",
    "mismatch",
    "wiring",
    "connections",
    "lid",
    "nameplate_rating",
    "age",
    "availability",
)
NO_LOSSES = dict.fromkeys(PVWATTS_CATEGORIES, 0.0)

SAPM_PUBLISHED = {
    # King, Boyson, Kratochvil (2004), SAND2004-3535, table 1: a, b (s/m), deltaT (degC).
    "open_rack_glass_glass": (-3.47, -0.0594, 3.0),
    "close_mount_glass_glass": (-2.98, -0.0471, 1.0),
    "open_rack_glass_polymer": (-3.56, -0.0750, 3.0),
    "insulated_back_glass_polymer": (-2.81, -0.0455, 0.0),
}


@pytest.fixture(scope="module")
def tmy() -> tuple[pd.DataFrame, Location]:
    """Greensboro's TMY3, hour-ending local standard time; sun position at mid-hour."""
    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    data, meta = read_tmy3(str(path), map_variables=True)
    data.index = pd.date_range("2025-01-01 00:30", periods=8760, freq="h", tz="Etc/GMT+5")
    weather = data[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].astype(float)
    location = Location(meta["latitude"], meta["longitude"], meta["altitude"])
    return weather, location


@pytest.fixture(scope="module")
def hot_day(tmy: tuple[pd.DataFrame, Location]) -> pd.DataFrame:
    """10 July: 35.6 degC at its hottest and 7.6 kWh/m2 of sun, the year's hottest sunny day."""
    day = tmy[0].loc["2025-07-10"]
    assert day["temp_air"].max() > 35.0
    assert day["ghi"].sum() > 7000.0
    return day


@pytest.fixture(scope="module")
def week(tmy: tuple[pd.DataFrame, Location]) -> pd.DataFrame:
    """A week of spring, with sunny and cloudy days."""
    return tmy[0].loc["2025-04-07":"2025-04-13"]


def _run(weather: pd.DataFrame, design: PvDesign, location: Location) -> ModelChain:
    chain = model_chain(design, location, KWP)
    chain.run_model(weather)
    return chain


def _pvlib_chain_ac_w(
    weather: pd.DataFrame, location: Location, losses_parameters: dict[str, float]
) -> pd.Series:
    """PVWatts through pvlib's ModelChain with pvlib's own losses model, built here."""
    system = PVSystem(
        surface_tilt=30.0,
        surface_azimuth=180.0,
        module_parameters={"pdc0": KWP * 1000.0, "gamma_pdc": -0.004},
        inverter_parameters={"pdc0": KWP * 1000.0 / 1.2 / 0.96, "eta_inv_nom": 0.96},
        temperature_model_parameters=dict(
            zip(("a", "b", "deltaT"), SAPM_PUBLISHED["close_mount_glass_glass"], strict=True)
        ),
        losses_parameters=losses_parameters,
    )
    # pvlib reads every category we give: the losses model really sees this total.
    assert system.pvwatts_losses() == pytest.approx(pvwatts_losses(**losses_parameters))
    site = PvlibLocation(
        latitude=location.latitude_deg,
        longitude=location.longitude_deg,
        altitude=location.altitude_m,
    )
    chain = ModelChain.with_pvwatts(system, site, losses_model="pvwatts")
    chain.run_model(weather)
    ac: pd.Series = chain.results.ac
    return ac


# -- losses ---------------------------------------------------------------------------


def test_defaults_are_pvwatts_v5() -> None:
    """14 % losses (PVWatts' categories total 14.08 %), roof mount, Perez transposition."""
    design = PvDesign(30.0, 180.0)
    assert design.losses_percent == PVWATTS_LOSSES_PERCENT == 14.0
    assert round(float(pvwatts_losses()), 0) == PVWATTS_LOSSES_PERCENT
    assert design.temperature_model == ROOF_MOUNT == "close_mount_glass_glass"
    assert design.transposition_model == PVWATTS_CONFIG["transposition_model"] == "perez"
    assert GAMMA_PDC_PER_C == -0.004
    assert NOMINAL_INVERTER_EFFICIENCY == 0.96


@pytest.mark.parametrize("losses_percent", [0.0, 14.0, 30.0, 60.0])
def test_dc_power_scales_by_the_pvwatts_losses_factor(
    week: pd.DataFrame, tmy: tuple[pd.DataFrame, Location], losses_percent: float
) -> None:
    """DC power with losses = lossless DC power x (1 - L/100), the factor pvlib applies."""
    location = tmy[1]
    lossless = _run(week, PvDesign(30.0, 180.0, losses_percent=0.0), location)
    lossy = _run(week, PvDesign(30.0, 180.0, losses_percent=losses_percent), location)
    # pvlib's own factor: ModelChain.pvwatts_losses multiplies DC by (100 - total) / 100,
    # the total from pvwatts_losses; one category carrying all of it gives that total.
    total = float(pvwatts_losses(**(NO_LOSSES | {"availability": losses_percent})))
    assert total == pytest.approx(losses_percent, abs=1e-12)
    expected_factor = (100.0 - total) / 100.0
    assert pvwatts_losses_factor(losses_percent) == pytest.approx(expected_factor, abs=1e-15)
    dc_lossless = lossless.results.dc.to_numpy()
    dc_lossy = lossy.results.dc.to_numpy()
    assert dc_lossless.sum() > 100_000.0  # a 5 kWp array over a week: > 100 kWh DC
    np.testing.assert_allclose(dc_lossy, dc_lossless * expected_factor, rtol=1e-12, atol=1e-9)
    assert lossy.results.losses == pytest.approx(expected_factor)


@pytest.mark.parametrize(
    "categories",
    [
        pytest.param(NO_LOSSES, id="none"),
        pytest.param({}, id="pvwatts-defaults-14.08"),
        pytest.param(NO_LOSSES | {"soiling": 5.0, "shading": 4.0, "wiring": 2.0}, id="mixed"),
        pytest.param(NO_LOSSES | {"availability": 30.0}, id="30"),
    ],
)
def test_ac_matches_pvlib_modelchain_with_its_own_losses_model(
    week: pd.DataFrame, tmy: tuple[pd.DataFrame, Location], categories: dict[str, float]
) -> None:
    """The total of pvlib's loss categories, given as ``losses_percent``, gives the same AC
    power as pvlib's ModelChain running its ``pvwatts`` losses model on those categories."""
    location = tmy[1]
    total = float(pvwatts_losses(**categories))
    ours_kw = ac_power_kw(week, PvDesign(30.0, 180.0, losses_percent=total), location, KWP)
    reference_kw = _pvlib_chain_ac_w(week, location, categories).fillna(0.0).clip(lower=0.0)
    np.testing.assert_allclose(ours_kw.to_numpy(), reference_kw.to_numpy() / 1000.0, rtol=1e-9)


def test_more_losses_never_give_more_energy(
    week: pd.DataFrame, tmy: tuple[pd.DataFrame, Location]
) -> None:
    """AC energy falls strictly as losses grow, and 0 % vs 14 % vs 30 % differ."""
    energies_kwh = [
        float(ac_power_kw(week, PvDesign(30.0, 180.0, losses_percent=pct), tmy[1], KWP).sum())
        for pct in (0.0, 5.0, 14.0, 30.0, 60.0, 99.0)
    ]
    assert all(a > b for a, b in zip(energies_kwh, energies_kwh[1:], strict=False))
    # The inverter's efficiency curve and clipping keep AC from scaling exactly, but near it.
    assert energies_kwh[2] / energies_kwh[0] == pytest.approx(0.86, abs=0.01)
    assert energies_kwh[3] / energies_kwh[0] == pytest.approx(0.70, abs=0.01)


@pytest.mark.parametrize("losses_percent", [-1.0, 100.0, float("nan")])
def test_impossible_losses_are_refused(losses_percent: float) -> None:
    with pytest.raises(ConfigurationError, match="losses_percent"):
        PvDesign(30.0, 180.0, losses_percent=losses_percent)


# -- cell temperature -----------------------------------------------------------------


def _independent_poa_w_m2(
    weather: pd.DataFrame, location: Location, tilt_deg: float, model: str
) -> pd.DataFrame:
    """Plane-of-array irradiance recomputed from pvlib's functions (no ModelChain)."""
    sun = solarposition.get_solarposition(
        weather.index,
        location.latitude_deg,
        location.longitude_deg,
        altitude=location.altitude_m,
        temperature=weather["temp_air"],
        method="nrel_numpy",
    )
    airmass = atmosphere.get_relative_airmass(sun["apparent_zenith"], model="kastenyoung1989")
    poa: pd.DataFrame = irradiance.get_total_irradiance(
        tilt_deg,
        180.0,
        sun["apparent_zenith"],
        sun["azimuth"],
        weather["dni"],
        weather["ghi"],
        weather["dhi"],
        dni_extra=irradiance.get_extra_radiation(weather.index),
        airmass=airmass,
        albedo=0.25,
        model=model,
    )
    return poa


@pytest.mark.parametrize("model", TEMPERATURE_MODELS)
def test_cell_temperature_is_sapm_with_the_published_coefficients(
    hot_day: pd.DataFrame, tmy: tuple[pd.DataFrame, Location], model: TemperatureModel
) -> None:
    """The chain's cell temperature = ``sapm_cell`` with King et al.'s coefficients for the
    chosen mounting, on plane-of-array irradiance recomputed independently."""
    location = tmy[1]
    chain = _run(hot_day, PvDesign(30.0, 180.0, temperature_model=model), location)
    poa = _independent_poa_w_m2(hot_day, location, 30.0, "perez")["poa_global"]
    a, b, delta_t = SAPM_PUBLISHED[model]
    expected_c = temperature.sapm_cell(
        poa, hot_day["temp_air"], hot_day["wind_speed"], a, b, delta_t
    )
    np.testing.assert_allclose(chain.results.cell_temperature, expected_c, rtol=1e-9)


def test_cooler_mounting_yields_more_on_a_hot_day(
    hot_day: pd.DataFrame, tmy: tuple[pd.DataFrame, Location]
) -> None:
    """Open rack > close roof mount > insulated back: cooler cells, and with a negative
    temperature coefficient each hour's DC ratio is exactly (1 + g (Tc1 - 25)) /
    (1 + g (Tc2 - 25))."""
    location = tmy[1]
    mountings: tuple[TemperatureModel, ...] = (
        "open_rack_glass_glass",
        "close_mount_glass_glass",
        "insulated_back_glass_polymer",
    )
    chains = [
        _run(hot_day, PvDesign(30.0, 180.0, temperature_model=m), location) for m in mountings
    ]
    sunny = chains[0].results.total_irrad["poa_global"] > 500.0
    assert sunny.sum() >= 6
    for cooler, hotter in zip(chains, chains[1:], strict=False):
        cooler_c = cooler.results.cell_temperature[sunny]
        hotter_c = hotter.results.cell_temperature[sunny]
        assert (cooler_c < hotter_c - 1.0).all()
        assert float(cooler.results.ac.clip(lower=0).sum()) > float(
            hotter.results.ac.clip(lower=0).sum()
        )
        lit = cooler.results.dc > 0
        expected_ratio = (1 + GAMMA_PDC_PER_C * (cooler.results.cell_temperature - 25.0)) / (
            1 + GAMMA_PDC_PER_C * (hotter.results.cell_temperature - 25.0)
        )
        np.testing.assert_allclose(
            (cooler.results.dc / hotter.results.dc)[lit], expected_ratio[lit], rtol=1e-9
        )
    hottest_c = float(chains[2].results.cell_temperature.max())
    assert hottest_c > 60.0  # an insulated back on a 35 degC sunny day runs hot


# -- transposition --------------------------------------------------------------------


@pytest.mark.parametrize("model", TRANSPOSITION_MODELS)
def test_plane_of_array_irradiance_is_pvlibs_for_each_model(
    hot_day: pd.DataFrame, tmy: tuple[pd.DataFrame, Location], model: TranspositionModel
) -> None:
    """The chain's plane-of-array irradiance = ``get_total_irradiance`` for that model."""
    location = tmy[1]
    chain = _run(hot_day, PvDesign(40.0, 180.0, transposition_model=model), location)
    expected = _independent_poa_w_m2(hot_day, location, 40.0, model)
    for column in ("poa_global", "poa_direct", "poa_diffuse"):
        np.testing.assert_allclose(
            chain.results.total_irrad[column].fillna(0.0),
            expected[column].fillna(0.0),
            rtol=1e-9,
            atol=1e-9,
        )


def test_transposition_models_differ_for_a_tilted_array(
    week: pd.DataFrame, tmy: tuple[pd.DataFrame, Location]
) -> None:
    """On a 40 deg tilt the models give different diffuse irradiance and so different
    yields; isotropic (no circumsolar brightening) gives the least."""
    location = tmy[1]
    diffuse_kwh_m2: dict[str, float] = {}
    ac_kwh: dict[str, float] = {}
    for model in TRANSPOSITION_MODELS:
        chain = _run(week, PvDesign(40.0, 180.0, transposition_model=model), location)
        diffuse_kwh_m2[model] = float(chain.results.total_irrad["poa_diffuse"].sum()) / 1000.0
        ac_kwh[model] = float(chain.results.ac.clip(lower=0).sum()) / 1000.0
    values = sorted(diffuse_kwh_m2.values())
    assert all(b - a > 1e-3 for a, b in zip(values, values[1:], strict=False)), diffuse_kwh_m2
    assert min(diffuse_kwh_m2, key=diffuse_kwh_m2.__getitem__) == "isotropic"
    assert min(ac_kwh, key=ac_kwh.__getitem__) == "isotropic"
    for model in ("klucher", "haydavies", "reindl", "perez", "perez-driesse"):
        assert diffuse_kwh_m2[model] / diffuse_kwh_m2["isotropic"] > 1.02, model
    assert ac_kwh["perez"] / ac_kwh["haydavies"] > 1.01


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature_model", "rooftop"), ("transposition_model", "Perez")],
)
def test_unknown_model_names_are_refused(field: str, value: str) -> None:
    kwargs: dict[str, object] = {field: value}
    with pytest.raises(ConfigurationError, match=f"unknown {field} '{value}'; expected one of"):
        PvDesign(30.0, 180.0, **kwargs)  # type: ignore[arg-type]
