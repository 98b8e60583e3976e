"""Registrations checked against the community file, and the approved ones taken into the
community the node serves (gridshare.app.registrations)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gridshare.app.registrations import CommunityFile, RegistrationError, admitted_scenario
from gridshare.model import Battery, PvArray
from gridshare.model.records import RegistrationRecord, RegistrationStatus
from gridshare.simulator.run import prepare, scenario_community

TINY = Path(__file__).parents[2] / "scenarios" / "data" / "tiny.toml"
A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20


def _record(handle: str, member: dict[str, object], devices: dict[str, str]) -> RegistrationRecord:
    admission = CommunityFile(prepare(TINY)).check(handle, member, devices)
    return RegistrationRecord(
        community_id="tiny",
        handle=handle,
        applicant="0x" + "ee" * 20,
        member_json=admission.member_json,
        devices_json=orjson.dumps(admission.devices).decode(),
        latitude_deg=None,
        longitude_deg=None,
        submitted_at_s=0,
        status=RegistrationStatus.APPROVED.value,
    )


def test_a_prosumer_registration_names_each_of_its_meters() -> None:
    community_file = CommunityFile(prepare(TINY))
    member = {
        "role": "prosumer",
        "load": {"profile": "H0", "annual_kwh": 3000},
        "pv": {"kwp": 4.2},
        "battery": {"capacity_kwh": 5, "power_kw": 2.5},
    }
    devices = {"tiny:oak-001/grid": A, "tiny:oak-001/pv/meter": B, "tiny:oak-001/battery/meter": C}
    admission = community_file.check("oak", member, devices)
    assert admission.participant_id == "tiny:oak-001"
    assert admission.devices == devices
    with pytest.raises(RegistrationError, match="missing tiny:oak-001/battery/meter") as caught:
        community_file.check(
            "oak", member, {k: v for k, v in devices.items() if "battery" not in k}
        )
    assert caught.value.code == "devices_mismatch"


def test_approved_members_join_after_the_file_members_who_stay_as_they_were() -> None:
    scenario = prepare(TINY)
    before = scenario_community(scenario, "tiny.toml")
    approved = [
        _record(
            "oak",
            {"role": "producer", "pv": {"kwp": 9.5}},
            {"tiny:oak-001/grid": A, "tiny:oak-001/pv/meter": B},
        ),
        _record(
            "elm",
            {"role": "consumer", "load": {"profile": "H0", "annual_kwh": 2000}},
            {"tiny:elm-001/grid": C},
        ),
    ]
    joined, accounts, devices = admitted_scenario(scenario, approved)
    after = scenario_community(joined, "tiny.toml")
    n = len(before.participants)
    assert after.participants[:n] == before.participants
    assert after.meters[: len(before.meters)] == before.meters
    assert after.assets[: len(before.assets)] == before.assets
    assert [p.participant_id for p in after.participants[n:]] == ["tiny:oak-001", "tiny:elm-001"]
    assert accounts == {"tiny:oak-001": "0x" + "ee" * 20, "tiny:elm-001": "0x" + "ee" * 20}
    assert devices == {"tiny:oak-001/grid": A, "tiny:oak-001/pv/meter": B, "tiny:elm-001/grid": C}
    arrays = [
        a for a in after.assets if isinstance(a, PvArray) and a.participant_id == "tiny:oak-001"
    ]
    assert [a.kwp for a in arrays] == [9.5]  # the declared rating, no simulated variation
    assert not any(
        isinstance(a, Battery) and a.participant_id == "tiny:elm-001" for a in after.assets
    )
    assert admitted_scenario(scenario, []) == (scenario, {}, {})
