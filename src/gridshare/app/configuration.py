"""The community's configuration as the node runs it (:class:`CommunityConfiguration`):
the community file, with the changes the operator made through the API applied in order
(:func:`configured_scenario`), as the API shows it to the operator and the auditor.

The operator changes the grid connection and tariff, balancing (limits, network,
emergency protocol, demand response) and, per group of the file or member who joined,
``critical``, ``shed_priority`` and ``bus``, each change a JSON merge patch (RFC 7386)
checked by building what the node would run. The node takes a change in at the end of
the interval it is processing, as it takes in a new member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from gridshare.balancing.power_flow import describe_network
from gridshare.errors import GridshareError
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
from gridshare.model.errors import ModelError
from gridshare.simulator.balancing import balancing_options, network_layout
from gridshare.simulator.market import market_rules
from gridshare.simulator.run import scenario_community
from gridshare.simulator.scenario import Scenario, ScenarioError

__all__ = [
    "ConfigurationChangeError",
    "changed_configuration",
    "community_configuration",
    "configured_scenario",
]


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


OPERATOR_TABLES = ("grid", "balancing")
"""Tables of the community file the operator changes through the API (whole): the grid
connection and tariff, and balancing (limits, network, emergency protocol, demand
response). The market's rules (members' money), the community's identity, the weather
and the members' own assets are not the operator's to change here."""
GROUP_FIELDS = ("critical", "shed_priority", "bus")
"""What the operator sets per group of the community file (or per member who joined)."""


def _merge(target: object, patch: object) -> object:
    """JSON merge patch (RFC 7386): objects merge key by key, null removes, the rest
    replaces."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _apply(data: dict[str, Any], change: Mapping[str, object]) -> dict[str, Any]:
    unknown = sorted(set(change) - {*OPERATOR_TABLES, "groups"})
    if unknown:
        raise ConfigurationChangeError(
            f"change.{unknown[0]}: not the operator's to change through the API; change "
            f"{', '.join(OPERATOR_TABLES)} or groups.<name>.{{{', '.join(GROUP_FIELDS)}}}"
        )
    for table in OPERATOR_TABLES:
        if table in change:
            data[table] = _merge(data.get(table), change[table])
    groups = change.get("groups", {})
    if not isinstance(groups, Mapping):
        raise ConfigurationChangeError("change.groups: an object of group name -> fields")
    by_name = {g["name"]: g for g in data["groups"]}
    for name, fields in groups.items():
        if name not in by_name:
            raise ConfigurationChangeError(f"change.groups.{name}: no such group or member")
        if not isinstance(fields, Mapping) or set(fields) - set(GROUP_FIELDS):
            raise ConfigurationChangeError(
                f"change.groups.{name}: only {', '.join(GROUP_FIELDS)} are the operator's"
            )
        merged = _merge(by_name[name], fields)
        assert isinstance(merged, dict)  # noqa: S101 - a mapping merged with a mapping
        by_name[name].clear()
        by_name[name].update(merged)
    return data


class ConfigurationChangeError(GridshareError):
    """A change the operator cannot make: a field not theirs, or a value the community
    file would refuse."""


def configured_scenario(scenario: Scenario, changes: Sequence[Mapping[str, object]]) -> Scenario:
    """The community file with the operator's changes applied in order; a change that
    does not fit raises :class:`ConfigurationChangeError`."""
    if not changes:
        return scenario
    data = scenario.model_dump(mode="python", exclude_unset=False)
    for change in changes:
        data = _apply(data, change)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if len(loc) > 1 and loc[0] == "groups" and isinstance(loc[1], int):
            loc[1] = data["groups"][loc[1]]["name"]  # the group by name, as changes name it
        where = ".".join(str(part) for part in loc)
        raise ConfigurationChangeError(f"change: {where}: {first['msg']}") from None


def changed_configuration(
    scenario: Scenario, changes: Sequence[Mapping[str, object]], name: str = "community file"
) -> tuple[Scenario, CommunityConfiguration]:
    """The scenario and configuration in force after ``changes``, checked as the node
    will build them (community, network, balancing)."""
    changed = configured_scenario(scenario, changes)
    try:
        community = scenario_community(changed, name)
        return changed, community_configuration(changed, community)
    except (ScenarioError, ModelError) as exc:  # the network, the tariff, the members
        raise ConfigurationChangeError(str(exc)) from None
