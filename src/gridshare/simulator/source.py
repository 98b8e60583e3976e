"""The simulated meter source: what every meter of the community would report.

It precomputes generation (pvlib, windpowerlib on the scenario's weather) and load
(BDEW profiles) as cumulative energy series, puts them on the pipeline's intervals a
chunk of intervals at a time (vectorised over members), and steps the members' batteries
and the dispatchable generators interval by interval (vectorised over assets). Meter
values are integer Wh, rounded once per flow, so the meters balance exactly.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridshare.balancing.demand_response import DemandResponseEvent, Enrolment, EventKind
from gridshare.balancing.islanding import island_interval
from gridshare.balancing.self_consumption import (
    BatteryStep,
    community_batteries,
    hold_exchange,
    self_consumption_step,
)
from gridshare.consumption.profiles import QUARTER_HOUR_S, shares_between
from gridshare.errors import DataError
from gridshare.model import (
    NOT_REPORTED,
    Community,
    DispatchMode,
    MeterKind,
    ReadingBatch,
)
from gridshare.model.timeseries import cumulative_at, cumulative_energy
from gridshare.pipeline.ports import NOT_EXPECTED, Setpoints
from gridshare.production import pv as pv_model
from gridshare.production import wind as wind_model
from gridshare.production.dispatchable import follow_load
from gridshare.simulator.community import SimulationPlan
from gridshare.simulator.weather import TypicalYear, weather_for_year, year_start_utc
from gridshare.units import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    WH_PER_KWH,
    BoolArray,
    FloatArray,
    IntArray,
    Interval,
    kwh_to_wh,
    split_pro_rata,
)

HOUR_S = SECONDS_PER_HOUR
DAY_S = SECONDS_PER_DAY


@dataclass(frozen=True)
class _Series:
    """A cumulative energy series (Wh) on a regular grid of native steps."""

    origin_s: int
    step_s: int
    cumulative_wh_f: FloatArray

    def at(self, instants_s: IntArray) -> FloatArray:
        return cumulative_at(self.cumulative_wh_f, self.origin_s, self.step_s, instants_s)


@dataclass
class GroundTruth:
    """What really happened in the simulated world, to check the pipeline against."""

    consumption_wh: IntArray
    production_wh: IntArray
    storage_losses_wh: int = 0
    unserved_wh: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Demand of members disconnected while islanded (per member)."""
    unserved_critical_wh: int = 0
    curtailed_wh: int = 0
    island_imbalance_wh: int = 0


