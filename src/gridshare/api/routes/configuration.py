"""``/v1/communities/{community_id}/configuration``: the community's configuration as the
node runs it, for the operator and the auditor (it names members' buses and loads)."""

from __future__ import annotations

from dataclasses import replace

import orjson
from fastapi import APIRouter

from gridshare.api.auth import Role
from gridshare.api.context import Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.routes.registrations import community_file_of
from gridshare.api.schemas import (
    BusOut,
    ConfigurationChangedOut,
    ConfigurationChangeIn,
    ConfigurationChangeOut,
    ConfigurationChangesOut,
    ConfigurationOut,
    EmergencyOut,
    LimitsOut,
    LineOut,
    MarketRulesOut,
    MemberBusOut,
    NetworkOut,
    ShedPriorityOut,
    TariffOut,
    TimeOfUseOut,
    TransformerOut,
)
from gridshare.app.configuration import ConfigurationChangeError, changed_configuration
from gridshare.app.registrations import in_force
from gridshare.model.configuration import CommunityConfiguration, NetworkTopology
from gridshare.model.records import (
    ConfigurationChangeRecord,
    OperatorActionRecord,
    RegistrationStatus,
)
from gridshare.units import from_unix_seconds, to_unix_seconds

router = APIRouter(prefix="/v1/communities", tags=["communities"])


def _network(network: NetworkTopology | None) -> NetworkOut | None:
    if network is None:
        return None
    return NetworkOut(
        name=network.name,
        buses=[BusOut(bus=b.bus, name=b.name, vn_kv=b.vn_kv) for b in network.buses],
        lines=[
            LineOut(
                line=x.line,
                from_bus=x.from_bus,
                to_bus=x.to_bus,
                length_km=x.length_km,
                max_i_ka=x.max_i_ka,
            )
            for x in network.lines
        ],
        transformers=[
            TransformerOut(
                hv_bus=t.hv_bus,
                lv_bus=t.lv_bus,
                sn_mva=t.sn_mva,
                vn_hv_kv=t.vn_hv_kv,
                vn_lv_kv=t.vn_lv_kv,
                vk_percent=t.vk_percent,
                vkr_percent=t.vkr_percent,
            )
            for t in network.transformers
        ],
        member_buses=[
            MemberBusOut(participant_id=m.participant_id, bus=m.bus) for m in network.member_buses
        ],
    )


def _configuration(c: CommunityConfiguration) -> ConfigurationOut:
    limits, tariff, market = c.limits, c.tariff, c.market
    return ConfigurationOut(
        community_id=c.community_id,
        name=c.name,
        time_zone=c.time_zone,
        interval_s=c.interval_s,
        network=_network(c.network),
        critical_loads=list(c.critical_loads),
        shed_priorities=[
            ShedPriorityOut(participant_id=s.participant_id, shed_priority=s.shed_priority)
            for s in c.shed_priorities
        ],
        limits=LimitsOut(
            import_limit_kw=limits.import_limit_kw,
            export_limit_kw=limits.export_limit_kw,
            warn_fraction=limits.warn_fraction,
            v_min_pu=limits.v_min_pu,
            v_max_pu=limits.v_max_pu,
            max_line_loading_percent=limits.max_line_loading_percent,
            nominal_hz=limits.nominal_hz,
            f_low_hz=limits.f_low_hz,
            f_high_hz=limits.f_high_hz,
            min_reserve_margin=limits.min_reserve_margin,
        ),
        tariff=TariffOut(
            import_price_micros_per_kwh=tariff.import_price_micros_per_kwh,
            export_price_micros_per_kwh=tariff.export_price_micros_per_kwh,
            time_zone=tariff.time_zone,
            time_of_use=[
                TimeOfUseOut(
                    start=w.start.strftime("%H:%M"),
                    end=w.end.strftime("%H:%M"),
                    import_price_micros_per_kwh=w.import_price_micros_per_kwh,
                )
                for w in tariff.windows
            ],
            demand_charge_micros_per_kw=tariff.demand_charge_micros_per_kw,
        ),
        emergency=EmergencyOut(
            reserve_hours=c.emergency.reserve_hours,
            shed_non_critical=c.emergency.shed_non_critical,
        ),
        market=MarketRulesOut(
            mechanism=market.mechanism,
            settlement=market.settlement,
            fee_micros_per_kwh=market.fee_micros_per_kwh,
            fee_bps=market.fee_bps,
            min_price_micros_per_kwh=market.min_price_micros_per_kwh,
            max_price_micros_per_kwh=market.max_price_micros_per_kwh,
        ),
    )


