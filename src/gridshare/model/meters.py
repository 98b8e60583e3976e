"""Meters: where energy is measured."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridshare.model.errors import ModelError


class MeterKind(StrEnum):
    """What a meter measures. Import (into the metered side) is positive."""

    GRID = "grid"
    """A member's connection to the community grid: import = drawn, export = fed in."""
    PRODUCTION = "production"
    """One generating asset: export = energy produced."""
    STORAGE = "storage"
    """One battery, AC side: import = charged, export = discharged; reports stored energy."""
    PCC = "pcc"
    """The community's point of common coupling with the main grid."""


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter, bound to a participant and (for production/storage) to one asset."""

    meter_id: str
    participant_id: str
    kind: MeterKind
    asset_id: str | None = None

    def __post_init__(self) -> None:
        if not self.meter_id:
            raise ModelError("meter_id must not be empty")
        needs_asset = self.kind in (MeterKind.PRODUCTION, MeterKind.STORAGE)
        if needs_asset and self.asset_id is None:
            raise ModelError(f"meter {self.meter_id}: a {self.kind} meter must name its asset")
