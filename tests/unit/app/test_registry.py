"""The node's registry: addresses only, every meter a device, every member an account, the
operator the operator key; anything else is refused with a message naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.factories import small_community

from gridshare.app.serve import read_registry
from gridshare.errors import ConfigurationError

OPERATOR = "0x" + "ab" * 20
COMMUNITY = small_community(2)


def _address(n: int) -> str:
    return "0x" + f"{n:040x}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(text, "utf-8")
    return path


def _full(accounts: dict[str, str] | None = None, devices: dict[str, str] | None = None) -> str:
    """A registry of the small community, with entries replaced ("" drops one)."""
    chosen = {"t:m0": _address(1), "t:m1": _address(2)} | (accounts or {})
    meters = {"t:pcc": _address(10), "t:m0/grid": _address(11), "t:m1/grid": _address(12)}
    meters |= devices or {}
    lines = ["[accounts]", *(f'"{k}" = "{v}"' for k, v in chosen.items() if v)]
    lines += ["[devices]", *(f'"{k}" = "{v}"' for k, v in meters.items() if v)]
    return "\n".join(lines) + "\n"


def test_a_complete_registry_gives_devices_in_meter_order_and_the_operator_its_key(
    tmp_path: Path,
) -> None:
    registration = read_registry(_write(tmp_path, _full()), COMMUNITY, OPERATOR)
    assert [d.hex() for d in registration.devices] == [f"{n:040x}" for n in (10, 11, 12)]
    assert registration.accounts == {"t:op": OPERATOR, "t:m0": _address(1), "t:m1": _address(2)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_full(devices={"t:m1/grid": ""}), "[devices] has no address for meter 't:m1/grid'"),
        (_full({"t:m0": ""}), "[accounts] has no address for member 't:m0'"),
        (_full({"t:m0": "0x1234"}), "account of t:m0: expected a 0x-prefixed 20-byte address"),
        (_full(devices={"t:m1/grid": _address(11)}), "a device address is given to two meters"),
        (_full({"t:op": _address(3)}), "the operator 't:op' holds the operator key"),
        (_full() + '[keys]\n"t:m0" = "secret"\n', "unknown table(s) ['keys']"),
        (_full().replace('"t:m0" =', '"t:nobody" ='), "no participant 't:nobody' in community t"),
        ("[devices\n", "is not valid TOML"),
    ],
)
def test_a_registry_that_cannot_be_used_is_refused_naming_what_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        read_registry(_write(tmp_path, text), COMMUNITY, OPERATOR)
    assert message in str(refused.value)


def test_a_missing_registry_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the registry"):
        read_registry(tmp_path / "absent.toml", COMMUNITY, OPERATOR)
