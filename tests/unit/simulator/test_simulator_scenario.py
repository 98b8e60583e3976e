"""Scenario parsing: the demo is valid; each mistake is named by source, key and problem."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gridshare.model import DispatchMode, Role
from gridshare.simulator.scenario import ScenarioError, parse_scenario

DEMO = (Path(__file__).resolve().parents[3] / "scenarios" / "demo.toml").read_text(encoding="utf-8")
SOURCE = "scenarios/demo.toml"


def mutate(old: str, new: str) -> str:
    """The demo text with exactly one occurrence of ``old`` replaced."""
    assert DEMO.count(old) == 1, f"{old!r} must occur once in the demo"
    return DEMO.replace(old, new)


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, SOURCE)
    return str(info.value)


def test_demo_scenario_is_valid() -> None:
    """The shipped demo parses, with its groups, members and dates."""
    scenario = parse_scenario(DEMO, SOURCE)
    assert scenario.community.id == "demo"
    assert scenario.community.time_zone == "America/New_York"
    assert scenario.simulation.start == date(2025, 6, 2)
    assert scenario.simulation.interval_minutes == 15
    assert [g.name for g in scenario.groups] == [
        "solar-homes",
        "west-roofs",
        "homes",
        "shops",
        "school",
        "coop-wind",
        "mill-hydro",
        "farm-biogas",
    ]
    assert scenario.member_count == 60 + 30 + 160 + 12 + 1 + 1 + 1 + 1
    assert scenario.groups[0].role is Role.PROSUMER
    assert scenario.groups[0].load is not None
    assert scenario.groups[0].load.profile == "H25"
    assert scenario.groups[7].biomass is not None
    assert scenario.groups[7].biomass.dispatch is DispatchMode.FOLLOW_LOAD


def test_prices_stay_exact_decimals() -> None:
    """Prices are parsed as Decimal, never through binary floats."""
    grid = parse_scenario(DEMO, SOURCE).grid
    assert isinstance(grid.import_price_per_kwh, Decimal)
    assert grid.import_price_per_kwh == Decimal("0.28")
    assert grid.export_price_per_kwh == Decimal("0.07")
    text = mutate("import_price_per_kwh = 0.28", "import_price_per_kwh = 0.123457")
    assert parse_scenario(text, SOURCE).grid.import_price_per_kwh == Decimal("0.123457")


def test_lower_case_profile_is_canonicalised() -> None:
    """Load profile names are accepted in any case and stored upper case."""
    text = mutate('profile = "H25"', 'profile = "h25"')
    load = parse_scenario(text, SOURCE).groups[0].load
    assert load is not None
    assert load.profile == "H25"


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("seed = 42", "seed = 42\ncolour = 1", "community.colour", "unknown key"),
        ("kwp = 7.0", "kwp = -7.0", "groups[0].pv.kwp", "greater than 0"),
        (
            "capacity_kwh = 100.0",
            "capacity_kwh = 0",
            "groups[4].battery.capacity_kwh",
            "greater than 0",
        ),
        ('profile = "G0"', 'profile = "X9"', "groups[3].load.profile", "unknown load profile 'X9'"),
        (
            '"America/New_York"',
            '"Mars/Olympus_Mons"',
            "community.time_zone",
            "unknown IANA time zone 'Mars/Olympus_Mons'",
        ),
        (
            '"E-53/800"',
            '"E-53/801"',
            "groups[5].wind.turbine_type",
            "unknown wind turbine type 'E-53/801'; did you mean E-53/800",
        ),
        (
            "import_price_per_kwh = 0.28",
            "import_price_per_kwh = 0.2800001",
            "grid.import_price_per_kwh",
            "no more than 6 decimal places",
        ),
        (
            "interval_minutes = 15",
            "interval_minutes = 20",
            "simulation.interval_minutes",
            "Input should be 5, 10, 15, 30 or 60",
        ),
        (
            "min_soc = 0.05 }",
            "min_soc = 0.6 }",
            "groups[4].battery",
            "initial_soc must be >= min_soc",
        ),
    ],
)
def test_bad_value_names_source_key_and_problem(old: str, new: str, key: str, problem: str) -> None:
    """Each bad value is reported as 'source: key.path: problem'."""
    message = error_of(mutate(old, new))
    assert f"{SOURCE}: {key}: " in message
    assert problem in message


def test_consumer_group_with_pv_is_refused() -> None:
    """A consumer group cannot own generation."""
    text = mutate(
        'load = { profile = "H0", annual_kwh = 4500',
        'pv = { kwp = 3.0 }\nload = { profile = "H0", annual_kwh = 4500',
    )
    message = error_of(text)
    assert f"{SOURCE}: groups[2]: " in message
    assert "a consumer group needs a load and no generation" in message


def test_duplicate_group_names_are_refused() -> None:
    """Group names are unique; the message names the repeated one."""
    message = error_of(mutate('name = "west-roofs"', 'name = "solar-homes"'))
    assert message.startswith(f"{SOURCE}: ")
    assert "group names must be unique; repeated: solar-homes" in message


def test_invalid_toml_is_refused_with_its_position() -> None:
    """A syntax error names the source and where the parser stopped."""
    message = error_of(mutate("[grid]", "[grid"))
    assert message.startswith(f"{SOURCE}: not valid TOML: ")
    assert "line 20" in message


def test_impossible_date_is_a_toml_error() -> None:
    """February 30th is rejected by the TOML parser itself."""
    message = error_of(mutate("start = 2025-06-02", "start = 2025-02-30"))
    assert message.startswith(f"{SOURCE}: not valid TOML: ")
    assert "date" in message
    assert "line 12" in message


def test_missing_required_key_is_named() -> None:
    """Leaving out a key without a default names the key."""
    text, count = re.subn(r"(?m)^days = 7.*\n", "", DEMO)
    assert count == 1
    message = error_of(text)
    assert message == f"{SOURCE}: simulation.days: required key is missing"


def test_each_problem_gets_its_own_line() -> None:
    """Several mistakes are all reported, one per line."""
    text = mutate("kwp = 5.0", "kwp = -5.0").replace("seed = 42", "seed = -1")
    lines = error_of(text).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{SOURCE}: ") for line in lines)
    assert any("community.seed" in line for line in lines)
    assert any("groups[1].pv.kwp" in line for line in lines)


def test_infinite_capacity_is_refused() -> None:
    """An infinite capacity is an impossible value and must be refused like a negative one."""
    message = error_of(mutate("kwp = 7.0", "kwp = inf"))
    assert f"{SOURCE}: groups[0].pv.kwp: " in message


def test_the_tariff_lives_in_grid_not_in_balancing() -> None:
    moved = mutate("[balancing]\n", "[balancing]\ndemand_charge_per_kw = 3.0\n")
    message = error_of(moved)
    assert "demand_charge_per_kw moved from [balancing] to [grid]" in message
    scenario = parse_scenario(DEMO, SOURCE)
    assert scenario.grid.demand_charge_per_kw == Decimal("12.0")
    assert [w.import_price_per_kwh for w in scenario.grid.time_of_use] == [Decimal("0.42")]
