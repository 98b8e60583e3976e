#!/usr/bin/env python3
"""Set up the environment from the lock and run a gridshare job, with nothing but Python.

    python3 scripts/dev.py demo   # .venv from uv.lock; the node, fed live by the demo community
    python3 scripts/dev.py test   # .venv from uv.lock with dev tools; lint, types, tests
    python3 scripts/dev.py lock   # refresh uv.lock after editing pyproject.toml's dependencies

Every package comes from `uv.lock`, hash-checked: the demo runs exactly the versions the
tests test. uv itself comes from PyPI (`scripts/uv-requirements.txt`, hash-checked) into
`.tools/uv`. The environment is synced on every call; uv installs only what the lock
changed, so an unchanged lock costs a fraction of a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("GRIDSHARE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
TOOLS = ROOT / ".tools"
UV_HOME = TOOLS / "uv"
UV_REQUIREMENTS = ROOT / "scripts" / "uv-requirements.txt"
ANVIL_PACKAGE = "@foundry-rs/anvil@1.7.1"
SUPPORTED_PYTHONS = ((3, 11), (3, 13))
RELOCK_HINT = (
    "pyproject.toml and uv.lock disagree: run `python3 scripts/dev.py lock` "
    "and commit uv.lock with the change."
)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    started = time.monotonic()
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, check=False, env=env)
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    if completed.returncode:
        sys.exit(completed.returncode)


def check_python() -> None:
    low, high = SUPPORTED_PYTHONS
    if not low <= sys.version_info[:2] <= high:
        sys.exit(
            f"gridshare needs Python {low[0]}.{low[1]} to {high[0]}.{high[1]}; this is "
            f"{sys.version.split()[0]}. Run this script with a supported python3."
        )


def pinned_uv_version() -> str:
    for line in UV_REQUIREMENTS.read_text().splitlines():
        if line.startswith("uv=="):
            return line.split("==", 1)[1].split()[0]
    sys.exit(f"{UV_REQUIREMENTS} pins no uv version")


def ensure_uv() -> Path:
    """The pinned uv, installed from PyPI with pip's hash checking into `.tools/uv`."""
    uv = UV_HOME / ("Scripts" if os.name == "nt" else "bin") / "uv"
    wanted = pinned_uv_version()
    if uv.exists():
        version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
        if version.stdout.split()[1:2] == [wanted]:
            return uv
    print(f"Installing uv {wanted} into {UV_HOME}", flush=True)
    venv.create(UV_HOME, with_pip=True, clear=True)
    python = UV_HOME / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(python, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps",
        "-r", UV_REQUIREMENTS)  # fmt: skip
    return uv


def uv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["UV_PROJECT_ENVIRONMENT"] = str(VENV)
    env["UV_PYTHON_DOWNLOADS"] = "never"  # use the interpreter that runs this script
    env.pop("VIRTUAL_ENV", None)
    return env


def ensure_env(*, dev: bool) -> None:
    """Sync `.venv` to uv.lock: the runtime set, plus the dev extra for the tests."""
    check_python()
    uv = ensure_uv()
    env = uv_env()
    check = subprocess.run(
        [uv, "lock", "--check", "--python", sys.executable],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if check.returncode:
        sys.stderr.write(check.stderr)
        sys.exit(RELOCK_HINT)
    if not (BIN / "python").exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        started = time.monotonic()
        venv.create(VENV, with_pip=True)  # pip too, for `pip freeze`; uv sync keeps it
        print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    sync = [uv, "sync", "--locked", "--python", sys.executable, "--quiet"]
    # The demo keeps dev tools that `test` installed, so the two never fight over .venv.
    sync += ["--extra", "dev"] if dev else ["--inexact"]
    run(*sync, env=env)


def ensure_anvil() -> None:
    """anvil (a real EVM node) from npm, for the ledger tests."""
    if (TOOLS / "node_modules" / ".bin" / "anvil").exists():
        return
    if shutil.which("npm") is None:
        sys.exit("the ledger tests need anvil from npm, and npm is not installed")
    run("npm", "install", "--silent", "--no-save", "--prefix", TOOLS, ANVIL_PACKAGE)


def demo() -> None:
    ensure_env(dev=False)
    run(BIN / "gridshare", "demo", "scenarios/demo.toml", *sys.argv[2:])


def test() -> None:
    ensure_env(dev=True)
    ensure_anvil()
    run(BIN / "ruff", "check", "src", "tests", "bench", "scripts")
    run(BIN / "ruff", "format", "--check", "src", "tests", "bench", "scripts")
    run(BIN / "mypy", "src")
    run(BIN / "lint-imports")
    run(BIN / "python", "-m", "pytest", *sys.argv[2:])


def lock() -> None:
    """Refresh uv.lock: `lock` after editing pyproject.toml; `lock --upgrade` to take new
    releases of everything (then run the tests before committing the new lock)."""
    check_python()
    run(ensure_uv(), "lock", "--python", sys.executable, *sys.argv[2:], env=uv_env())


if __name__ == "__main__":
    jobs = {"demo": demo, "test": test, "lock": lock}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        sys.exit(f"usage: python3 scripts/dev.py {{{'|'.join(jobs)}}} [args...]")
    jobs[sys.argv[1]]()
