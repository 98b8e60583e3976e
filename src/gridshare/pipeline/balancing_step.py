"""Pipeline step: monitor the community's balance and plan the next interval's dispatch.

On the close of interval ``t`` the step

1. **monitors** ``t``: supply against demand, the exchange with the main grid, the
   reserve margin, the island frequency (droop) and, with a network, the AC power flow
   (bus voltages, line loading, losses); every limit approached or crossed raises an
   :class:`~gridshare.balancing.monitor.Alert`, stored, counted and passed to
   ``on_alert`` (the CLI prints it with Rich);
2. runs the **self-consumption rule** on the same metered inputs in a shadow fleet, so
   the run can report what the optimiser changed (peak import and cost, before/after);
3. **plans** ``t + 1`` over a rolling horizon (default 24 h): forecasts (seasonal
   persistence) of every member's consumption and production, the market's cleared
   sales for ``t + 1``, the batteries' state, the load-following plants and, with a
   network, linearised voltage limits go into the dispatch LP
   (:func:`~gridshare.balancing.dispatch.optimise_dispatch`); the first interval of
   the plan is sent to the devices (``DeviceControl``) and its hash recorded;
4. when the main grid is lost (``GridStatus``), **islands**: storage forms the grid,
   the emergency protocol sheds non-critical members by priority so that critical
   loads are served as long as energy allows, and the island is recorded on
   reconnection;
5. runs **demand response** (``DemandResponse``): events when the plan cannot keep the
   import under the connection's limit, responses measured against a baseline after
   each event, payments in CommunityCredit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.balancing.dispatch import (
    Generators,
    Schedule,
    VoltageLimits,
    grid_cost_micros_f,
    linearised_voltage_limits,
    optimise_dispatch,
    planned_member_net_wh,
    rule_cost_micros_f,
)
from gridshare.balancing.forecast import SeasonalForecaster
from gridshare.balancing.horizon import block_sum, horizon_spans
from gridshare.balancing.islanding import EmergencyProtocol, Island, plan_shedding
from gridshare.balancing.monitor import (
    Alert,
    BalanceLimits,
    BalanceSnapshot,
    assess,
    reserve_kw,
)
from gridshare.balancing.plants import load_following_plants, plant_output_wh
from gridshare.balancing.power_flow import droop_frequency_hz
from gridshare.balancing.schedule import net_setpoints, schedule_hash
from gridshare.balancing.self_consumption import community_batteries, rule_exchange_wh
from gridshare.model import Community
from gridshare.model.summary import BalancingSummary
from gridshare.pipeline.balancing_figures import BalancingFigures
from gridshare.pipeline.balancing_records import (
    alert_records,
    interval_record,
    island_event_records,
)
from gridshare.pipeline.closing import ClosedInterval
from gridshare.pipeline.context import Accounted, Cleared, IntervalContext, Planned
from gridshare.pipeline.demand_response import DemandResponseDesk
from gridshare.pipeline.ports import (
    NOT_EXPECTED,
    BalancingStore,
    DeviceControl,
    GridStatus,
    Setpoints,
)
from gridshare.units import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    WH_PER_KWH,
    BoolArray,
    FloatArray,
    IntArray,
    kw_per_wh,
    kw_to_wh_f,
)


class NetworkModel(Protocol):
    """The AC power flow (``balancing.power_flow.PowerFlowModel``)."""

    def solve(self, p_kw: FloatArray) -> Any: ...

    def sensitivity(self, p_kw_base: FloatArray) -> FloatArray: ...


class BalancingChain(Protocol):
    """The GridBalancing contract (``ledger.balancing.BalancingLedger``)."""

    def record_schedules(self, schedules: Sequence[tuple[int, int, bytes, int, int]]) -> int:
        """(interval start, horizon intervals, hash, planned cost, rule cost) per plan."""
        ...

    def record_island(
        self, start_s: int, end_s: int, shed_wh: int, unserved_critical_wh: int, served_wh: int
    ) -> int: ...


@dataclass(frozen=True)
class BalancingOptions:
    """How the community balances (scenario ``[balancing]``)."""

    limits: BalanceLimits
    critical: BoolArray
    """Per participant: a critical load, served first."""
    priority: IntArray
    """Per participant: shedding order among non-critical loads (lowest shed first)."""
    optimise: bool = True
    horizon_intervals: int = 96
    fine_intervals: int = 8
    """The first intervals of the plan at full resolution; the rest in blocks."""
    block_intervals: int = 4
    protocol: EmergencyProtocol = field(default_factory=EmergencyProtocol)
    plant_cost_micros_per_kwh: dict[str, int] = field(default_factory=dict)
    """Marginal cost of load-following plants by kind (``hydro``, ``biomass``)."""
    nominal_hz: float = 50.0
    droop_percent: float = 0.25
    voltage_margin_pu: float = 0.005
    dr_trigger_kw: float = float("inf")
    """Call demand response when the plan's import exceeds this (kW)."""
    """Buses within this of a limit are watched: the plan keeps them inside."""


