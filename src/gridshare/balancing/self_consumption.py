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

from gridshare.model import Community
from gridshare.model.assets import Battery
from gridshare.units import SECONDS_PER_HOUR, FloatArray, IntArray, kwh_to_wh, split_pro_rata


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
class CommunityBatteries:
    """A community's batteries in asset order: ids, owners, storage meters, parameters."""

    asset_ids: tuple[str, ...]
    owner: IntArray
    """Participant position of each battery's owner."""
    meter_pos: IntArray
    """Position of each battery's storage meter in the community's meters."""
    fleet: BatteryFleet


def community_batteries(community: Community) -> CommunityBatteries:
    """The community's batteries with per-interval power limits for its interval length."""
    batteries = [a for a in community.assets if isinstance(a, Battery)]
    hours = community.interval_length.total_seconds() / SECONDS_PER_HOUR
    participant = {p.participant_id: i for i, p in enumerate(community.participants)}
    meter_of = {m.asset_id: i for i, m in enumerate(community.meters) if m.asset_id}
    fleet = BatteryFleet.from_round_trip(
        capacity_wh=np.array([kwh_to_wh(b.capacity_kwh) for b in batteries], dtype=np.int64),
        min_stored_wh=np.array(
            [kwh_to_wh(b.capacity_kwh * b.min_soc_fraction) for b in batteries], dtype=np.int64
        ),
        max_step_wh=np.array([kwh_to_wh(b.power_kw * hours) for b in batteries], dtype=np.int64),
        round_trip_efficiency=np.array(
            [b.round_trip_efficiency for b in batteries], dtype=np.float64
        ),
    )
    return CommunityBatteries(
        tuple(b.asset_id for b in batteries),
        np.array([participant[b.participant_id] for b in batteries], dtype=np.int64),
        np.array([meter_of[b.asset_id] for b in batteries], dtype=np.int64),
        fleet,
    )


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
    The same clipping serves a battery that follows a setpoint: pass the setpoint (net
    charge, > 0 charge) as the surplus.
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


def hold_exchange(
    fleet: BatteryFleet, stored_wh: IntArray, setpoint_wh: IntArray, deviation_wh: int
) -> IntArray:
    """Adjust the batteries' setpoints (net charge, > 0 charge) so the community's
    exchange with the grid moves back by ``deviation_wh`` (> 0: more is imported than
    planned, so charge less or discharge more; < 0: the reverse).

    This is the fast controller at the point of common coupling that holds the plan's
    exchange against forecast errors between two plans, as a site energy manager does
    with a power meter at the connection. The correction is shared among the batteries
    pro rata to how far each can still move within its power and energy limits.
    """
    setpoint = np.asarray(setpoint_wh, dtype=np.int64)
    if deviation_wh == 0 or setpoint.size == 0:
        return setpoint.copy()
    stored = np.asarray(stored_wh, dtype=np.int64)
    usable = np.maximum(stored - fleet.min_stored_wh, 0)
    most_out = np.minimum(fleet.max_step_wh, np.floor(usable * fleet.discharge_efficiency))
    headroom = np.maximum(fleet.capacity_wh - stored, 0)
    most_in = np.minimum(fleet.max_step_wh, np.floor(headroom / fleet.charge_efficiency))
    if deviation_wh > 0:  # lower the net charge towards -most_out
        room = np.maximum(setpoint + most_out.astype(np.int64), 0)
        share = split_pro_rata(min(deviation_wh, int(room.sum())), room)
        return setpoint - share
    room = np.maximum(most_in.astype(np.int64) - setpoint, 0)
    share = split_pro_rata(min(-deviation_wh, int(room.sum())), room)
    return setpoint + share


def rule_exchange_wh(
    fleet: BatteryFleet,
    shadow_stored_wh: IntArray,
    owner: IntArray,
    production_wh: IntArray,
    consumption_wh: IntArray,
    metered_exchange_wh: int,
    metered_battery_net_wh: int,
    plant_output_wh: int,
    plant_available_wh: int,
) -> tuple[int, IntArray]:
    """The counterfactual of the self-consumption rule on the same metered loads: the
    connection's net exchange (> 0 import, int Wh) had each battery followed the rule
    from ``shadow_stored_wh`` (its owner's metered surplus) and the load-following plants
    only covered import, and the shadow fleet's stored energy after the interval.

    ``metered_exchange_wh`` is the connection's metered net import, from which the
    batteries' metered net charge and the plants' metered output are taken out before
    the rule's own battery flows and plant cover are put in.
    """
    surplus = (
        production_wh[owner] - consumption_wh[owner] if owner.size else np.zeros(0, dtype=np.int64)
    )
    step = self_consumption_step(fleet, shadow_stored_wh, surplus)
    without = metered_exchange_wh + plant_output_wh - metered_battery_net_wh
    before = without + int(step.charge_wh.sum() - step.discharge_wh.sum())
    before -= min(max(before, 0), plant_available_wh)
    return before, step.stored_wh
