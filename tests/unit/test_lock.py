"""uv.lock is the one source of installed versions: it must agree with pyproject.toml, pin
every package with hashes, and be what this environment actually runs.

These checks read the files themselves (not uv), so they hold even where uv is absent.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RELOCK = "run `python3 scripts/dev.py lock` and commit uv.lock"

Key = tuple[str, frozenset[str], str, str]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _root(lock: dict[str, Any]) -> dict[str, Any]:
    (root,) = [p for p in lock["package"] if p.get("source") == {"editable": "."}]
    return root


def _key(name: str, extras: list[str], specifier: str, marker: str) -> Key:
    return (
        canonicalize_name(name),
        frozenset(extras),
        str(SpecifierSet(specifier)),
        str(Marker(marker)) if marker else "",
    )


def _asked(pyproject: dict[str, Any]) -> set[Key]:
    project = pyproject["project"]
    asked = set()
    for extra, lines in [("", project["dependencies"])] + list(
        project["optional-dependencies"].items()
    ):
        for line in lines:
            req = Requirement(line)
            marker = str(req.marker) if req.marker else ""
            if extra:
                marker = f"extra == '{extra}'" + (f" and ({marker})" if marker else "")
            asked.add(_key(req.name, sorted(req.extras), str(req.specifier), marker))
    return asked


def _recorded(lock: dict[str, Any]) -> set[Key]:
    return {
        _key(r["name"], r.get("extras", []), r.get("specifier", ""), r.get("marker", ""))
        for r in _root(lock)["metadata"]["requires-dist"]
    }


def _locked_version(lock: dict[str, Any], name: str) -> Version | None:
    """The version the lock installs for `name` on this interpreter and platform."""
    for package in lock["package"]:
        if canonicalize_name(package["name"]) != name:
            continue
        markers = package.get("resolution-markers", [])
        if not markers or any(Marker(m).evaluate() for m in markers):
            return Version(package["version"])
    return None


def test_lock_records_exactly_what_pyproject_asks_for(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    asked, recorded = _asked(pyproject), _recorded(lock)
    assert asked == recorded, (
        f"pyproject.toml and uv.lock disagree: only in pyproject {sorted(asked - recorded)}, "
        f"only in the lock {sorted(recorded - asked)}; {RELOCK}"
    )


def test_lock_keeps_pyprojects_python_range_and_build_pins(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    assert SpecifierSet(lock["requires-python"]) == SpecifierSet(
        pyproject["project"]["requires-python"]
    ), RELOCK
    pinned = {
        _key(r["name"], [], r["specifier"], "") for r in lock["manifest"]["build-constraints"]
    }
    wanted = {
        _key(Requirement(line).name, [], str(Requirement(line).specifier), "")
        for line in pyproject["tool"]["uv"]["build-constraint-dependencies"]
    }
    assert pinned == wanted, RELOCK


def test_every_locked_release_is_pinned_by_hash(lock: dict[str, Any]) -> None:
    unhashed = []
    for package in lock["package"]:
        if "registry" not in package["source"]:
            continue
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        if not files or not all(f.get("hash", "").startswith("sha256:") for f in files):
            unhashed.append(f"{package['name']}=={package['version']}")
    assert unhashed == []


def test_locked_versions_satisfy_pyproject(pyproject: dict[str, Any], lock: dict[str, Any]) -> None:
    for name, _, specifier, marker in _asked(pyproject):
        if marker.startswith("extra") or (marker and not Marker(marker).evaluate()):
            continue
        version = _locked_version(lock, name)
        assert version is not None, f"{name} is not in uv.lock; {RELOCK}"
        assert SpecifierSet(specifier).contains(version, prereleases=True), (
            f"uv.lock has {name} {version}, outside pyproject's {specifier}; {RELOCK}"
        )


def test_this_environment_runs_the_locked_versions(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    """Direct dependencies (runtime and dev) are installed; every installed locked package is
    at its locked version. The demo's environment is synced from the same lock."""
    direct = {name for name, _, _, _ in _asked(pyproject)}
    drifted = []
    for package in lock["package"]:
        name = canonicalize_name(package["name"])
        if package.get("source") == {"editable": "."}:
            continue
        locked = _locked_version(lock, name)
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            assert name not in direct, f"{name} is locked but not installed: run the test command"
            continue
        if locked is not None and installed != locked:
            drifted.append(f"{name}: installed {installed}, locked {locked}")
    assert drifted == [], "this environment is not the lock: run `python3 scripts/dev.py test`"
