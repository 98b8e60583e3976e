"""A scenario's balancing configuration: options, network, enrolments, and the budget.

The composition root (:mod:`gridshare.app`) builds the balancing step from these, the
same way for simulated and live runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np

from gridshare.balancing import power_flow
from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventSettlement,
)
from gridshare.balancing.islanding import EmergencyProtocol
from gridshare.balancing.monitor import BalanceLimits
from gridshare.balancing.power_flow import PowerFlowModel, PowerFlowResult
from gridshare.balancing.power_flow.common import PandapowerNet
from gridshare.ledger.balancing import BalancingLedger
from gridshare.model import Community, FlexibleLoad
from gridshare.pipeline.balancing_step import BalancingOptions
from gridshare.simulator.scenario import Scenario, ScenarioError
from gridshare.units import SECONDS_PER_HOUR, BoolArray, FloatArray, IntArray, currency_to_micros


def member_flags(scenario: Scenario) -> tuple[BoolArray, IntArray]:
    """Per participant (the operator first, then the groups' members in order): critical
    loads and shedding priority."""
    critical = [False]
    priority = [0]
    for group in scenario.groups:
        critical += [group.critical] * group.count
        priority += [group.shed_priority] * group.count
    return np.array(critical, dtype=bool), np.array(priority, dtype=np.int64)


def outage_spans(scenario: Scenario, interval_s: int) -> tuple[tuple[int, int], ...]:
    """The scenario's grid outages as ``[start_s, end_s)``, widened to whole intervals."""
    zone = ZoneInfo(scenario.community.time_zone)
    spans = []
    for event in scenario.events:
        start = event.start if event.start.tzinfo else event.start.replace(tzinfo=zone)
        end = start + timedelta(hours=event.hours)
        a = int(start.timestamp()) // interval_s * interval_s
        b = -(-int(end.timestamp()) // interval_s) * interval_s
        spans.append((a, b))
    return tuple(sorted(spans))


def balancing_options(scenario: Scenario, community: Community) -> BalancingOptions:
    """The scenario's balancing configuration for the pipeline."""
    spec = scenario.balancing
    grid = scenario.grid
    interval_s = int(community.interval_length.total_seconds())
    per_hour = SECONDS_PER_HOUR // interval_s
    critical, priority = member_flags(scenario)
    nominal = float(spec.island.nominal_hz)
    band = spec.island.frequency_band_hz
    network = spec.network
    limits = BalanceLimits(
        import_limit_kw=grid.import_limit_kw,
        export_limit_kw=grid.export_limit_kw,
        warn_fraction=spec.warn_fraction,
        min_reserve_margin=spec.min_reserve_margin,
        v_min_pu=network.v_min_pu if network else 0.95,
        v_max_pu=network.v_max_pu if network else 1.05,
        max_line_loading_percent=network.max_line_loading_percent if network else 100.0,
        f_low_hz=nominal - band,
        f_high_hz=nominal + band,
    )
    return BalancingOptions(
        limits=limits,
        critical=critical,
        priority=priority,
        optimise=spec.optimise,
        horizon_intervals=max(1, round(spec.horizon_hours * per_hour)),
        fine_intervals=round(spec.fine_hours * per_hour),
        block_intervals=max(1, per_hour),
        protocol=EmergencyProtocol(spec.island.reserve_hours, spec.island.shed_non_critical),
        plant_cost_micros_per_kwh={
            "hydro": currency_to_micros(spec.hydro_cost_per_kwh),
            "biomass": currency_to_micros(spec.biomass_cost_per_kwh),
        },
        nominal_hz=nominal,
        droop_percent=spec.island.droop_percent,
        dr_trigger_kw=spec.demand_response.trigger_import_kw
        or grid.import_limit_kw * spec.demand_response.trigger_fraction,
    )


def flexibility_budget(scenario: Scenario) -> int:
    """Micro-units the operator puts in the GridBalancing pool for demand-response
    payments: every enrolled load curtailing fully through one event a day."""
    spec = scenario.balancing.demand_response
    kw = sum(g.flexible_load.power_kw * g.count for g in scenario.groups if g.flexible_load)
    kwh = kw * spec.event_hours * scenario.simulation.days
    return max(1, currency_to_micros(spec.rate_per_kwh) * int(kwh + 1))


def member_flexibility(scenario: Scenario) -> tuple[FloatArray, FloatArray]:
    """Per participant: the simulated members' opt-out probability and rebound share."""
    opt_out = [0.0]
    rebound = [1.0]
    for group in scenario.groups:
        flex = group.flexible_load
        opt_out += [flex.opt_out_probability if flex else 0.0] * group.count
        rebound += [flex.rebound if flex else 1.0] * group.count
    return np.array(opt_out), np.array(rebound)


def enrolments(scenario: Scenario, community: Community) -> list[Enrolment]:
    """Every member with a flexible load is enrolled in demand response, over its group's
    protocol."""
    protocol = [DeviceProtocol.MQTT]  # per participant: the operator first, then the groups
    for group in scenario.groups:
        flex = group.flexible_load
        protocol += [DeviceProtocol(flex.protocol if flex else "mqtt")] * group.count
    index = {p.participant_id: i for i, p in enumerate(community.participants)}
    return [
        Enrolment(
            index[asset.participant_id],
            asset.rated_power_kw,
            protocol[index[asset.participant_id]],
            asset.asset_id,
        )
        for asset in community.assets
        if isinstance(asset, FlexibleLoad)
    ]


class CommunityBalancingChain:
    """The GridBalancing contract for a community: participant positions to accounts."""

    def __init__(self, ledger: BalancingLedger, accounts: dict[int, str]) -> None:
        self.ledger = ledger
        self.accounts = accounts

    def record_schedules(self, schedules: Sequence[tuple[int, int, bytes, int, int]]) -> int:
        return self.ledger.record_schedules(schedules)

    def record_island(
        self, start_s: int, end_s: int, shed_wh: int, unserved_critical_wh: int, served_wh: int
    ) -> int:
        return self.ledger.record_island(start_s, end_s, shed_wh, unserved_critical_wh, served_wh)

    def open_event(self, event: DemandResponseEvent) -> int:
        return int(self.ledger.open_dr_event(event, self.accounts))

    def record_responses(self, event: DemandResponseEvent, settlement: EventSettlement) -> int:
        return self.ledger.record_dr_settlement(event, settlement, self.accounts)


class ScaledNetwork:
    """The community's power flow with every member's power scaled (stress studies)."""

    def __init__(self, model: PowerFlowModel, scale: float) -> None:
        self.model = model
        self.scale = scale

    def solve(self, p_kw: FloatArray) -> PowerFlowResult:
        return self.model.solve(p_kw * self.scale)

    def sensitivity(self, p_kw_base: FloatArray) -> FloatArray:
        return self.model.sensitivity(p_kw_base * self.scale) * self.scale


def network_layout(
    scenario: Scenario, community: Community
) -> tuple[PandapowerNet, IntArray] | None:
    """The scenario's network (None: it names none) and each participant's bus (the
    operator first): round-robin over its load buses unless the group names a ``bus``."""
    spec = scenario.balancing.network
    if spec is None:
        return None
    try:
        if spec.buses:
            topology = power_flow.NetworkSpec(
                buses=tuple(power_flow.BusSpec(b.vn_kv, b.name) for b in spec.buses),
                lines=tuple(
                    power_flow.LineSpec(
                        x.from_bus,
                        x.to_bus,
                        x.length_km,
                        x.r_ohm_per_km,
                        x.x_ohm_per_km,
                        x.max_i_ka,
                    )
                    for x in spec.lines
                ),
                transformer=None
                if spec.transformer is None
                else power_flow.TransformerSpec(**spec.transformer.model_dump()),
            )
        else:
            topology = power_flow.NetworkSpec(named=spec.name)
        net = power_flow.build_network(topology)
        buses = power_flow.connect_members(
            net, len(community.participants), seed=scenario.community.seed
        )
        start = 1  # the operator is participant 0, the groups' members follow in order
        for group in scenario.groups:
            if group.bus is not None:
                buses[start : start + group.count] = group.bus
            start += group.count
        buses = power_flow.connect_members(net, buses.size, bus_of_member=buses)
    except power_flow.PowerFlowError as exc:
        raise ScenarioError(f"balancing.network: {exc}") from None
    return net, buses


def build_network(scenario: Scenario, community: Community) -> ScaledNetwork | None:
    """The scenario's network with the members connected round-robin to its load buses."""
    spec = scenario.balancing.network
    layout = network_layout(scenario, community)
    if spec is None or layout is None:
        return None
    net, buses = layout
    try:
        model = PowerFlowModel(
            net,
            buses,
            power_factor=spec.power_factor,
            v_min_pu=spec.v_min_pu,
            v_max_pu=spec.v_max_pu,
            max_line_loading_percent=spec.max_line_loading_percent,
        )
    except power_flow.PowerFlowError as exc:
        raise ScenarioError(f"balancing.network: {exc}") from None
    return ScaledNetwork(model, spec.scale)
