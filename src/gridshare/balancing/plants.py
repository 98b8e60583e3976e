"""The community's load-following plants as the plan sees them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridshare.model import Community, DispatchMode, ReadingBatch
from gridshare.model.assets import DispatchableGenerator
from gridshare.units import IntArray, kwh_to_wh

__all__ = ["LoadFollowingPlants", "load_following_plants", "plant_output_wh"]


@dataclass(frozen=True, slots=True)
class LoadFollowingPlants:
    """Hydro and biomass plants that follow load, aligned arrays."""

    asset_ids: tuple[str, ...]
    owner: NDArray[np.int64]
    """Each plant's owner, by participant position."""
    meter: NDArray[np.int64]
    """Each plant's meter, by meter position."""
    available_wh: NDArray[np.int64]
    """The most each can give in one interval (rated power x availability x interval)."""
    cost_micros_per_kwh: NDArray[np.float64]
    """Marginal cost of each plant's output."""


def load_following_plants(
    community: Community, interval_hours: float, cost_micros_per_kwh: Mapping[str, int]
) -> LoadFollowingPlants:
    """The community's load-following plants, with the marginal cost of each plant's kind
    (``hydro``, ``biomass``; 0 when not given)."""
    plants = [
        a
        for a in community.assets
        if isinstance(a, DispatchableGenerator) and a.dispatch_mode is DispatchMode.FOLLOW_LOAD
    ]
    participant = {p.participant_id: i for i, p in enumerate(community.participants)}
    meter_of = {m.asset_id: i for i, m in enumerate(community.meters) if m.asset_id}
    return LoadFollowingPlants(
        tuple(a.asset_id for a in plants),
        np.array([participant[a.participant_id] for a in plants], dtype=np.int64),
        np.array([meter_of[a.asset_id] for a in plants], dtype=np.int64),
        np.array(
            [
                kwh_to_wh(a.rated_power_kw * a.availability_fraction * interval_hours)
                for a in plants
            ],
            dtype=np.int64,
        ),
        np.array([float(cost_micros_per_kwh.get(a.kind.value, 0)) for a in plants]),
    )


def plant_output_wh(batch: ReadingBatch, plant_meter: IntArray) -> IntArray:
    """Each plant's metered export in ``batch``'s interval (int Wh; 0 for a plant whose
    meter did not report), ``plant_meter`` being the plants' meter positions."""
    plant_out = np.zeros(plant_meter.size, dtype=np.int64)
    if plant_meter.size:
        position = {int(m): i for i, m in enumerate(batch.meter_index.tolist())}
        for j, m in enumerate(plant_meter.tolist()):
            if m in position:
                plant_out[j] = int(batch.export_wh[position[m]])
    return plant_out
