"""Islanding: running the microgrid without the main grid (pure, int Wh).

When the connection to the main grid is lost, the community's storage becomes
grid-forming: it alone balances production and consumption, so the exchange at the
point of common coupling is zero. Two functions serve both sides of that:

* :func:`plan_shedding` is the controller's emergency protocol. Before each islanded
  interval it decides which members to disconnect: non-critical loads by priority (the
  lowest ``priority`` first), so that the forecast demand of who stays connected fits
  what production, dispatchable plants and storage can give in the interval, *and* the
  storage keeps enough energy to carry the critical loads for ``reserve_hours``.
  Critical loads are disconnected only when even they cannot be served.
* :func:`island_interval` is the physics of one islanded interval (what the simulator's
  world does, and what a grid-forming inverter does in the field): dispatchable plants
  that follow load and then the batteries cover the deficit pro rata to their power; if
  that is not enough, under-frequency load shedding trips further members in the same
  priority order; a surplus the batteries cannot take is curtailed at the generators.

A member is disconnected as a whole (its connection opens), so a shed member neither
consumes nor feeds in; members whose production exceeds their load are never shed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridshare.balancing.self_consumption import BatteryFleet, BatteryStep
from gridshare.errors import DataError
from gridshare.units import BoolArray, FloatArray, IntArray, split_pro_rata


@dataclass(frozen=True, slots=True)
class EmergencyProtocol:
    """A community's islanding rules (scenario ``[balancing.island]``)."""

    reserve_hours: float = 4.0
    """Keep enough stored energy to serve the critical loads this long."""
    shed_non_critical: bool = True
    """Disconnect non-critical loads when energy runs short (else only physics sheds)."""

    def __post_init__(self) -> None:
        if self.reserve_hours < 0:
            raise DataError("reserve_hours must be >= 0")


def shedding_order(critical: BoolArray, priority: IntArray) -> IntArray:
    """Participant positions in the order they are shed: non-critical first, then by
    ascending priority, then by position."""
    n = critical.size
    return np.lexsort((np.arange(n), priority, critical.astype(np.int64)))


def _usable_discharge(fleet: BatteryFleet, stored_wh: IntArray) -> IntArray:
    usable = np.maximum(stored_wh - fleet.min_stored_wh, 0)
    by_energy = np.floor(usable * fleet.discharge_efficiency).astype(np.int64)
    limit: IntArray = np.minimum(fleet.max_step_wh, by_energy)
    return limit


def _usable_charge(fleet: BatteryFleet, stored_wh: IntArray) -> IntArray:
    headroom = np.maximum(fleet.capacity_wh - stored_wh, 0)
    by_energy = np.floor(headroom / fleet.charge_efficiency).astype(np.int64)
    limit: IntArray = np.minimum(fleet.max_step_wh, by_energy)
    return limit


def plan_shedding(
    load_wh: IntArray,
    production_wh: IntArray,
    critical: BoolArray,
    priority: IntArray,
    fleet: BatteryFleet,
    battery_owner: IntArray,
    stored_wh: IntArray,
    dispatchable_wh: int,
    *,
    intervals_per_hour: float,
    protocol: EmergencyProtocol,
) -> BoolArray:
    """Which members to disconnect for the next islanded interval (forecast inputs).

    Members are shed in :func:`shedding_order` (skipping those whose own battery gives at
    least what they take: shedding them would not help) until (1) the connected net
    demand fits
    the dispatchable plants plus what the batteries can discharge in the interval, and
    (2) the energy left in storage after the interval still covers the critical loads'
    forecast demand (net of their production) for ``reserve_hours``.
    """
    n = load_wh.size
    shed = np.zeros(n, dtype=bool)
    if not protocol.shed_non_critical:
        return shed
    net = load_wh - production_wh
    discharge_each = _usable_discharge(fleet, stored_wh)
    energy_each = np.floor(
        np.maximum(stored_wh - fleet.min_stored_wh, 0) * fleet.discharge_efficiency
    ).astype(np.int64)
    can_discharge = int(discharge_each.sum())
    usable_energy = int(energy_each.sum())
    critical_need = max(0, int(net[critical].sum())) * protocol.reserve_hours * intervals_per_hour
    deficit = int(net.sum()) - dispatchable_wh
    for p in shedding_order(critical, priority):
        power_short = deficit > can_discharge
        energy_short = usable_energy - max(deficit, 0) < critical_need and not critical[p]
        if not (power_short or energy_short):
            break
        mine = battery_owner == p
        if net[p] - int(discharge_each[mine].sum()) <= 0:
            continue  # a member that feeds in (or whose battery covers it) stays connected
        shed[p] = True
        deficit -= int(net[p])
        # a shed member's battery no longer serves the island
        can_discharge -= int(discharge_each[mine].sum())
        usable_energy -= int(energy_each[mine].sum())
    return shed


