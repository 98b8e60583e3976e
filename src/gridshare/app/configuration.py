"""The community's configuration as the node runs it (:class:`CommunityConfiguration`),
from the community file: what the API shows the operator and the auditor. Read-only:
changing it means editing the community file and restarting the node."""

from __future__ import annotations

from gridshare.balancing.power_flow import describe_network
from gridshare.model import Community
from gridshare.model.configuration import (
    CommunityConfiguration,
    EmergencyConfiguration,
    LimitsConfiguration,
    MarketConfiguration,
    MemberBus,
    NetworkTopology,
    ShedPriority,
)
from gridshare.simulator.balancing import balancing_options, network_layout
from gridshare.simulator.market import market_rules
from gridshare.simulator.scenario import Scenario

__all__ = ["community_configuration"]


def _topology(scenario: Scenario, community: Community) -> NetworkTopology | None:
    layout = network_layout(scenario, community)
    spec = scenario.balancing.network
    if layout is None or spec is None:
        return None
    net, bus_of_member = layout
    buses, lines, transformers = describe_network(net)
    members = tuple(
        MemberBus(p.participant_id, int(bus))
        for p, bus in zip(community.participants, bus_of_member, strict=True)
    )
    return NetworkTopology(
        name=None if spec.buses else spec.name,
        buses=buses,
        lines=lines,
        transformers=transformers,
        member_buses=members,
    )


def community_configuration(scenario: Scenario, community: Community) -> CommunityConfiguration:
    """The configuration of ``community`` as built from ``scenario`` (the same functions
    build the balancing step, the network and the market rules)."""
    interval_s = int(community.interval_length.total_seconds())
    options = balancing_options(scenario, community)
    limits = options.limits
    ids = [p.participant_id for p in community.participants]
    rules = market_rules(scenario.market, interval_s)
    return CommunityConfiguration(
        community_id=community.community_id,
        name=community.name,
        time_zone=community.time_zone,
        interval_s=interval_s,
        network=_topology(scenario, community),
        critical_loads=tuple(
            pid for pid, critical in zip(ids, options.critical, strict=True) if critical
        ),
        shed_priorities=tuple(
            ShedPriority(pid, int(priority))
            for pid, priority in zip(ids, options.priority, strict=True)
        ),
        limits=LimitsConfiguration(
            import_limit_kw=limits.import_limit_kw,
            export_limit_kw=limits.export_limit_kw,
            warn_fraction=limits.warn_fraction,
            v_min_pu=limits.v_min_pu,
            v_max_pu=limits.v_max_pu,
            max_line_loading_percent=limits.max_line_loading_percent,
            nominal_hz=options.nominal_hz,
            f_low_hz=limits.f_low_hz,
            f_high_hz=limits.f_high_hz,
            min_reserve_margin=limits.min_reserve_margin,
        ),
        tariff=community.tariff,
        emergency=EmergencyConfiguration(
            reserve_hours=options.protocol.reserve_hours,
            shed_non_critical=options.protocol.shed_non_critical,
        ),
        market=MarketConfiguration(
            mechanism=scenario.market.mechanism,
            settlement=scenario.market.settlement,
            fee_micros_per_kwh=rules.fee_per_kwh,
            fee_bps=rules.fee_bps,
            min_price_micros_per_kwh=rules.min_price,
            max_price_micros_per_kwh=rules.max_price,
        ),
    )
