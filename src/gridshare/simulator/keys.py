"""The operator key of a simulation run directory."""

from __future__ import annotations

import os
from pathlib import Path

from gridshare.ledger.keys import PASSWORD_ENV, Keystore, LocalSigner
from gridshare.settings import Settings

OPERATOR_KEY = "operator"
SIMULATION_KEY_PASSWORD = "gridshare-simulation"  # noqa: S105 - documented, simulation only
"""Password of a simulation run's operator key unless GRIDSHARE_KEY_PASSWORD is set (a
simulated community's chain holds nothing of value; a real one's key is created with
``gridshare chain deploy`` and a password the operator chooses)."""


def simulation_operator(directory: Path, settings: Settings) -> LocalSigner:
    """The operator key of a simulation run directory (created on first use)."""
    keystore = Keystore(directory / "keys", kdf_iterations=settings.key_kdf_iterations)
    password = os.environ.get(PASSWORD_ENV, SIMULATION_KEY_PASSWORD)
    if OPERATOR_KEY not in keystore.names():
        keystore.create(OPERATOR_KEY, password)
    return keystore.load(OPERATOR_KEY, password)
