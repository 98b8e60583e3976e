"""The scenario's PV keys: losses, temperature model and transposition model are
validated, default to PVWatts', and reach every member's PvDesign."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridshare.model import Location
from gridshare.production.pv import TEMPERATURE_MODELS, TRANSPOSITION_MODELS, PvDesign
from gridshare.simulator.community import build_community
from gridshare.simulator.scenario import ScenarioError, parse_scenario

DEMO = (Path(__file__).resolve().parents[3] / "scenarios" / "demo.toml").read_text(encoding="utf-8")
SOURCE = "scenarios/demo.toml"
WEST_ROOFS = "pv = { kwp = 5.0, variation = 0.2, tilt_deg = 30, azimuth_deg = 270 }"
GREENSBORO = Location(36.1, -79.95, 273.0)


def west_roofs(extra: str) -> str:
    """The demo with ``extra`` keys added to the west-roofs group's ``pv`` table."""
    assert DEMO.count(WEST_ROOFS) == 1
    return DEMO.replace(WEST_ROOFS, WEST_ROOFS.removesuffix(" }") + f", {extra} }}")


def designs(text: str) -> dict[str, set[PvDesign]]:
    """Each group's distinct PV designs once the community is built."""
    _, plan = build_community(parse_scenario(text, SOURCE), GREENSBORO)
    found: dict[str, set[PvDesign]] = {}
    for array, design in plan.pv:
        group = array.participant_id.split(":")[1].rsplit("-", 1)[0]
        found.setdefault(group, set()).add(design)
    return found


def test_pv_defaults_are_pvwatts() -> None:
    """Without the keys: 14 % losses, close roof mount, Perez; same as PvDesign's."""
    pv = parse_scenario(DEMO, SOURCE).groups[1].pv
    assert pv is not None
    assert pv.losses_percent == 14.0
    assert pv.temperature_model == "close_mount_glass_glass"
    assert pv.transposition_model == "perez"
    assert designs(DEMO)["west-roofs"] == {PvDesign(30.0, 270.0)}


def test_pv_keys_reach_every_members_design() -> None:
    text = west_roofs(
        'losses_percent = 9.5, temperature_model = "open_rack_glass_glass", '
        'transposition_model = "haydavies"'
    )
    found = designs(text)
    assert found["west-roofs"] == {
        PvDesign(
            30.0,
            270.0,
            losses_percent=9.5,
            temperature_model="open_rack_glass_glass",
            transposition_model="haydavies",
        )
    }
    # The other groups keep the defaults.
    assert {d.transposition_model for d in found["solar-homes"]} == {"perez"}


@pytest.mark.parametrize("model", TEMPERATURE_MODELS)
def test_every_temperature_model_is_accepted(model: str) -> None:
    pv = parse_scenario(west_roofs(f'temperature_model = "{model}"'), SOURCE).groups[1].pv
    assert pv is not None
    assert pv.temperature_model == model


@pytest.mark.parametrize("model", TRANSPOSITION_MODELS)
def test_every_transposition_model_is_accepted(model: str) -> None:
    pv = parse_scenario(west_roofs(f'transposition_model = "{model}"'), SOURCE).groups[1].pv
    assert pv is not None
    assert pv.transposition_model == model


@pytest.mark.parametrize(
    ("extra", "key", "choices"),
    [
        ('temperature_model = "rooftop"', "temperature_model", TEMPERATURE_MODELS),
        ('temperature_model = "sapm"', "temperature_model", TEMPERATURE_MODELS),
        ('transposition_model = "Perez"', "transposition_model", TRANSPOSITION_MODELS),
        ('transposition_model = "king"', "transposition_model", TRANSPOSITION_MODELS),
        ("transposition_model = 1", "transposition_model", TRANSPOSITION_MODELS),
    ],
)
def test_bad_model_name_names_the_key_and_the_choices(
    extra: str, key: str, choices: tuple[str, ...]
) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(west_roofs(extra), SOURCE)
    message = str(info.value)
    assert f"{SOURCE}: groups[1].pv.{key}: " in message
    assert all(f"'{choice}'" in message for choice in choices), message


@pytest.mark.parametrize("losses", ["-1", "100", '"14"'])
def test_impossible_losses_are_refused(losses: str) -> None:
    with pytest.raises(ScenarioError, match=r"groups\[1\]\.pv\.losses_percent: "):
        parse_scenario(west_roofs(f"losses_percent = {losses}"), SOURCE)
