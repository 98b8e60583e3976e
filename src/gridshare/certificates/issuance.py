"""Granular certificates: which Wh of an interval are certified, and token ids.

One certificate unit is 1 Wh of metered renewable production of one device in one
interval; the token id encodes both (``device << 64 | interval_start``), as the
EnergyCertificate contract computes it. Every Wh a production meter exported in a
committed interval is certified, so the certificates of a period add up exactly to the
verified renewable production (all gridshare sources are renewable: solar, wind, hydro,
biomass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridshare.model import EnergySource, MeterKind, ReadingBatch
from gridshare.model.community import METER_KINDS, SOURCES
from gridshare.units import WH_PER_KWH

PRODUCTION = METER_KINDS.index(MeterKind.PRODUCTION)
SOURCE_CODES = {
    EnergySource.SOLAR: 1,
    EnergySource.WIND: 2,
    EnergySource.HYDRO: 3,
    EnergySource.BIOMASS: 4,
}
"""Source codes of the EnergyCertificate contract."""
DEFAULT_AVOIDED_G_PER_KWH = 380
"""Grid emissions a renewable kWh displaces, g CO2e/kWh (roughly the EU-27 2023 mix)."""


@dataclass(frozen=True, slots=True)
class Issue:
    """Certificates to mint: ``amount_wh`` for ``device``'s production in one interval."""

    device: bytes
    start_s: int
    amount_wh: int
    meter_index: int


def token_id(device: bytes, start_s: int) -> int:
    return (int.from_bytes(device, "big") << 64) | start_s


def split_token_id(token: int) -> tuple[bytes, int]:
    """(device address, interval start) of a token id."""
    return (token >> 64).to_bytes(20, "big"), token & ((1 << 64) - 1)


def certificates_for(
    batch: ReadingBatch,
    kind_code: NDArray[np.int64],
    devices: Sequence[bytes | None],
) -> list[Issue]:
    """One issue per production meter that exported energy in the interval."""
    kinds = kind_code[batch.meter_index]
    chosen = (kinds == PRODUCTION) & (batch.export_wh > 0)
    issues = []
    for meter, amount in zip(
        batch.meter_index[chosen].tolist(), batch.export_wh[chosen].tolist(), strict=True
    ):
        device = devices[meter]
        if device is None:
            raise ValueError(f"production meter #{meter} has no registered device")
        issues.append(Issue(device, batch.interval.start_s, amount, meter))
    return issues


def source_code(source_index: int) -> int:
    """Contract source code of a community source index (``SOURCES``)."""
    return SOURCE_CODES[EnergySource(SOURCES[source_index])]


def avoided_co2_g(energy_wh: int, g_per_kwh: int) -> int:
    """Emissions avoided by ``energy_wh`` of renewable energy, whole grams (rounded down)."""
    return energy_wh * g_per_kwh // WH_PER_KWH
