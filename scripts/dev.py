#!/usr/bin/env python3
"""Set up the environment and run a gridshare job, with nothing but Python >= 3.11.

    python3 scripts/dev.py demo   # create .venv, install, simulate the demo community
    python3 scripts/dev.py test   # create .venv, install with dev tools, lint, types, tests

The virtual environment is (re)installed only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("GRIDSHARE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if completed.returncode:
        sys.exit(completed.returncode)


def ensure_env(extra: str | None) -> None:
    target = "." + (f"[{extra}]" if extra else "")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + target.encode()).hexdigest()
    stamp = VENV / ".gridshare-installed"
    installed = stamp.read_text().split() if stamp.exists() else []
    if digest in installed:
        return
    if not (BIN / "python").exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(" ".join([*installed, digest]))


ANVIL_PACKAGE = "@foundry-rs/anvil@1.7.1"
TOOLS = ROOT / ".tools"


def ensure_anvil() -> None:
    """anvil (a real EVM node) from npm, for the ledger tests."""
    if (TOOLS / "node_modules" / ".bin" / "anvil").exists():
        return
    if shutil.which("npm") is None:
        sys.exit("the ledger tests need anvil from npm, and npm is not installed")
    run("npm", "install", "--silent", "--no-save", "--prefix", TOOLS, ANVIL_PACKAGE)


def demo() -> None:
    ensure_env(None)
    run(BIN / "gridshare", "simulate", "scenarios/demo.toml", *sys.argv[2:])


def test() -> None:
    ensure_env("dev")
    ensure_anvil()
    run(BIN / "ruff", "check", "src", "tests", "bench", "scripts")
    run(BIN / "ruff", "format", "--check", "src", "tests", "bench", "scripts")
    run(BIN / "mypy", "src")
    run(BIN / "lint-imports")
    run(BIN / "python", "-m", "pytest", *sys.argv[2:])


if __name__ == "__main__":
    jobs = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        sys.exit(f"usage: python3 scripts/dev.py {{{'|'.join(jobs)}}} [args...]")
    jobs[sys.argv[1]]()
