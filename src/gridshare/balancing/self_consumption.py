"""The self-consumption rule for home batteries, vectorised over batteries (int Wh).

Each battery charges from its owner's surplus and discharges into its owner's deficit,
within its power rating, its usable capacity and its efficiency. The optimiser of issue 6
replaces this rule; it stays as the baseline that the optimiser must never do worse than.

Energy is integer Wh throughout, so storage losses are exact:
``loss = charge_ac - stored_gain + stored_drop - discharge_ac``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BatteryFleet:
    """Parameters of N batteries as arrays (energy in Wh, per-interval power limits in Wh)."""

    capacity_wh: IntArray
    min_stored_wh: IntArray
    max_step_wh: IntArray
    """Most energy (AC side) that can flow in or out in one interval."""
    charge_efficiency: FloatArray
    discharge_efficiency: FloatArray

    @classmethod
    def from_round_trip(
        cls,
        capacity_wh: IntArray,
        min_stored_wh: IntArray,
        max_step_wh: IntArray,
        round_trip_efficiency: FloatArray,
    ) -> BatteryFleet:
        """Split each round-trip efficiency evenly between charging and discharging."""
        one_way = np.sqrt(np.asarray(round_trip_efficiency, dtype=np.float64))
        return cls(capacity_wh, min_stored_wh, max_step_wh, one_way, one_way)


@dataclass(frozen=True, slots=True)
class BatteryStep:
    """What the batteries did in one interval (all int Wh, AC side for flows)."""

    charge_wh: IntArray
    discharge_wh: IntArray
    stored_wh: IntArray
    loss_wh: IntArray


def self_consumption_step(
    fleet: BatteryFleet, stored_wh: IntArray, surplus_wh: IntArray
) -> BatteryStep:
    """One interval of the self-consumption rule.

    ``surplus_wh`` is each owner's production minus consumption (negative: deficit).
    """
    surplus = np.asarray(surplus_wh, dtype=np.int64)
    stored = np.asarray(stored_wh, dtype=np.int64)

    headroom = fleet.capacity_wh - stored
    charge_cap = np.floor(headroom / fleet.charge_efficiency).astype(np.int64)
    charge = np.minimum(np.minimum(np.maximum(surplus, 0), fleet.max_step_wh), charge_cap)
    gain = np.minimum(np.floor(charge * fleet.charge_efficiency).astype(np.int64), headroom)

    usable = stored - fleet.min_stored_wh
    discharge_cap = np.floor(usable * fleet.discharge_efficiency).astype(np.int64)
    discharge = np.minimum(np.minimum(np.maximum(-surplus, 0), fleet.max_step_wh), discharge_cap)
    discharge = np.maximum(discharge, 0)
    drop = np.ceil(discharge / fleet.discharge_efficiency).astype(np.int64)
    drop = np.minimum(drop, np.maximum(usable, 0))

    new_stored = stored + gain - drop
    loss = (charge - gain) + (drop - discharge)
    return BatteryStep(charge, discharge, new_stored, loss)
