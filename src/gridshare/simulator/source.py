"""The simulated meter source: what every meter of the community would report.

It precomputes generation (pvlib, windpowerlib on the scenario's weather) and load
(BDEW profiles) as cumulative energy series, puts them on the pipeline's intervals a
chunk of intervals at a time (vectorised over members), and steps the members' batteries
and the dispatchable generators interval by interval (vectorised over assets). Meter
values are integer Wh, rounded once per flow, so the meters balance exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridshare.balancing.self_consumption import BatteryFleet, self_consumption_step
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
from gridshare.production import pv as pv_model
from gridshare.production import wind as wind_model
from gridshare.production.dispatchable import follow_load
from gridshare.simulator.community import SimulationPlan
from gridshare.simulator.weather import TypicalYear, weather_for_year, year_start_utc
from gridshare.units import Interval, kwh_to_wh

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
HOUR_S = 3600
DAY_S = 86_400


@dataclass(frozen=True)
class _Series:
    """A cumulative energy series (Wh) on a regular grid of native steps."""

    origin_s: int
    step_s: int
    cumulative_wh: FloatArray

    def at(self, instants_s: IntArray) -> FloatArray:
        return cumulative_at(self.cumulative_wh, self.origin_s, self.step_s, instants_s)


@dataclass
class GroundTruth:
    """What really happened in the simulated world, to check the pipeline against."""

    consumption_wh: IntArray
    production_wh: IntArray
    storage_losses_wh: int = 0


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
    ) -> None:
        self.community = community
        self.plan = plan
        self.length_s = int(community.interval_length.total_seconds())
        self.start_s, self.end_s = start_s, end_s
        self.chunk_intervals = chunk_intervals
        n_participants = len(community.participants)
        self.truth = GroundTruth(
            np.zeros(n_participants, dtype=np.int64), np.zeros(n_participants, dtype=np.int64)
        )
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
                per_kwp[design] = power_kw.to_numpy(dtype=np.float64) * 1000.0
            series.append(_Series(origin_s, HOUR_S, cumulative_energy(per_kwp[design] * array.kwp)))
            owners.append(self.participant_index[array.participant_id])
            meter_pos.append(self.asset_meter_pos[array.asset_id])
        for turbine in plan.wind:
            power_kw = wind_model.ac_power_kw(
                weather, turbine.turbine_type, turbine.hub_height_m, plan.roughness_length_m
            )
            hourly_wh = power_kw.to_numpy(dtype=np.float64) * 1000.0
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

    def _build_loads(self) -> None:
        tz = self.community.time_zone
        loads = self.plan.loads
        self.load_owner = np.array([m.participant_index for m in loads], dtype=np.int64)
        self.load_annual_wh = np.array([m.annual_kwh * 1000.0 for m in loads], dtype=np.float64)
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
        b = self.plan.batteries
        hours = self.length_s / HOUR_S
        self.bat_owner = np.array(
            [self.participant_index[x.participant_id] for x in b], dtype=np.int64
        )
        self.bat_meter_pos = np.array([self.asset_meter_pos[x.asset_id] for x in b], dtype=np.int64)
        self.fleet = BatteryFleet.from_round_trip(
            capacity_wh=np.array([kwh_to_wh(x.capacity_kwh) for x in b], dtype=np.int64),
            min_stored_wh=np.array(
                [kwh_to_wh(x.capacity_kwh * x.min_soc_fraction) for x in b], dtype=np.int64
            ),
            max_step_wh=np.array([kwh_to_wh(x.power_kw * hours) for x in b], dtype=np.int64),
            round_trip_efficiency=np.array([x.round_trip_efficiency for x in b], dtype=np.float64),
        )
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

    def _step(self, interval: Interval, load: IntArray, gen: IntArray) -> ReadingBatch:
        n = len(self.community.participants)
        consumption = np.bincount(self.load_owner, weights=load, minlength=n).astype(np.int64)
        production = np.bincount(self.gen_owner, weights=gen, minlength=n).astype(np.int64)
        dispatched = np.where(self.disp_follows, 0, self.disp_available_wh)
        production += np.bincount(self.disp_owner, weights=dispatched, minlength=n).astype(np.int64)

        surplus = production[self.bat_owner] - consumption[self.bat_owner]
        step = self_consumption_step(self.fleet, self.bat_stored, surplus)
        self.bat_stored = step.stored_wh
        charge = np.bincount(self.bat_owner, weights=step.charge_wh, minlength=n).astype(np.int64)
        discharge = np.bincount(self.bat_owner, weights=step.discharge_wh, minlength=n).astype(
            np.int64
        )

        net = consumption + charge - production - discharge
        if self.disp_follows.any():
            deficit = int(net.sum())
            shares = follow_load(deficit, self.disp_available_wh[self.disp_follows])
            dispatched[self.disp_follows] = shares
            following = np.bincount(
                self.disp_owner[self.disp_follows], weights=shares, minlength=n
            ).astype(np.int64)
            net -= following
            production += following

        self.truth.consumption_wh += consumption
        self.truth.production_wh += production
        self.truth.storage_losses_wh += int(step.loss_wh.sum())

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
        community_net = int(member_net.sum())
        import_wh[self.pcc_pos] = max(community_net, 0)
        export_wh[self.pcc_pos] = max(-community_net, 0)
        return ReadingBatch(interval, np.arange(m, dtype=np.int64), import_wh, export_wh, stored_wh)
