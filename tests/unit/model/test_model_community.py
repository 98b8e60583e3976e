"""Community: unique ids, known references, one PCC meter, catalogue arrays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from gridshare.model import (
    Battery,
    Category,
    Community,
    EnergySource,
    GridTariff,
    Location,
    Meter,
    MeterKind,
    ModelError,
    Participant,
    PvArray,
    Role,
    WindTurbine,
)
from gridshare.model.community import METER_KINDS, SOURCES

HERE = Location(52.5, 13.4)
TARIFF = GridTariff(280_000, 70_000, 100.0, 80.0)


def participant(participant_id: str, role: Role) -> Participant:
    return Participant(participant_id, participant_id.title(), role, Category.RESIDENTIAL, HERE)


PARTICIPANTS = (
    participant("op", Role.OPERATOR),
    participant("pro", Role.PROSUMER),
    participant("con", Role.CONSUMER),
    participant("wind", Role.PRODUCER),
)
ASSETS = (
    PvArray("pro-pv", "pro", kwp=8.0, tilt_deg=30, azimuth_deg=180, inverter_kw=7.0),
    Battery("pro-bat", "pro", capacity_kwh=10.0, power_kw=5.0, round_trip_efficiency=0.9),
    WindTurbine("wind-wt", "wind", "E-53/800", hub_height_m=73, rated_power_kw=800),
)
METERS = (
    Meter("pcc", "op", MeterKind.PCC),
    Meter("pro-grid", "pro", MeterKind.GRID),
    Meter("pro-pv-m", "pro", MeterKind.PRODUCTION, "pro-pv"),
    Meter("pro-bat-m", "pro", MeterKind.STORAGE, "pro-bat"),
    Meter("con-grid", "con", MeterKind.GRID),
    Meter("wind-m", "wind", MeterKind.PRODUCTION, "wind-wt"),
)


def community(**changes: object) -> Community:
    base = {
        "community_id": "demo",
        "name": "Demo",
        "time_zone": "Europe/Berlin",
        "interval_length": timedelta(minutes=15),
        "participants": PARTICIPANTS,
        "assets": ASSETS,
        "meters": METERS,
        "tariff": TARIFF,
    }
    base.update(changes)
    return Community(**base)  # type: ignore[arg-type]


def test_valid_community_finds_meters_and_assets() -> None:
    """Meters are found by id at their position, assets by id."""
    built = community()
    assert [built.meter_position(m.meter_id) for m in METERS] == list(range(len(METERS)))
    assert built.asset("pro-bat") is ASSETS[1]


def test_unknown_meter_and_asset_ids_raise() -> None:
    """Looking up an id that does not exist names it."""
    built = community()
    with pytest.raises(ModelError, match="unknown meter 'nope' in community demo"):
        built.meter_position("nope")
    with pytest.raises(ModelError, match="unknown asset 'nope'"):
        built.asset("nope")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"participants": (*PARTICIPANTS, participant("con", Role.CONSUMER))},
            "participant_id 'con'",
        ),
        ({"assets": (*ASSETS, ASSETS[0])}, "asset_id 'pro-pv'"),
        ({"meters": (*METERS, Meter("pro-grid", "con", MeterKind.GRID))}, "meter_id 'pro-grid'"),
    ],
)
def test_duplicate_ids_are_refused(changes: dict[str, object], message: str) -> None:
    """Participant, asset and meter ids are unique within a community."""
    with pytest.raises(ModelError, match=f"duplicate {message}"):
        community(**changes)


def test_asset_of_unknown_participant_is_refused() -> None:
    """An asset must belong to a member."""
    stray = replace(ASSETS[0], asset_id="stray-pv", participant_id="ghost")
    with pytest.raises(ModelError, match="asset stray-pv names unknown participant"):
        community(assets=(*ASSETS, stray))


def test_meter_of_unknown_participant_is_refused() -> None:
    """A meter must belong to a member."""
    with pytest.raises(ModelError, match="meter ghost-grid names unknown participant"):
        community(meters=(*METERS, Meter("ghost-grid", "ghost", MeterKind.GRID)))


def test_meter_on_unknown_asset_is_refused() -> None:
    """A meter can only measure an asset of the community."""
    bad = Meter("x-m", "pro", MeterKind.PRODUCTION, "missing-pv")
    with pytest.raises(ModelError, match="meter x-m names unknown asset missing-pv"):
        community(meters=(*METERS, bad))


@pytest.mark.parametrize(
    "meters", [METERS[1:], (*METERS, Meter("pcc-2", "op", MeterKind.PCC))], ids=["none", "two"]
)
def test_exactly_one_pcc_meter(meters: tuple[Meter, ...]) -> None:
    """A community has exactly one point-of-common-coupling meter."""
    with pytest.raises(ModelError, match="exactly one point-of-common-coupling"):
        community(meters=meters)


def test_meter_needs_id_and_asset_for_production_and_storage() -> None:
    """Empty meter ids and production/storage meters without an asset are refused."""
    with pytest.raises(ModelError, match="must not be empty"):
        Meter("", "pro", MeterKind.GRID)
    for kind in (MeterKind.PRODUCTION, MeterKind.STORAGE):
        with pytest.raises(ModelError, match="must name its asset"):
            Meter("m", "pro", kind)


def test_catalogue_arrays_align_with_meters() -> None:
    """Kind, source, owner and initial stored energy per meter, in meter order."""
    built = community()
    catalogue = built.catalogue
    kinds = [METER_KINDS[code] for code in catalogue.kind_code]
    assert kinds == [m.kind for m in METERS]
    sources = [SOURCES[code] if code >= 0 else None for code in catalogue.source_code]
    assert sources == [None, None, EnergySource.SOLAR, None, None, EnergySource.WIND]
    assert catalogue.participant_index.tolist() == [0, 1, 1, 1, 2, 3]
    # 10 kWh battery at the default initial state of charge of 0.5
    assert catalogue.initial_stored_wh.tolist() == [0, 0, 0, 5_000, 0, 0]
    for column in (catalogue.kind_code, catalogue.source_code, catalogue.participant_index):
        assert column.dtype == np.int64
    assert built.catalogue is catalogue


def test_catalogue_refuses_production_meter_on_a_battery() -> None:
    """A production meter must measure a generator, a storage meter a battery."""
    wrong = (*METERS[:2], Meter("pro-pv-m", "pro", MeterKind.PRODUCTION, "pro-bat"))
    with pytest.raises(ModelError, match="production meter pro-pv-m is not on a generator"):
        _ = community(meters=wrong).catalogue
    wrong = (*METERS[:2], Meter("pro-bat-m", "pro", MeterKind.STORAGE, "pro-pv"))
    with pytest.raises(ModelError, match="storage meter pro-bat-m is not on a battery"):
        _ = community(meters=wrong).catalogue


@pytest.mark.parametrize(
    "prices_and_limits",
    [(-1, 0, 1.0, 1.0), (0, -1, 1.0, 1.0), (0, 0, 0.0, 1.0), (0, 0, 1.0, -5.0)],
)
def test_tariff_refuses_negative_prices_and_non_positive_limits(
    prices_and_limits: tuple[int, int, float, float],
) -> None:
    """Grid prices are >= 0 and limits > 0 kW."""
    with pytest.raises(ModelError, match="grid"):
        GridTariff(*prices_and_limits)


@pytest.mark.parametrize(
    ("latitude", "longitude"), [(91.0, 0.0), (-90.5, 0.0), (0.0, 180.5), (float("nan"), 0.0)]
)
def test_location_must_be_on_the_globe(latitude: float, longitude: float) -> None:
    """Latitude within -90..90, longitude within -180..180, no NaN."""
    with pytest.raises(ModelError, match="outside"):
        Location(latitude, longitude)


def test_participant_needs_an_id() -> None:
    """An empty participant id is refused."""
    with pytest.raises(ModelError, match="must not be empty"):
        participant("", Role.CONSUMER)