@dataclass(frozen=True, slots=True)
class IslandOutcome:
    """What happened in one islanded interval (int Wh)."""

    connected: BoolArray
    """Members still connected at the end (not shed by command or by protection)."""
    tripped: BoolArray
    """Members the under-frequency protection disconnected beyond the commanded ones."""
    dispatchable_wh: IntArray
    """Output of each load-following plant."""
    battery: BatteryStep
    curtailed_wh: IntArray
    """Production curtailed per member (surplus nobody could take)."""
    imbalance_wh: int
    """Deficit (> 0) or surplus (< 0) left for the grid-forming storage's droop after
    all of the above: zero unless everything is exhausted."""


def island_interval(
    load_wh: IntArray,
    production_wh: IntArray,
    shed: BoolArray,
    critical: BoolArray,
    priority: IntArray,
    fleet: BatteryFleet,
    battery_owner: IntArray,
    stored_wh: IntArray,
    follow_available_wh: IntArray,
) -> IslandOutcome:
    """The physics of one islanded interval; ``shed`` are the members disconnected by
    command. Production must already include base-load plants; ``follow_available_wh``
    is what each load-following plant could give."""
    n = load_wh.size
    if production_wh.shape != (n,) or shed.shape != (n,) or critical.shape != (n,):
        raise DataError("island inputs need one value per member")
    connected = ~shed
    net = np.where(connected, load_wh - production_wh, 0)
    deficit = int(net.sum())
    can_follow = int(follow_available_wh.sum())
    can_discharge_each = _usable_discharge(fleet, stored_wh)
    # batteries of disconnected members cannot serve the island
    can_discharge_each = np.where(connected[battery_owner], can_discharge_each, 0)
    tripped = np.zeros(n, dtype=bool)
    if deficit > can_follow + int(can_discharge_each.sum()):
        for p in shedding_order(critical, priority):
            if deficit <= can_follow + int(can_discharge_each.sum()):
                break
            if not connected[p] or net[p] <= 0:
                continue
            connected[p], tripped[p] = False, True
            deficit -= int(net[p])
            can_discharge_each = np.where(battery_owner == p, 0, can_discharge_each)
    follow = split_pro_rata(max(0, min(deficit, can_follow)), follow_available_wh)
    rest = deficit - int(follow.sum())
    charge = np.zeros_like(stored_wh)
    discharge = np.zeros_like(stored_wh)
    if rest > 0:
        discharge = split_pro_rata(min(rest, int(can_discharge_each.sum())), can_discharge_each)
    elif rest < 0:
        can_charge = np.where(connected[battery_owner], _usable_charge(fleet, stored_wh), 0)
        charge = split_pro_rata(min(-rest, int(can_charge.sum())), can_charge)
    imbalance = rest - int(discharge.sum()) + int(charge.sum())
    curtailed = np.zeros(n, dtype=np.int64)
    if imbalance < 0:  # surplus the storage cannot take: curtail production pro rata
        curtailed = split_pro_rata(-imbalance, np.where(connected, production_wh, 0))
        imbalance = 0
    gain = np.minimum(
        np.floor(charge * fleet.charge_efficiency).astype(np.int64), fleet.capacity_wh - stored_wh
    )
    drop = np.minimum(
        np.ceil(discharge / fleet.discharge_efficiency).astype(np.int64),
        np.maximum(stored_wh - fleet.min_stored_wh, 0),
    )
    step = BatteryStep(
        charge, discharge, stored_wh + gain - drop, (charge - gain) + (drop - discharge)
    )
    return IslandOutcome(connected, tripped, follow, step, curtailed, imbalance)


@dataclass(frozen=True, slots=True)
class Island:
    """One islanded period's totals so far (int Wh): what the emergency protocol shed, the
    critical load it could not serve, and the critical load it served."""

    start_s: int
    intervals: int = 0
    shed_wh: int = 0
    unserved_critical_wh: int = 0
    served_critical_wh: int = 0

    def end_s(self, interval_s: int) -> int:
        return self.start_s + self.intervals * interval_s

    def with_interval(
        self, consumption_wh_f: FloatArray, shed: BoolArray, critical: BoolArray
    ) -> Island:
        """The island after one more interval: ``consumption_wh_f`` is each member's (a shed
        member's forecast one), ``shed`` who was disconnected."""
        return Island(
            self.start_s,
            self.intervals + 1,
            self.shed_wh + int(round(float(consumption_wh_f[shed].sum()))),
            self.unserved_critical_wh + int(round(float(consumption_wh_f[shed & critical].sum()))),
            self.served_critical_wh + int(round(float(consumption_wh_f[~shed & critical].sum()))),
        )