class SimulatedMeterSource:
    """A ``ReadingSource`` for a simulated community, over ``[start_s, end_s)``."""

    def __init__(
        self,
        community: Community,
        plan: SimulationPlan,
        weather: TypicalYear,
        start_s: int,
        end_s: int,
        chunk_intervals: int = 672,
        *,
        outages: tuple[tuple[int, int], ...] = (),
        critical: BoolArray | None = None,
        priority: IntArray | None = None,
        opt_out_probability: FloatArray | None = None,
        rebound: FloatArray | None = None,
        seed: int = 0,
    ) -> None:
        self.community = community
        self.plan = plan
        self.length_s = int(community.interval_length.total_seconds())
        self.start_s, self.end_s = start_s, end_s
        self.chunk_intervals = chunk_intervals
        n_participants = len(community.participants)
        self.truth = GroundTruth(
            np.zeros(n_participants, dtype=np.int64),
            np.zeros(n_participants, dtype=np.int64),
            unserved_wh=np.zeros(n_participants, dtype=np.int64),
        )
        self.outages = outages
        """``[start_s, end_s)`` spans when the main grid is lost."""
        self.critical = (
            np.zeros(n_participants, dtype=bool) if critical is None else np.asarray(critical)
        )
        self.priority = (
            np.zeros(n_participants, dtype=np.int64) if priority is None else np.asarray(priority)
        )
        self._setpoints: dict[int, Setpoints] = {}
        self.seed = seed
        self.opt_out_probability = (
            np.zeros(n_participants) if opt_out_probability is None else opt_out_probability
        )
        self.rebound = np.ones(n_participants) if rebound is None else rebound
        self._answers: dict[str, dict[int, bool]] = {}
        self._load_change: dict[int, dict[int, int]] = {}
        """Interval start -> participant -> Wh its flexible load changes by (< 0 curtailed)."""
        self._position_cache: dict[tuple[str, ...], IntArray] = {}
        self._build_meter_layout()
        self._build_generation(weather)
        self._build_loads()
        self._build_batteries()
        self._next_start_s = start_s
        self._chunk_start_s = -1
        self._chunk_load: IntArray = np.zeros((0, 0), dtype=np.int64)
        self._chunk_gen: IntArray = np.zeros((0, 0), dtype=np.int64)

    # -- set-up ---------------------------------------------------------------------
    def _build_meter_layout(self) -> None:
        c = self.community
        n = len(c.participants)
        self.grid_pos = np.full(n, -1, dtype=np.int64)
        self.asset_meter_pos: dict[str, int] = {}
        self.participant_index = {p.participant_id: i for i, p in enumerate(c.participants)}
        for position, meter in enumerate(c.meters):
            if meter.kind is MeterKind.GRID:
                self.grid_pos[self.participant_index[meter.participant_id]] = position
            elif meter.kind is MeterKind.PCC:
                self.pcc_pos = position
            elif meter.asset_id is not None:
                self.asset_meter_pos[meter.asset_id] = position
        self.has_grid = self.grid_pos >= 0

    def _hourly_window(self, typical: TypicalYear) -> tuple[int, list[pd.DataFrame]]:
        zone_offset = typical.utc_offset_hours
        first = pd.Timestamp(self.start_s - DAY_S, unit="s", tz="UTC")
        last = pd.Timestamp(self.end_s + DAY_S, unit="s", tz="UTC")
        first_year = (first + pd.Timedelta(hours=zone_offset)).year
        last_year = (last + pd.Timedelta(hours=zone_offset)).year
        frames = [weather_for_year(typical, y) for y in range(first_year, last_year + 1)]
        return int(year_start_utc(typical, first_year).timestamp()), frames

    def _build_generation(self, typical: TypicalYear) -> None:
        origin_s, frames = self._hourly_window(typical)
        weather = pd.concat(frames)
        mid_hour = weather.copy()
        mid_hour.index = weather.index + pd.Timedelta(minutes=30)
        plan = self.plan
        series: list[_Series] = []
        owners: list[int] = []
        meter_pos: list[int] = []
        per_kwp: dict[object, FloatArray] = {}
        for array, design in plan.pv:
            if design not in per_kwp:
                power_kw = pv_model.ac_power_kw(mid_hour, design, plan.location, kwp=1.0)
                per_kwp[design] = power_kw.to_numpy(dtype=np.float64) * WH_PER_KWH
            series.append(_Series(origin_s, HOUR_S, cumulative_energy(per_kwp[design] * array.kwp)))
            owners.append(self.participant_index[array.participant_id])
            meter_pos.append(self.asset_meter_pos[array.asset_id])
        for turbine in plan.wind:
            power_kw = wind_model.ac_power_kw(
                weather, turbine.turbine_type, turbine.hub_height_m, plan.roughness_length_m
            )
            hourly_wh = power_kw.to_numpy(dtype=np.float64) * WH_PER_KWH
            series.append(_Series(origin_s, HOUR_S, cumulative_energy(hourly_wh)))
            owners.append(self.participant_index[turbine.participant_id])
            meter_pos.append(self.asset_meter_pos[turbine.asset_id])
        self.gen_series = series
        self.gen_owner = np.array(owners, dtype=np.int64)
        self.gen_meter_pos = np.array(meter_pos, dtype=np.int64)

        hours = self.length_s / HOUR_S
        d = plan.dispatchable
        self.disp_owner = np.array(
            [self.participant_index[g.participant_id] for g in d], dtype=np.int64
        )
        self.disp_meter_pos = np.array(
            [self.asset_meter_pos[g.asset_id] for g in d], dtype=np.int64
        )
        self.disp_available_wh = np.array(
            [kwh_to_wh(g.available_kw * hours) for g in d], dtype=np.int64
        )
        self.disp_follows = np.array(
            [g.dispatch_mode is DispatchMode.FOLLOW_LOAD for g in d], dtype=bool
        )
        self.follow_ids = tuple(
            g.asset_id for g in d if g.dispatch_mode is DispatchMode.FOLLOW_LOAD
        )

    def _build_loads(self) -> None:
        tz = self.community.time_zone
        loads = self.plan.loads
        self.load_owner = np.array([m.participant_index for m in loads], dtype=np.int64)
        self.load_annual_wh = np.array([m.annual_kwh * WH_PER_KWH for m in loads], dtype=np.float64)
        combos = sorted({(m.profile, m.shift_s) for m in loads})
        self.load_combo = np.array(
            [combos.index((m.profile, m.shift_s)) for m in loads], dtype=np.int64
        )
        self.load_combos = combos
        self.profile_series: dict[str, _Series] = {}
        for profile in sorted({m.profile for m in loads}):
            origin_s, shares = shares_between(profile, tz, self.start_s, self.end_s)
            self.profile_series[profile] = _Series(
                origin_s, QUARTER_HOUR_S, cumulative_energy(shares)
            )

    def _build_batteries(self) -> None:
        batteries = community_batteries(self.community)
        self.bat_ids = batteries.asset_ids
        self.bat_owner = batteries.owner
        self.bat_meter_pos = batteries.meter_pos
        self.fleet = batteries.fleet
        self.bat_stored = self.community.catalogue.initial_stored_wh[self.bat_meter_pos].copy()

    # -- chunks ---------------------------------------------------------------------
    def _load_chunk(self, chunk_start_s: int) -> None:
        """Whole-Wh loads and generation of a chunk of intervals.

        Energies are differences of the rounded cumulative energy at interval boundaries,
        like a meter's register, so rounding never drifts: a member's yearly total is
        its configured energy to within 1 Wh.
        """
        count = min(self.chunk_intervals, (self.end_s - chunk_start_s) // self.length_s)
        bounds = chunk_start_s + self.length_s * np.arange(count + 1, dtype=np.int64)
        share = np.empty((count + 1, len(self.load_combos)), dtype=np.float64)
        for j, (profile, shift_s) in enumerate(self.load_combos):
            share[:, j] = self.profile_series[profile].at(bounds - shift_s)
        load_register = np.rint(share[:, self.load_combo] * self.load_annual_wh)
        self._chunk_load = np.diff(load_register, axis=0).astype(np.int64)
        gen_register = np.empty((count + 1, len(self.gen_series)), dtype=np.float64)
        for j, series in enumerate(self.gen_series):
            gen_register[:, j] = np.rint(series.at(bounds))
        self._chunk_gen = np.diff(gen_register, axis=0).astype(np.int64)
        self._chunk_start_s = chunk_start_s

    # -- the ReadingSource port -----------------------------------------------------
    durable = False
    """Simulated readings are written by the loop, not stored on arrival."""

    def collect(self, interval: Interval) -> ReadingBatch:
        """Every meter's reading for ``interval``; intervals must come in order."""
        start_s = interval.start_s
        if interval.length_s != self.length_s or start_s != self._next_start_s:
            raise DataError(
                f"the simulated meters are at {self._next_start_s}, not {start_s}: "
                "intervals must be collected in order"
            )
        if start_s >= self.end_s:
            raise DataError("the simulation has ended")
        row = (start_s - self._chunk_start_s) // self.length_s
        if self._chunk_start_s < 0 or row >= self._chunk_load.shape[0]:
            self._load_chunk(start_s)
            row = 0
        self._next_start_s = start_s + self.length_s
        return self._step(interval, self._chunk_load[row], self._chunk_gen[row])

    # -- the DeviceControl and GridStatus ports ----------------------------------------
    def apply(self, setpoints: Setpoints) -> None:
        """Take the balancing step's commands for an interval (simulated devices obey,
        within their physical limits)."""
        if setpoints.interval_start_s < self._next_start_s:
            raise DataError("setpoints came for an interval the simulation has passed")
        self._setpoints[setpoints.interval_start_s] = setpoints

    def is_connected(self, interval_start_s: int) -> bool:
        """Whether the main grid is connected in the interval (the scenario's outages)."""
        return not any(a <= interval_start_s < b for a, b in self.outages)

    # -- the EventChannel port (simulated flexible loads) -------------------------------
    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        """Members' devices hear a demand-response event: each declines with its group's
        opt-out probability (seeded), the others curtail as asked (a shift event's energy
        comes back, by the group's rebound share, right after the window)."""
        rng = np.random.default_rng([self.seed, zlib.crc32(event.event_id.encode())])
        answers: dict[int, bool] = {}
        length = self.length_s
        for p in event.participants:
            joins = bool(rng.random() >= self.opt_out_probability[p])
            answers[p] = joins
            if not joins:
                continue
            per_interval = event.requested_wh(p) // event.n_intervals
            for start in range(event.start_s, event.end_s, length):
                self._load_change.setdefault(start, {})[p] = -per_interval
            if event.kind is EventKind.SHIFT and event.rebound_end_s is not None:
                back = int(event.requested_wh(p) * self.rebound[p])
                steps = (event.rebound_end_s - event.end_s) // length
                for k, start in enumerate(range(event.end_s, event.rebound_end_s, length)):
                    share = back // steps + (1 if k < back % steps else 0)
                    changes = self._load_change.setdefault(start, {})
                    changes[p] = changes.get(p, 0) + share
        self._answers[event.event_id] = answers

    def responses(self, event_id: str) -> dict[int, bool]:
        """Who opted in (True) or out (False) of an event."""
        return dict(self._answers.get(event_id, {}))

    def _positions(self, ids: tuple[str, ...], known: tuple[str, ...]) -> IntArray:
        cached = self._position_cache.get(ids)
        if cached is None:
            index = {asset_id: i for i, asset_id in enumerate(known)}
            try:
                cached = np.array([index[i] for i in ids], dtype=np.int64)
            except KeyError as exc:
                raise DataError(f"a setpoint names unknown device {exc.args[0]!r}") from None
            self._position_cache[ids] = cached
        return cached

    def _step(self, interval: Interval, load: IntArray, gen: IntArray) -> ReadingBatch:
        n = len(self.community.participants)
        start_s = interval.start_s
        commands = self._setpoints.pop(start_s, None)
        consumption = np.bincount(self.load_owner, weights=load, minlength=n).astype(np.int64)
        for p, change in self._load_change.pop(start_s, {}).items():
            # a flexible load cannot curtail more than the member uses
            consumption[p] = max(consumption[p] + change, 0)
        production = np.bincount(self.gen_owner, weights=gen, minlength=n).astype(np.int64)
        dispatched = np.where(self.disp_follows, 0, self.disp_available_wh)
        production += np.bincount(self.disp_owner, weights=dispatched, minlength=n).astype(np.int64)
        if not self.is_connected(start_s):
            return self._island_step(interval, consumption, production, gen, dispatched, commands)

        surplus = production[self.bat_owner] - consumption[self.bat_owner]
        follow_available = self.disp_available_wh[self.disp_follows]
        if commands is None or commands.battery_net_wh is None:
            step = self_consumption_step(self.fleet, self.bat_stored, surplus)
            net = consumption + self._per_member(step) - production
            shares = follow_load(int(net.sum()), follow_available)
        else:
            setpoint, shares = self._follow(commands, surplus, follow_available)
            if commands.planned_exchange_wh is not None:
                # the controller at the connection holds the planned exchange: plants
                # first, then the batteries, absorb what the forecast missed
                net_before = int((consumption - production).sum()) + int(setpoint.sum())
                # it never spends storage to keep up a planned export: only unplanned
                # import is covered, and unplanned surplus is stored
                target = commands.planned_exchange_wh
                deviation = net_before - int(shares.sum()) - target
                if deviation > 0:
                    deviation = max(0, net_before - int(shares.sum()) - max(target, 0))
                room = follow_available - shares
                up = split_pro_rata(min(max(deviation, 0), int(room.sum())), room)
                down = split_pro_rata(min(max(-deviation, 0), int(shares.sum())), shares)
                moved = shares + up - down
                deviation -= int(moved.sum() - shares.sum())
                shares = moved
                setpoint = hold_exchange(self.fleet, self.bat_stored, setpoint, deviation)
            step = self_consumption_step(self.fleet, self.bat_stored, setpoint)
            net = consumption + self._per_member(step) - production
        self.bat_stored = step.stored_wh
        if self.disp_follows.any():
            dispatched[self.disp_follows] = shares
            following = np.bincount(
                self.disp_owner[self.disp_follows], weights=shares, minlength=n
            ).astype(np.int64)
            net -= following
            production += following

        self.truth.consumption_wh += consumption
        self.truth.production_wh += production
        self.truth.storage_losses_wh += int(step.loss_wh.sum())
        return self._readings(interval, net, gen, dispatched, step)

    def _per_member(self, step: BatteryStep) -> IntArray:
        """Each member's net battery charge (charge - discharge, int Wh)."""
        n = len(self.community.participants)
        net = np.bincount(self.bat_owner, weights=step.charge_wh - step.discharge_wh, minlength=n)
        return net.astype(np.int64)

    def _follow(
        self, commands: Setpoints, surplus: IntArray, follow_available: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Battery setpoints (with each owner's forecast error absorbed where the plan
        says so) and load-following plants' outputs, from the commands."""
        setpoint = np.zeros(self.bat_owner.size, dtype=np.int64)
        at = self._positions(commands.battery_ids, self.bat_ids)
        if commands.battery_net_wh is not None:
            setpoint[at] = commands.battery_net_wh
        if commands.expected_net_wh is not None:
            expected = np.full(self.bat_owner.size, NOT_EXPECTED, dtype=np.int64)
            expected[at] = commands.expected_net_wh
            holds = expected != NOT_EXPECTED
            setpoint[holds] += expected[holds] + surplus[holds]
        shares = np.zeros(follow_available.size, dtype=np.int64)
        if commands.plant_net_wh is not None and follow_available.size:
            ordered = self._positions(commands.plant_ids, self.follow_ids)
            # a plant's output is a negative net import at its meter
            shares[ordered] = np.clip(-commands.plant_net_wh, 0, follow_available[ordered])
        return setpoint, shares

    def _island_step(
        self,
        interval: Interval,
        consumption: IntArray,
        production: IntArray,
        gen: IntArray,
        dispatched: IntArray,
        commands: Setpoints | None,
    ) -> ReadingBatch:
        """The grid is lost: storage forms the grid, loads are shed as commanded (and by
        under-frequency protection if that is not enough), surplus is curtailed."""
        n = consumption.size
        shed = np.zeros(n, dtype=bool)
        if commands is not None and commands.shed is not None:
            shed = commands.shed.copy()
        outcome = island_interval(
            consumption,
            production,
            shed,
            self.critical,
            self.priority,
            self.fleet,
            self.bat_owner,
            self.bat_stored,
            self.disp_available_wh[self.disp_follows],
        )
        step = outcome.battery
        self.bat_stored = step.stored_wh
        connected = outcome.connected
        dispatched[self.disp_follows] = outcome.dispatchable_wh
        # curtailment and disconnection reach the generators' meters
        gen = gen.copy()
        for p in np.nonzero(outcome.curtailed_wh)[0].tolist():
            mine = np.nonzero(self.gen_owner == p)[0]
            gen[mine] -= split_pro_rata(int(outcome.curtailed_wh[p]), gen[mine])
        off = ~connected
        gen[off[self.gen_owner]] = 0
        dispatched[off[self.disp_owner]] = 0
        served = np.where(connected, consumption, 0)
        produced = np.bincount(self.gen_owner, weights=gen, minlength=n).astype(np.int64)
        produced += np.bincount(self.disp_owner, weights=dispatched, minlength=n).astype(np.int64)
        net = served + self._per_member(step) - produced
        unserved = consumption - served
        self.truth.consumption_wh += served
        self.truth.production_wh += produced
        self.truth.storage_losses_wh += int(step.loss_wh.sum())
        self.truth.unserved_wh += unserved
        self.truth.unserved_critical_wh += int(unserved[self.critical].sum())
        self.truth.curtailed_wh += int(outcome.curtailed_wh.sum())
        if outcome.imbalance_wh:
            # storage and protection exhausted: the island cannot hold; count it as unserved
            self.truth.island_imbalance_wh += outcome.imbalance_wh
        return self._readings(interval, net, gen, dispatched, step, islanded=True)

    def _readings(
        self,
        interval: Interval,
        net: IntArray,
        gen: IntArray,
        dispatched: IntArray,
        step: BatteryStep,
        *,
        islanded: bool = False,
    ) -> ReadingBatch:
        m = len(self.community.meters)
        import_wh = np.zeros(m, dtype=np.int64)
        export_wh = np.zeros(m, dtype=np.int64)
        stored_wh = np.full(m, NOT_REPORTED, dtype=np.int64)
        grid = self.grid_pos[self.has_grid]
        member_net = net[self.has_grid]
        import_wh[grid] = np.maximum(member_net, 0)
        export_wh[grid] = np.maximum(-member_net, 0)
        export_wh[self.gen_meter_pos] = gen
        export_wh[self.disp_meter_pos] = dispatched
        import_wh[self.bat_meter_pos] = step.charge_wh
        export_wh[self.bat_meter_pos] = step.discharge_wh
        stored_wh[self.bat_meter_pos] = step.stored_wh
        community_net = 0 if islanded else int(member_net.sum())
        import_wh[self.pcc_pos] = max(community_net, 0)
        export_wh[self.pcc_pos] = max(-community_net, 0)
        return ReadingBatch(interval, np.arange(m, dtype=np.int64), import_wh, export_wh, stored_wh)
