"""Community energy accounting of one interval: consumption, production, storage, residual."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.accounting import account_interval
from gridshare.model import (
    NOT_REPORTED,
    Battery,
    Category,
    Community,
    EnergySource,
    GridTariff,
    Location,
    Meter,
    MeterKind,
    Participant,
    PvArray,
    QualityFlag,
    ReadingBatch,
    Role,
    WindTurbine,
)
from gridshare.model.community import SOURCES
from gridshare.units import Interval

INTERVAL = Interval(datetime(2025, 6, 2, 12, 0, tzinfo=UTC), timedelta(minutes=15))
HERE = Location(35.1, -79.8)
TARIFF = GridTariff(280_000, 70_000, 800.0, 600.0)


def member(participant_id: str, role: Role) -> Participant:
    return Participant(participant_id, participant_id, role, Category.RESIDENTIAL, HERE)


def pv(asset_id: str, owner: str) -> PvArray:
    return PvArray(asset_id, owner, kwp=8.0, tilt_deg=30, azimuth_deg=180, inverter_kw=7.0)


def battery(asset_id: str, owner: str) -> Battery:
    return Battery(asset_id, owner, capacity_kwh=10.0, power_kw=5.0, round_trip_efficiency=0.9)


def make_community(
    participants: list[Participant], assets: list[object], meters: list[Meter]
) -> Community:
    return Community(
        "test",
        "Test",
        "UTC",
        INTERVAL.length,
        tuple(participants),
        tuple(assets),  # type: ignore[arg-type]
        tuple(meters),
        TARIFF,
    )


SMALL = make_community(
    [member("op", Role.OPERATOR), member("pro", Role.PROSUMER), member("con", Role.CONSUMER)],
    [pv("pro-pv", "pro"), battery("pro-bat", "pro")],
    [
        Meter("pcc", "op", MeterKind.PCC),
        Meter("pro-grid", "pro", MeterKind.GRID),
        Meter("pro-pv-m", "pro", MeterKind.PRODUCTION, "pro-pv"),
        Meter("pro-bat-m", "pro", MeterKind.STORAGE, "pro-bat"),
        Meter("con-grid", "con", MeterKind.GRID),
    ],
)
SOLAR = SOURCES.index(EnergySource.SOLAR)

# One consistent quarter hour: PV makes 3000 Wh; the prosumer uses 1000 Wh, charges its
# battery with 1000 Wh (900 Wh stored, 100 Wh lost) and exports 1000 Wh; the consumer
# imports 1500 Wh, of which 500 Wh come through the PCC from the main grid.
CONSISTENT = {
    "pcc": (500, 0, NOT_REPORTED),
    "pro-grid": (0, 1_000, NOT_REPORTED),
    "pro-pv-m": (0, 3_000, NOT_REPORTED),
    "pro-bat-m": (1_000, 0, 5_900),
    "con-grid": (1_500, 0, NOT_REPORTED),
}


def make_batch(community: Community, readings: dict[str, tuple[int, int, int]]) -> ReadingBatch:
    rows = [(community.meter_position(m), *values) for m, values in readings.items()]
    columns = np.array(rows, dtype=np.int64).reshape(-1, 4).T
    return ReadingBatch(INTERVAL, *columns)


def account_small(
    readings: dict[str, tuple[int, int, int]], quality: QualityFlag = QualityFlag.OK
) -> tuple:
    catalogue = SMALL.catalogue
    return account_interval(
        make_batch(SMALL, readings),
        catalogue,
        len(SMALL.participants),
        catalogue.initial_stored_wh,
        quality,
    )


def test_consistent_interval_balances() -> None:
    """Consumption, production, storage and the PCC all follow from the meters; residual 0."""
    balance, flows, stored_after = account_small(CONSISTENT)
    # consumption = grid_import - grid_export + production + discharge - charge
    assert flows.consumption_wh.tolist() == [0, 0 - 1_000 + 3_000 + 0 - 1_000, 1_500]
    assert flows.grid_import_wh.tolist() == [0, 0, 1_500]
    assert flows.grid_export_wh.tolist() == [0, 1_000, 0]
    assert flows.production_wh.tolist() == [0, 3_000, 0]
    assert flows.charge_wh.tolist() == [0, 1_000, 0]
    assert flows.discharge_wh.tolist() == [0, 0, 0]
    assert balance.consumption_wh == 2_500
    expected_by_source = [0] * len(SOURCES)
    expected_by_source[SOLAR] = 3_000
    assert list(balance.production_wh_by_source) == expected_by_source
    assert balance.production_wh == 3_000
    assert (balance.member_import_wh, balance.member_export_wh) == (1_500, 1_000)
    assert (balance.pcc_import_wh, balance.pcc_export_wh) == (500, 0)
    assert (balance.charge_wh, balance.discharge_wh) == (1_000, 0)
    assert balance.stored_wh == 5_900  # the battery started at 50 % of 10 kWh
    assert balance.storage_change_wh == 900
    assert balance.storage_losses_wh == 100
    assert balance.residual_wh == 0
    assert balance.quality is QualityFlag.OK
    assert stored_after.tolist() == [0, 0, 0, 5_900, 0]
    assert (
        balance.production_wh + balance.pcc_import_wh
        == balance.consumption_wh
        + balance.pcc_export_wh
        + balance.storage_losses_wh
        + balance.storage_change_wh
    )


def test_missing_member_grid_reading_leaves_a_residual() -> None:
    """Without the consumer's grid meter the PCC disagrees with the members."""
    readings = {k: v for k, v in CONSISTENT.items() if k != "con-grid"}
    balance, flows, _ = account_small(readings)
    assert balance.residual_wh == 500 - (0 - 1_000)
    assert balance.residual_wh != 0
    assert flows.consumption_wh.tolist() == [0, 1_000, 0]
    assert balance.quality is QualityFlag.OK