@router.get("/{community_id}/configuration", responses=refusals(401, 403, 404, 422, 429))
def community_configuration(
    community_id: str, caller: Caller, context: Context
) -> ConfigurationOut:
    """The community's configuration as the node runs it (operator and auditor): the
    network (buses, lines, transformers, each member's bus), critical loads and shedding
    order, limits, tariff, emergency protocol and market rules.

    The operator changes it with ``PATCH`` on the same path; this answers what the node
    runs now (a change is in force from the end of the interval it was made in).
    """
    if not caller.reads_everything:
        raise Refused(
            403,
            "wrong_role",
            "the configuration names members' buses and loads: it is for the operator and "
            "the auditor",
        )
    configuration = context.configuration
    if configuration is None:
        raise Refused(404, "no_configuration", "this node gave the API no community configuration")
    if configuration.community_id != community_id:
        raise Refused(
            404,
            "unknown_community",
            f"no community {community_id!r} on this node (it runs {configuration.community_id!r})",
        )
    return _configuration(configuration)


def _change_out(record: ConfigurationChangeRecord) -> ConfigurationChangeOut:
    return ConfigurationChangeOut(
        change_id=record.change_id or 0,
        at=from_unix_seconds(record.at_s),
        actor=record.actor,
        change=orjson.loads(record.patch_json),
        reason=record.reason,
    )


@router.patch(
    "/{community_id}/configuration",
    status_code=202,
    responses=refusals(401, 403, 404, 413, 422, 429),
)
def change_configuration(
    community_id: str, body: ConfigurationChangeIn, caller: Caller, context: Context
) -> ConfigurationChangedOut:
    """Change the community's configuration (operator): tariff and grid limits, network
    and its limits, critical loads and shedding order, the emergency protocol, demand
    response. Checked by building what the node would run (422 with the part at fault,
    nothing stored); logged with the operator's actions; in force from the end of the
    interval the node is processing."""
    if caller.role is not Role.OPERATOR:
        raise Refused(403, "wrong_role", "only the community's operator changes its configuration")
    community_file = community_file_of(community_id, context)
    store = context.store
    approved = store.registrations(community_id, statuses=(RegistrationStatus.APPROVED,))
    changes = store.configuration_changes(community_id)
    try:
        current, _, _ = in_force(community_file.scenario, approved, changes)
        _, configuration = changed_configuration(current, [body.change])
    except ConfigurationChangeError as exc:
        raise Refused(422, "bad_configuration", str(exc)) from None
    at_s = to_unix_seconds(context.now())
    actor = caller.address.lower()
    patch_json = orjson.dumps(body.change, option=orjson.OPT_SORT_KEYS).decode()
    record = ConfigurationChangeRecord(community_id, at_s, actor, patch_json, body.reason)
    action = OperatorActionRecord(
        community_id,
        at_s,
        actor,
        "configuration.change",
        ",".join(sorted(body.change)),
        body.reason,
    )
    change_id = store.change_configuration(record, action)
    return ConfigurationChangedOut(
        change=_change_out(replace(record, change_id=change_id)),
        configuration=_configuration(configuration),
    )


@router.get("/{community_id}/configuration/changes", responses=refusals(401, 403, 404, 422, 429))
def configuration_changes(
    community_id: str, caller: Caller, context: Context
) -> ConfigurationChangesOut:
    """Every change the operator made to the configuration, oldest first (operator,
    auditor)."""
    if not caller.reads_everything:
        raise Refused(
            403, "wrong_role", "configuration changes are for the operator and the auditor"
        )
    community_file_of(community_id, context)
    records = context.store.configuration_changes(community_id)
    return ConfigurationChangesOut(
        community_id=community_id, changes=[_change_out(r) for r in records]
    )
