"""The community: its members, assets, meters and main-grid connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from gridshare.model.assets import (
    Asset,
    Battery,
    DispatchableGenerator,
    EnergySource,
    PvArray,
    WindTurbine,
)
from gridshare.model.errors import ModelError
from gridshare.model.meters import Meter, MeterKind
from gridshare.model.participants import Participant
from gridshare.model.tariff import GridTariff
from gridshare.units import kwh_to_wh

SOURCES: tuple[EnergySource, ...] = tuple(EnergySource)
"""Energy sources in a fixed order; ``MeterCatalogue.source_code`` indexes into it."""
METER_KINDS: tuple[MeterKind, ...] = tuple(MeterKind)


@dataclass(frozen=True, slots=True)
class MeterCatalogue:
    """Per-meter attributes as arrays, aligned with ``Community.meters``.

    ``kind_code`` indexes :data:`METER_KINDS`; ``source_code`` indexes :data:`SOURCES`
    (-1 for meters that measure no production); ``participant_index`` indexes
    ``Community.participants``.
    """

    kind_code: NDArray[np.int64]
    source_code: NDArray[np.int64]
    participant_index: NDArray[np.int64]
    initial_stored_wh: NDArray[np.int64]


@dataclass(frozen=True)
class Community:
    """Everything the pipeline needs to know about a community, immutable."""

    community_id: str
    name: str
    time_zone: str
    interval_length: timedelta
    participants: tuple[Participant, ...]
    assets: tuple[Asset, ...]
    meters: tuple[Meter, ...]
    tariff: GridTariff
    _meter_position: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        participant_ids = [p.participant_id for p in self.participants]
        _require_unique(participant_ids, "participant_id")
        _require_unique([a.asset_id for a in self.assets], "asset_id")
        _require_unique([m.meter_id for m in self.meters], "meter_id")
        known_participants = set(participant_ids)
        known_assets = {a.asset_id for a in self.assets}
        for asset in self.assets:
            if asset.participant_id not in known_participants:
                raise ModelError(f"asset {asset.asset_id} names unknown participant")
        for meter in self.meters:
            if meter.participant_id not in known_participants:
                raise ModelError(f"meter {meter.meter_id} names unknown participant")
            if meter.asset_id is not None and meter.asset_id not in known_assets:
                raise ModelError(f"meter {meter.meter_id} names unknown asset {meter.asset_id}")
        if sum(m.kind is MeterKind.PCC for m in self.meters) != 1:
            raise ModelError("a community has exactly one point-of-common-coupling meter")
        object.__setattr__(
            self, "_meter_position", {m.meter_id: i for i, m in enumerate(self.meters)}
        )

    def meter_position(self, meter_id: str) -> int:
        """Position of ``meter_id`` in :attr:`meters`."""
        try:
            return self._meter_position[meter_id]
        except KeyError:
            raise ModelError(
                f"unknown meter {meter_id!r} in community {self.community_id}"
            ) from None

    def asset(self, asset_id: str) -> Asset:
        for asset in self.assets:
            if asset.asset_id == asset_id:
                return asset
        raise ModelError(f"unknown asset {asset_id!r}")

    @cached_property
    def catalogue(self) -> MeterCatalogue:
        """Per-meter arrays for vectorised accounting."""
        assets = {a.asset_id: a for a in self.assets}
        participant_position = {p.participant_id: i for i, p in enumerate(self.participants)}
        kind_code = np.array([METER_KINDS.index(m.kind) for m in self.meters], dtype=np.int64)
        source_code = np.full(len(self.meters), -1, dtype=np.int64)
        initial_stored = np.zeros(len(self.meters), dtype=np.int64)
        for i, meter in enumerate(self.meters):
            asset = assets.get(meter.asset_id) if meter.asset_id is not None else None
            if meter.kind is MeterKind.PRODUCTION:
                if not isinstance(asset, PvArray | WindTurbine | DispatchableGenerator):
                    raise ModelError(f"production meter {meter.meter_id} is not on a generator")
                source_code[i] = SOURCES.index(asset.source)
            elif meter.kind is MeterKind.STORAGE:
                if not isinstance(asset, Battery):
                    raise ModelError(f"storage meter {meter.meter_id} is not on a battery")
                initial_stored[i] = kwh_to_wh(asset.capacity_kwh * asset.initial_soc_fraction)
        participant_index = np.array(
            [participant_position[m.participant_id] for m in self.meters], dtype=np.int64
        )
        return MeterCatalogue(kind_code, source_code, participant_index, initial_stored)


def _require_unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ModelError(f"duplicate {what} {item!r}")
        seen.add(item)