def test_negative_derived_consumption_is_inconsistent() -> None:
    """Without the PV meter the prosumer exports and charges more than it has: flagged."""
    readings = {k: v for k, v in CONSISTENT.items() if k != "pro-pv-m"}
    balance, flows, _ = account_small(readings, QualityFlag.CONFLICT)
    assert flows.consumption_wh[1] == -1_000 - 1_000
    assert QualityFlag.INCONSISTENT in balance.quality
    assert QualityFlag.CONFLICT in balance.quality
    assert balance.production_wh == 0


def test_missing_pcc_reading_is_flagged_missing() -> None:
    """No PCC reading: the PCC flows are zero and the interval is flagged MISSING."""
    readings = {k: v for k, v in CONSISTENT.items() if k != "pcc"}
    balance, _, _ = account_small(readings)
    assert QualityFlag.MISSING in balance.quality
    assert (balance.pcc_import_wh, balance.pcc_export_wh) == (0, 0)
    assert balance.residual_wh == -500


def test_unreported_stored_energy_keeps_the_previous_value() -> None:
    """A storage meter reporting NOT_REPORTED keeps its stored energy; losses absorb the flow."""
    readings = {**CONSISTENT, "pro-bat-m": (1_000, 0, NOT_REPORTED)}
    balance, _, stored_after = account_small(readings)
    assert stored_after[SMALL.meter_position("pro-bat-m")] == 5_000
    assert balance.storage_change_wh == 0
    assert balance.storage_losses_wh == 1_000


def test_empty_batch_is_all_zero_and_missing() -> None:
    """An interval without readings has no flows and is flagged MISSING."""
    catalogue = SMALL.catalogue
    balance, flows, stored_after = account_interval(
        ReadingBatch.empty(INTERVAL), catalogue, 3, catalogue.initial_stored_wh
    )
    assert balance.consumption_wh == balance.production_wh == balance.residual_wh == 0
    assert flows.consumption_wh.tolist() == [0, 0, 0]
    assert stored_after.tolist() == catalogue.initial_stored_wh.tolist()
    assert balance.quality is QualityFlag.MISSING


@dataclass(frozen=True)
class Flows:
    community: Community
    readings: dict[str, tuple[int, int, int]]
    stored_before_wh: np.ndarray
    load_wh: list[int]
    by_source_wh: list[int]
    losses_wh: int


energy = st.integers(min_value=0, max_value=10**7)