class _Plan(NamedTuple):
    """A solved plan with what the chain records beside it."""

    schedule: Schedule
    spans: IntArray
    """Intervals per step of the plan."""
    cost_micros: int
    """The plan's cost at the connection (without penalties), to the nearest micro-unit."""
    rule_cost_micros: int
    """The self-consumption rule's cost on the same forecast, to the nearest micro-unit."""
    member_net: Planned | None
    """Each member's planned net exchange in the interval after the dispatched one, when
    the plan has it at full resolution (the market's agents order from it)."""


class BalancingStep:
    """Monitors every interval and plans the next one (see the module docstring)."""

    name = "balancing"
    provides: tuple[type, ...] = (Planned,)

    def __init__(
        self,
        community: Community,
        options: BalancingOptions,
        *,
        control: DeviceControl | None = None,
        grid: GridStatus | None = None,
        market: bool = False,
        network: NetworkModel | None = None,
        chain: BalancingChain | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        flush_every: int = 1,
        demand_response: DemandResponseDesk | None = None,
    ) -> None:
        self.community = community
        self.options = options
        self.control = control
        self.grid = grid
        self.requires: tuple[type, ...] = (Accounted, Cleared) if market else (Accounted,)
        """The interval's metered flows and, with a market, what members sold for the
        next interval (the plan keeps each seller's export at least that)."""
        self.network = network
        self.chain = chain
        self.on_alert = on_alert
        self.flush_every = flush_every
        self.dr = demand_response
        c = community
        n = len(c.participants)
        self.n = n
        self.length_s = int(c.interval_length.total_seconds())
        self.hours = self.length_s / SECONDS_PER_HOUR
        if options.critical.shape != (n,) or options.priority.shape != (n,):
            raise ValueError("critical and priority need one value per participant")
        self.batteries = community_batteries(c)
        b = self.batteries
        # one battery per owner carries the owner's forecast net load in the LP
        self._carries_load = np.zeros(b.owner.size, dtype=bool)
        self._carries_load[np.unique(b.owner, return_index=True)[1]] = True
        self._rated_kw = float(b.fleet.max_step_wh.sum()) / WH_PER_KWH / self.hours
        plants = load_following_plants(c, self.hours, options.plant_cost_micros_per_kwh)
        self.plant_ids = plants.asset_ids
        self.plant_owner = plants.owner
        self.plant_meter = plants.meter
        self.plant_available_wh = plants.available_wh
        self.plant_cost = plants.cost_micros_per_kwh
        self.device_meters = tuple(c.meters[int(m)].meter_id for m in b.meter_pos) + tuple(
            c.meters[int(m)].meter_id for m in self.plant_meter
        )
        """Meters of the planned devices: their setpoints are stored and hashed as net
        charge (a plant's output is a negative charge)."""
        fleet = self.batteries.fleet
        eta = float(fleet.discharge_efficiency.mean()) if fleet.capacity_wh.size else 1.0
        self.tariff = community.tariff
        self._terminal_value = self.tariff.export_price_micros_per_kwh * eta
        """Stored energy is surely worth what it would earn exported (docs/balancing.md)."""
        per_day = SECONDS_PER_DAY // self.length_s
        self._consumption = SeasonalForecaster(n, per_day)
        self._production = SeasonalForecaster(n, per_day)
        self._shadow_stored: IntArray | None = None
        self._stored: IntArray = c.catalogue.initial_stored_wh[self.batteries.meter_pos].copy()
        """The batteries' stored energy after the latest interval."""
        self._expected_consumption = np.zeros(n, dtype=np.float64)
        self._start_figures()

    def _start_figures(self) -> None:
        """The run's figures, accumulated interval by interval for the summary."""
        self.figures = BalancingFigures(
            optimise=self.options.optimise,
            horizon_intervals=self.options.horizon_intervals,
            interval_hours=self.hours,
            demand_charge_micros_per_kw=self.tariff.demand_charge_micros_per_kw,
            terminal_value_micros_per_kwh=self._terminal_value,
        )
        self._island: Island | None = None
        self._shedding = False
        """The last setpoints dispatched shed members: the next must restore them."""
        self._watched: IntArray = np.zeros(0, dtype=np.int64)
        self._last_vm: FloatArray | None = None
        self._last_p_kw: FloatArray | None = None
        self._pending_schedules: list[tuple[int, int, bytes, int, int]] = []

    # -- per interval ---------------------------------------------------------------------
    def run(self, ctx: IntervalContext, tx: BalancingStore) -> None:
        closed = ctx.closed
        accounted = ctx.require(Accounted)
        flows, balance = accounted.flows, accounted.balance
        start = closed.interval.start_s
        self.figures.intervals += 1
        plant_out = plant_output_wh(closed.batch, self.plant_meter)
        plant_by_owner = np.bincount(self.plant_owner, weights=plant_out, minlength=self.n)
        consumption = flows.consumption_wh.astype(np.float64)
        production = flows.production_wh - plant_by_owner
        islanded = self.grid is not None and not self.grid.is_connected(start)
        stored = accounted.stored_wh[self.batteries.meter_pos]
        self._stored = stored

        shed_now = np.zeros(self.n, dtype=bool)
        if islanded:
            connected_flow = (flows.grid_import_wh + flows.grid_export_wh + flows.production_wh) > 0
            shed_now = ~connected_flow & (self._expected_consumption > 0)
            # a disconnected member's forecast is kept: its meters read nothing while shed
            consumption = np.where(shed_now, self._expected_consumption, consumption)
        self._consumption.observe(consumption)
        self._production.observe(production.astype(np.float64))
        if self.dr is not None:
            self.dr.observe(start, flows.consumption_wh)
            self.dr.settle_due(start + self.length_s, tx)

        snapshot = self._monitor(closed, flows, balance, stored, islanded, shed_now)
        alerts = assess(snapshot, self.options.limits)
        for alert in alerts:
            self.figures.alert_counts[(alert.kind.value, alert.severity.value)] += 1
            if self.on_alert is not None:
                self.on_alert(alert)
        if alerts:
            tx.write_balancing_alerts(alert_records(alerts))
        self._track_island(start, islanded, shed_now, consumption)
        self._compare_with_rule(start, flows, balance, stored, plant_out, islanded)
        cleared = ctx.find(Cleared)
        sold = cleared.sold_wh if cleared and cleared.start_s == start + self.length_s else None
        setpoints, plan = self._plan(start + self.length_s, stored, sold)
        if plan is not None and plan.member_net is not None:
            ctx.provide(plan.member_net)
        if plan is not None and self.dr is not None:
            self._call_demand_response(start + self.length_s, plan, tx)
        plan_hash, planned_import_wh = self._dispatch(start + self.length_s, setpoints, plan, tx)
        tx.write_balancing_interval(
            interval_record(
                snapshot,
                self.hours,
                alerts=len(alerts),
                next_plan_hash=plan_hash,
                next_planned_import_wh=planned_import_wh,
            )
        )
        if self.figures.intervals % self.flush_every == 0:
            self.flush()

    def _dispatch(
        self, start: int, setpoints: Setpoints | None, plan: _Plan | None, tx: BalancingStore
    ) -> tuple[str | None, int | None]:
        """Send the setpoints for ``start`` to the devices (recording a plan's); returns the
        plan's hash and import, if there was a plan."""
        if setpoints is None and self._shedding:  # island over, no plan yet: all served
            setpoints = Setpoints(start)
        self._shedding = setpoints is not None and setpoints.shed is not None
        if setpoints is None:
            return None, None
        recorded: tuple[str | None, int | None] = (None, None)
        if plan is not None:
            recorded = self._record_plan(setpoints, plan, tx)
        if self.control is not None:
            self.control.apply(setpoints)
        return recorded

    def _record_plan(
        self, setpoints: Setpoints, plan: _Plan, tx: BalancingStore
    ) -> tuple[str, int]:
        """Store the dispatched setpoints, hash them for the chain with the plan's cost and
        the self-consumption rule's cost over the same forecast; returns the hash (0x-hex)
        and the plan's import in the dispatched interval (int Wh)."""
        battery = [] if setpoints.battery_net_wh is None else setpoints.battery_net_wh.tolist()
        plant = [] if setpoints.plant_net_wh is None else setpoints.plant_net_wh.tolist()
        net = battery + plant
        digest = schedule_hash(setpoints.interval_start_s, [net_setpoints(self.device_meters, net)])
        tx.write_dispatch_setpoints(setpoints.interval_start_s, self.device_meters, net)
        self._pending_schedules.append(
            (
                setpoints.interval_start_s,
                self.options.horizon_intervals,
                digest,
                plan.cost_micros,
                plan.rule_cost_micros,
            )
        )
        return "0x" + digest.hex(), int(round(plan.schedule.import_wh_f[0]))

    # -- monitoring -----------------------------------------------------------------------
    def _monitor(
        self,
        closed: ClosedInterval,
        flows: ParticipantFlows,
        balance: IntervalBalance,
        stored: IntArray,
        islanded: bool,
        shed_now: BoolArray,
    ) -> BalanceSnapshot:
        to_kw = kw_per_wh(self.hours)
        reserve = reserve_kw(
            self.batteries.fleet, stored, int(self.plant_available_wh.sum()), self.hours
        )
        frequency = None
        if islanded and self._rated_kw > 0:
            # the grid-forming storage carries the island's imbalance along its droop
            frequency = droop_frequency_hz(
                (balance.discharge_wh - balance.charge_wh) * to_kw,
                droop_percent=self.options.droop_percent,
                rated_kw=self._rated_kw,
                nominal_hz=self.options.nominal_hz,
            )
            self.figures.observe_frequency(frequency)
        vm_min = vm_max = loading = None
        converged = True
        if self.network is not None:
            p_kw = (flows.grid_import_wh - flows.grid_export_wh) * to_kw
            result = self.network.solve(p_kw.astype(np.float64))
            converged = bool(result.converged)
            self._last_vm = None
            self._watched = np.zeros(0, dtype=np.int64)
        if self.network is not None and converged:
            vm = np.asarray(result.vm_pu, dtype=np.float64)
            vm_min, vm_max = float(vm.min()), float(vm.max())
            loading = float(np.max(result.line_loading_percent, initial=0.0))
            limits = self.options.limits
            self.figures.network = self.figures.network.with_interval(
                vm, loading, float(result.losses_kw), self.hours, limits
            )
            margin = self.options.voltage_margin_pu
            self._watched = np.nonzero(
                (vm < limits.v_min_pu + margin) | (vm > limits.v_max_pu - margin)
            )[0]
            self._last_vm, self._last_p_kw = vm, p_kw.astype(np.float64)
        shed_kw = float(self._expected_consumption[shed_now].sum()) * to_kw
        critical_shed = shed_now & self.options.critical
        snapshot = BalanceSnapshot(
            interval_start_s=closed.interval.start_s,
            supply_kw=(balance.production_wh + balance.discharge_wh + balance.pcc_import_wh)
            * to_kw,
            demand_kw=(balance.consumption_wh + balance.charge_wh + balance.pcc_export_wh) * to_kw,
            import_kw=balance.pcc_import_wh * to_kw,
            export_kw=balance.pcc_export_wh * to_kw,
            reserve_kw=reserve,
            islanded=islanded,
            frequency_hz=frequency,
            vm_min_pu=vm_min,
            vm_max_pu=vm_max,
            max_line_loading_percent=loading,
            power_flow_converged=converged,
            shed_kw=shed_kw,
            unserved_critical_kw=float(self._expected_consumption[critical_shed].sum()) * to_kw,
        )
        self.figures.observe_reserve_margin(snapshot.reserve_margin)
        return snapshot

    def _track_island(
        self, start: int, islanded: bool, shed_now: BoolArray, consumption: FloatArray
    ) -> None:
        if islanded:
            island = self._island or Island(start)
            self._island = island.with_interval(consumption, shed_now, self.options.critical)
        elif self._island is not None:
            self._close_island(start)

    def _close_island(self, end_s: int) -> None:
        island = self._island
        if island is None:
            return
        self.figures.islands.append(island)
        self._island = None
        if self.chain is not None:
            self.figures.chain_transactions += self.chain.record_island(
                island.start_s,
                end_s,
                island.shed_wh,
                island.unserved_critical_wh,
                island.served_critical_wh,
            )

    def _compare_with_rule(
        self,
        start: int,
        flows: ParticipantFlows,
        balance: IntervalBalance,
        stored: IntArray,
        plant_out: IntArray,
        islanded: bool,
    ) -> None:
        """The self-consumption rule on the same metered loads, in a shadow fleet."""
        b = self.batteries
        if self._shadow_stored is None:
            self._shadow_stored = self.community.catalogue.initial_stored_wh[b.meter_pos].copy()
        after = balance.pcc_import_wh - balance.pcc_export_wh
        before, self._shadow_stored = rule_exchange_wh(
            b.fleet,
            self._shadow_stored,
            b.owner,
            flows.production_wh,
            flows.consumption_wh,
            after,
            int(flows.charge_wh.sum() - flows.discharge_wh.sum()),
            int(plant_out.sum()),
            int(self.plant_available_wh.sum()),
        )
        if islanded:
            # both worlds live through the same island: storage forms the grid in each
            self._shadow_stored = stored.copy()
            return
        buy, sell = self.tariff.prices(np.array([start]))
        self.figures.observe_exchange(before, after, float(buy[0]), float(sell[0]))

    # -- planning -------------------------------------------------------------------------
    def _plan(
        self, start: int, stored: IntArray, sold_wh: IntArray | None
    ) -> tuple[Setpoints | None, _Plan | None]:
        """Plan from ``start``; ``sold_wh`` is what each participant sold for ``start``."""
        o = self.options
        if self.grid is not None and not self.grid.is_connected(start):
            return self._plan_island(start, stored), None
        if (
            not o.optimise
            or (not self.batteries.asset_ids and not self.plant_ids)
            or self._consumption.observed <= self._consumption.period
        ):
            # without a day of history the forecast is no better than the local rules,
            # which run on the devices until the plan takes over
            self._expected_consumption = self._consumption.forecast(1)[:, 0]
            return None, None
        horizon = o.horizon_intervals
        consumption = self._consumption.forecast(horizon)
        production = self._production.forecast(horizon)
        starts = start + self.length_s * np.arange(horizon, dtype=np.int64)
        if self.dr is not None:  # the loads called in open events will use less
            consumption = np.maximum(consumption - self.dr.curtailment_wh_f(starts), 0.0)
        self._expected_consumption = consumption[:, 0]
        net = consumption - production
        b = self.batteries
        owner_load = np.where(self._carries_load[:, None], net[b.owner], 0.0)
        rest = net.sum(axis=0) - owner_load.sum(axis=0)
        spans = horizon_spans(horizon, o.fine_intervals, o.block_intervals)
        buy, sell = self.tariff.prices(starts)
        sold = None
        if sold_wh is not None and b.owner.size:
            sold = np.where(self._carries_load, sold_wh[b.owner], 0).astype(np.int64)
        voltage = self._voltage_limits(net, spans) if self._watched.size else None
        owner_steps, rest_steps = block_sum(owner_load, spans), block_sum(rest, spans)
        buy_steps, sell_steps = block_sum(buy, spans) / spans, block_sum(sell, spans) / spans
        demand = self.tariff.demand_micros_per_kwh(self.hours)
        rule_cost = rule_cost_micros_f(
            b.fleet, stored, owner_steps, rest_steps, buy_steps, sell_steps, demand, steps=spans
        )
        began = time.perf_counter()
        plan = optimise_dispatch(
            b.fleet,
            stored,
            owner_steps,
            rest_steps,
            buy_steps,
            sell_steps,
            import_limit_wh_f=kw_to_wh_f(o.limits.import_limit_kw, self.hours),
            export_limit_wh_f=kw_to_wh_f(o.limits.export_limit_kw, self.hours),
            demand_micros_per_kwh=demand,
            steps=spans,
            generators=Generators(self.plant_available_wh, self.plant_cost)
            if self.plant_ids
            else None,
            sold_wh=sold,
            voltage=voltage,
            terminal_value_micros_per_kwh=self._terminal_value,
            peak_floor_wh=self.figures.peak_after_wh,
        )
        self.figures.solve_s.append(time.perf_counter() - began)
        member_wh = planned_member_net_wh(plan, net, b.owner, spans)
        member_net = None if member_wh is None else Planned(start + self.length_s, member_wh)
        self.figures.planned += 1
        self.figures.short_sales_wh_f += float(plan.short_wh_f.sum())
        cost = grid_cost_micros_f(
            plan.import_wh_f, plan.export_wh_f, buy_steps, sell_steps, demand, steps=spans
        )
        return (
            Setpoints(
                start,
                battery_ids=b.asset_ids,
                battery_net_wh=plan.first_setpoints_wh(),
                expected_net_wh=np.where(
                    self._carries_load, np.rint(owner_load[:, 0]).astype(np.int64), NOT_EXPECTED
                ),
                planned_exchange_wh=int(round(plan.import_wh_f[0] - plan.export_wh_f[0])),
                plant_ids=self.plant_ids,
                plant_net_wh=-np.rint(plan.generation_wh_f[:, 0]).astype(np.int64)
                if self.plant_ids
                else None,
            ),
            _Plan(plan, spans, round(cost), round(rule_cost), member_net),
        )

    def _call_demand_response(self, start: int, plan: _Plan, tx: BalancingStore) -> None:
        """Call an event when the plan's import after the dispatched interval exceeds the
        trigger (the plan could not shave it with storage and plants)."""
        if self.dr is None:
            return
        spans = plan.spans
        per_interval = np.repeat(plan.schedule.import_wh_f / spans, spans)[1:]
        starts = start + self.length_s * np.arange(1, per_interval.size + 1, dtype=np.int64)
        buy, _ = self.tariff.prices(starts)
        trigger_wh = kw_to_wh_f(self.options.dr_trigger_kw, self.hours)
        self.dr.consider(
            start + self.length_s,
            np.rint(per_interval).astype(np.int64),
            int(trigger_wh),
            np.rint(buy).astype(np.int64),
            tx,
        )

    def _voltage_limits(self, net_wh_f: FloatArray, spans: IntArray) -> VoltageLimits | None:
        """Linearised limits for the watched buses over the plan's steps, around the
        plan's own forecast of each member's net load (``net_wh_f``, (n, T), fractional Wh)."""
        if self.network is None or self._last_vm is None or self._last_p_kw is None:
            return None
        sens = self.network.sensitivity(self._last_p_kw)[self._watched]  # (K, n) pu/kW
        vm, p_kw, limits = self._last_vm[self._watched], self._last_p_kw, self.options.limits
        return linearised_voltage_limits(
            sens, vm, p_kw, self.batteries.owner, net_wh_f, spans, self.hours, limits
        )

    def _plan_island(self, start: int, stored: IntArray) -> Setpoints:
        o = self.options
        consumption = self._consumption.forecast(1)[:, 0]
        production = self._production.forecast(1)[:, 0]
        self._expected_consumption = consumption
        shed = plan_shedding(
            np.rint(consumption).astype(np.int64),
            np.rint(production).astype(np.int64),
            o.critical,
            o.priority,
            self.batteries.fleet,
            self.batteries.owner,
            stored,
            int(self.plant_available_wh.sum()),
            intervals_per_hour=1 / self.hours,
            protocol=o.protocol,
        )
        return Setpoints(start, shed=shed)

    # -- end of run -----------------------------------------------------------------------
    def flush(self) -> None:
        if self.chain is not None and self._pending_schedules:
            self.figures.chain_transactions += self.chain.record_schedules(self._pending_schedules)
        self._pending_schedules = []

    def finish(self, run_id: str, tx: BalancingStore) -> None:
        if self._island is not None:
            self._close_island(self._island.end_s(self.length_s))
        self.flush()
        tx.write_island_events(island_event_records(self.figures.islands, self.length_s))

    def summary(self) -> BalancingSummary:
        shadow = self._shadow_stored
        return self.figures.summary(
            stored_after_wh=int(self._stored.sum()),
            stored_before_wh=None if shadow is None else int(shadow.sum()),
            has_network=self.network is not None,
            demand_response=None if self.dr is None else self.dr.summary(),
            dr_chain_transactions=self.dr.chain_transactions if self.dr is not None else 0,
        )
