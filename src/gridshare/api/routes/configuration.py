"""``/v1/communities/{community_id}/configuration``: the community's configuration as the
node runs it, for the operator and the auditor (it names members' buses and loads)."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.context import Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import (
    BusOut,
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
from gridshare.model.configuration import CommunityConfiguration, NetworkTopology

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

    Read-only: to change the configuration, edit the community file and restart the node.
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