@st.composite
def consistent_flows(draw: st.DrawFn) -> Flows:
    """A random community and one physically consistent interval of its meters."""
    participants = [member("op", Role.OPERATOR)]
    assets: list[object] = []
    meters = [Meter("pcc", "op", MeterKind.PCC)]
    readings: dict[str, tuple[int, int, int]] = {}
    stored_before: dict[str, int] = {}
    loads = [0]
    by_source = [0] * len(SOURCES)
    losses = 0
    community_net = 0
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        pid = f"m{i}"
        participants.append(member(pid, Role.PROSUMER))
        meters.append(Meter(f"{pid}-grid", pid, MeterKind.GRID))
        load, produced, charge, discharge = draw(energy), 0, 0, 0
        if draw(st.booleans()):
            assets.append(pv(f"{pid}-pv", pid))
            meters.append(Meter(f"{pid}-pv-m", pid, MeterKind.PRODUCTION, f"{pid}-pv"))
            output = draw(energy)
            readings[f"{pid}-pv-m"] = (0, output, NOT_REPORTED)
            by_source[SOURCES.index(EnergySource.SOLAR)] += output
            produced += output
        if draw(st.booleans()):
            assets.append(WindTurbine(f"{pid}-wt", pid, "E-53/800", 73.0, 800.0))
            meters.append(Meter(f"{pid}-wt-m", pid, MeterKind.PRODUCTION, f"{pid}-wt"))
            output = draw(energy)
            readings[f"{pid}-wt-m"] = (0, output, NOT_REPORTED)
            by_source[SOURCES.index(EnergySource.WIND)] += output
            produced += output
        if draw(st.booleans()):
            assets.append(battery(f"{pid}-bat", pid))
            meters.append(Meter(f"{pid}-bat-m", pid, MeterKind.STORAGE, f"{pid}-bat"))
            before = draw(energy)
            if draw(st.booleans()):
                charge = draw(energy)
                gain = draw(st.integers(min_value=0, max_value=charge))
                after = before + gain
                losses += charge - gain
            else:
                drop = draw(st.integers(min_value=0, max_value=before))
                discharge = draw(st.integers(min_value=0, max_value=drop))
                after = before - drop
                losses += drop - discharge
            readings[f"{pid}-bat-m"] = (charge, discharge, after)
            stored_before[f"{pid}-bat-m"] = before
        net = load + charge - produced - discharge
        both_ways = draw(st.integers(min_value=0, max_value=1_000))
        readings[f"{pid}-grid"] = (max(net, 0) + both_ways, max(-net, 0) + both_ways, NOT_REPORTED)
        loads.append(load)
        community_net += net
    both_ways = draw(st.integers(min_value=0, max_value=1_000))
    readings["pcc"] = (
        max(community_net, 0) + both_ways,
        max(-community_net, 0) + both_ways,
        NOT_REPORTED,
    )
    community = make_community(participants, assets, meters)
    order = draw(st.permutations(list(readings)))
    before = np.zeros(len(meters), dtype=np.int64)
    for meter_id, wh in stored_before.items():
        before[community.meter_position(meter_id)] = wh
    return Flows(community, {m: readings[m] for m in order}, before, loads, by_source, losses)


@settings(max_examples=150, deadline=None)
@given(flows=consistent_flows())
def test_community_identity_holds_for_consistent_flows(flows: Flows) -> None:
    """production + pcc_import == consumption + pcc_export + losses + storage change, exactly.

    Also: the residual is 0, each member's derived consumption is its load, production is
    split by source and the quality stays OK.
    """
    community = flows.community
    balance, participant_flows, stored_after = account_interval(
        make_batch(community, flows.readings),
        community.catalogue,
        len(community.participants),
        flows.stored_before_wh,
    )
    assert balance.residual_wh == 0
    assert (
        balance.production_wh + balance.pcc_import_wh
        == balance.consumption_wh
        + balance.pcc_export_wh
        + balance.storage_losses_wh
        + balance.storage_change_wh
    )
    assert participant_flows.consumption_wh.tolist() == flows.load_wh
    assert list(balance.production_wh_by_source) == flows.by_source_wh
    assert balance.storage_losses_wh == flows.losses_wh
    assert balance.storage_change_wh == int(stored_after.sum() - flows.stored_before_wh.sum())
    assert balance.quality is QualityFlag.OK


@pytest.mark.parametrize("dropped", ["pro-grid", "con-grid"])
def test_residual_equals_the_dropped_members_net(dropped: str) -> None:
    """The residual is exactly the grid net of the member whose reading is missing."""
    readings = {k: v for k, v in CONSISTENT.items() if k != dropped}
    balance, _, _ = account_small(readings)
    imported, exported, _ = CONSISTENT[dropped]
    assert balance.residual_wh == imported - exported
