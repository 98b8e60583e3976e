"""The API's request and response bodies (pydantic): energy int Wh (``*_wh``), instants
aware UTC ISO-8601, each bucket named by its start (``[start, start + resolution)``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridshare.api.auth import Role
from gridshare.api.ranges import Resolution
from gridshare.model.records import OrderStatus, RegistrationStatus

OrderSide = Literal["buy", "sell"]
OrderKind = Literal["spot", "forward", "recurring", "group"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorOut(Body):
    """Every refusal: a machine-readable code and what to do about it."""

    error: str = Field(examples=["not_yours"])
    detail: str
    error_id: str | None = Field(None, description="500 only: the id in the node's log")


class NonceOut(Body):
    """A single-use nonce for a Sign-In with Ethereum message, and what the message must
    name for this node."""

    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int


class LoginIn(Body):
    """An EIP-4361 message and its EIP-191 ``personal_sign`` signature (0x, 65 bytes)."""

    message: str = Field(max_length=4096)
    signature: str = Field(max_length=140, examples=["0x" + "00" * 65])


class SessionOut(Body):
    """A session token: send it as ``Authorization: Bearer <token>`` until it expires."""

    token: str
    token_type: str = "bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_at: datetime
    address: str
    role: Role
    participant_id: str | None
    community_id: str | None


class MeterPoint(Body):
    start: datetime
    import_wh: int
    export_wh: int
    readings: int = Field(description="metering intervals stored in the bucket")


class MeterSeries(Body):
    meter_id: str
    kind: str
    points: list[MeterPoint]


class MemberReadingsOut(Body):
    """A member's meters, readings summed per bucket (buckets without readings omitted)."""

    participant_id: str
    start: datetime
    end: datetime
    resolution: Resolution
    meters: list[MeterSeries]


class MemberBalancePoint(Body):
    start: datetime
    grid_import_wh: int
    grid_export_wh: int
    production_wh: int
    consumption_wh: int
    charge_wh: int
    discharge_wh: int
    readings: int


class MemberBalancesOut(Body):
    """A member's energy per bucket from its meters, as accounting sums it."""

    participant_id: str
    start: datetime
    end: datetime
    resolution: Resolution
    points: list[MemberBalancePoint]


class CommunityBalancePoint(Body):
    start: datetime
    intervals: int
    received: int
    expected: int
    solar_wh: int
    wind_wh: int
    hydro_wh: int
    biomass_wh: int
    consumption_wh: int
    member_import_wh: int
    member_export_wh: int
    pcc_import_wh: int
    pcc_export_wh: int
    charge_wh: int
    discharge_wh: int
    storage_change_wh: int
    storage_losses_wh: int
    residual_wh: int


class CommunityBalanceOut(Body):
    """The community's interval balances summed per bucket."""

    community_id: str
    members: int
    start: datetime
    end: datetime
    resolution: Resolution
    points: list[CommunityBalancePoint]


class StatusOut(Body):
    """The node's API since it started: refusals per code, sign-ins under way."""

    started_at: datetime
    refusals: dict[str, int]
    outstanding_nonces: int


_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
_HASH = r"^0x[0-9a-fA-F]{64}$"
_INT64 = 2**63 - 1


class MarketOut(Body):
    """The community's market: the EIP-712 domain members sign their orders for, the
    order struct, the rules an order must meet, and the next interval still open."""

    community_id: str
    domain_name: str
    domain_version: str
    chain_id: int
    verifying_contract: str
    domain_separator: str
    order_type: str = Field(description="the EIP-712 Order struct, as its type hash reads it")
    interval_s: int
    min_price_micros_per_kwh: int
    max_price_micros_per_kwh: int
    max_quantity_wh: int
    max_intervals: int
    fee_per_kwh_micros: int
    fee_bps: int
    next_open_interval: int = Field(
        description="unix seconds: the first delivery interval an order can still ask for"
    )


class OrderIn(Body):
    """A signed order: the EIP-712 ``Order`` struct's fields and the maker's signature
    (``r ++ s ++ v``) over ``keccak(0x1901 ++ domain_separator ++ hashStruct(order))``."""

    maker: str = Field(pattern=_ADDRESS, description="the signed-in member's account")
    side: OrderSide
    first_interval: int = Field(ge=0, le=_INT64, description="unix seconds, interval-aligned")
    intervals: int = Field(ge=1, le=2**32 - 1)
    quantity_wh: int = Field(ge=1, le=_INT64, description="most Wh per interval")
    price: int = Field(ge=0, le=_INT64, description="limit, micro-units per kWh")
    nonce: int = Field(ge=0, le=_INT64, description="unused by this maker")
    expiry: int = Field(ge=0, le=_INT64, description="unix seconds")
    kind: OrderKind = "spot"
    terms: str = Field("0x" + "00" * 32, pattern=_HASH)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    offchain_terms: dict[str, Any] = Field(
        default_factory=dict,
        description="the terms ``terms`` is the keccak hash of (canonical JSON, sorted keys): "
        "preferences (preferred_sources, preferred_partners, excluded_partners, "
        "min_reliability) and, for a recurring order, its rule (rule = 'recurring', "
        "weekdays 0-6, from, to, time_zone)",
        examples=[
            {
                "rule": "recurring",
                "weekdays": [0, 1, 2, 3, 4],
                "from": "18:00",
                "to": "21:00",
                "time_zone": "America/New_York",
            }
        ],
    )


class OrderOut(Body):
    """A submitted order and where it is: ``pending`` until the next gate closure, then
    ``booked`` or ``refused`` (``detail`` says why); ``cancel_requested``, ``cancelled``."""

    order_hash: str
    maker: str
    side: OrderSide
    first_interval: int
    intervals: int
    quantity_wh: int
    price: int
    nonce: int
    expiry: int
    kind: OrderKind
    terms: str
    status: OrderStatus
    detail: str
    submitted_at: datetime
    offchain_terms: dict[str, Any]


class OrdersOut(Body):
    orders: list[OrderOut]


class DepthLevel(Body):
    price: int = Field(description="micro-units per kWh")
    quantity_wh: int
    orders: int


class BookOut(Body):
    """The members' orders open for one delivery interval, per price level (no makers)."""

    interval_start: int
    bids: list[DepthLevel] = Field(description="buy orders, best (highest) price first")
    asks: list[DepthLevel] = Field(description="sell orders, best (lowest) price first")


class ClearingOut(Body):
    """The newest settled market interval."""

    interval_start: int
    mechanism: str
    orders: int
    volume_wh: int
    buyers_paid_micros: int
    sellers_credited_micros: int
    refunds_micros: int
    fees_micros: int
    trades_root: str
    settled_on_chain: bool


# -- the market, certificates and balancing ---------------------------------------------
# Money is int micro-units (``*_micros``, 1 currency unit = 1 000 000), prices micro-units
# per kWh (``*_micros_per_kwh``).


class TradeOut(Body):
    """One stretch a member's order matched, seen from that order."""

    quantity_wh: int
    price_micros_per_kwh: int = Field(
        description="what the member pays per kWh (buy) or is credited per kWh (sell)"
    )
    counterparty: Literal["member", "non_member"] = Field(
        description="whether the other order's maker is a registered member: never which one"
    )
    stage: str = Field(description="the clearing stage that matched the stretch")


class FillOut(Body):
    """One of the member's orders in a settled market interval, and how it settled."""

    interval_start: datetime
    side: str = Field(examples=["buy", "sell"])
    kind: str
    quantity_wh: int = Field(description="what the order asked for")
    limit_price_micros_per_kwh: int = Field(description="the order's limit price")
    filled_wh: int = Field(description="what the clearing matched")
    amount_micros: int = Field(
        description="what the fill is worth: a buyer's cost (rounded up), a seller's proceeds"
    )
    fee_micros: int
    delivered_wh: int = Field(
        description="a seller: Wh its meter delivered of the fill; a buyer: Wh received "
        "(the fill less its share of the sellers' shortfall)"
    )
    refund_micros: int = Field(description="a buyer's refund for energy not delivered")
    credited_micros: int = Field(description="a seller's proceeds, a buyer's refund")
    trades: list[TradeOut]


class MemberTradesOut(Body):
    """The member's orders settled in ``[start, end)`` (by interval), with their trades."""

    participant_id: str
    start: datetime
    end: datetime
    fills: list[FillOut]


class MarketTotalsPoint(Body):
    start: datetime
    orders: int = Field(description="the member's settled orders in the bucket")
    bought_wh: int
    sold_wh: int
    received_wh: int = Field(description="of what was bought, the Wh received")
    delivered_wh: int = Field(description="of what was sold, the Wh the meter delivered")
    paid_micros: int = Field(description="for buys, fees included, before refunds")
    credited_micros: int = Field(description="sales' proceeds and buys' refunds")
    fees_micros: int


class MemberMarketTotalsOut(Body):
    """The member's market per bucket, from the settled orders the store holds.

    Grid cost and savings against the grid tariff are not served: the store holds them
    per run only (``market_member_totals``, the ``gridshare market report``), not per
    interval, and it does not hold the tariff to recompute them."""

    participant_id: str
    start: datetime
    end: datetime
    resolution: Resolution
    points: list[MarketTotalsPoint]


class CertificatePoint(Body):
    start: datetime
    source: str = Field(examples=["solar", "wind", "hydro", "biomass"])
    certified_wh: int = Field(description="certificates, 1 per Wh")
    meters: int = Field(description="the member's generators of this source that exported")


class MemberCertificatesOut(Body):
    """Certificates of the member's generators per bucket and source: the Wh each
    production meter exported in intervals committed on chain, which the certify step
    mints one token per Wh (``gridshare verify`` checks the chain holds them)."""

    participant_id: str
    start: datetime
    end: datetime
    resolution: Resolution
    points: list[CertificatePoint]


class IslandOut(Body):
    start: datetime
    end: datetime
    shed_wh: int
    unserved_critical_wh: int | None = Field(
        description="operator and auditor only (null for members): a community has few "
        "critical loads, often one, so the figure would describe a member"
    )
    served_critical_wh: int | None = Field(description="as unserved_critical_wh")


class IslandsOut(Body):
    """The community's islanded stretches overlapping ``[start, end)``."""

    community_id: str
    start: datetime
    end: datetime
    islands: list[IslandOut]


class AlertOut(Body):
    interval_start: datetime
    kind: str
    severity: str
    value: float
    limit: float
    message: str


class AlertsOut(Body):
    """The balance monitor's alerts for the intervals in ``[start, end)``."""

    community_id: str
    start: datetime
    end: datetime
    alerts: list[AlertOut]


class SetpointOut(Body):
    interval_start: datetime
    meter_id: str
    setpoint_wh: int = Field(
        description="the device's net import at its meter over the interval (a battery "
        "charging > 0; discharging or a plant producing < 0)"
    )


class SetpointsOut(Body):
    """The setpoints the balancing plan dispatched for the intervals in ``[start, end)``."""

    community_id: str
    start: datetime
    end: datetime
    setpoints: list[SetpointOut]


class DemandResponseEventOut(Body):
    event_id: str
    kind: str
    start: datetime
    end: datetime
    rebound_end: datetime | None
    target_kw: float
    rate_micros_per_kwh: int
    participants: int = Field(description="members called")


class DemandResponseOut(Body):
    """One member's measured response to an event and its payment."""

    event_id: str
    participant_id: str
    response: str
    requested_wh: int
    baseline_wh: int
    measured_wh: int
    delivered_wh: int
    payment_micros: int
    rebound_wh: int
    baseline_method: str


class CommunityDemandResponseOut(Body):
    """Demand-response events starting in ``[start, end)``; the members' responses only
    for the operator and the auditor (null for members)."""

    community_id: str
    start: datetime
    end: datetime
    events: list[DemandResponseEventOut]
    responses: list[DemandResponseOut] | None


class MemberResponseOut(Body):
    event: DemandResponseEventOut
    response: DemandResponseOut


class MemberDemandResponseOut(Body):
    """The member's responses to events starting in ``[start, end)``."""

    participant_id: str
    start: datetime
    end: datetime
    responses: list[MemberResponseOut]


class LocationIn(Body):
    latitude_deg: float = Field(ge=-90.0, le=90.0)
    longitude_deg: float = Field(ge=-180.0, le=180.0)


class RegistrationIn(Body):
    """A would-be member, sent by the member's own (signed-in) account, which becomes the
    member's account once the operator approves it."""

    handle: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,23}$",
        description="the member's name in the community: the participant id becomes "
        "'<community>:<handle>-001'",
        examples=["maple-farm"],
    )
    member: dict[str, Any] = Field(
        description="the member as the community file describes a group of one (see "
        "docs/scenarios.md): role (producer, consumer or prosumer), category (residential, "
        "commercial or industrial), load (profile, annual_kwh), pv (kwp, tilt_deg, "
        "azimuth_deg, ...), wind (turbine_type, hub_height_m), hydro and biomass "
        "(capacity_kw, ...), battery (capacity_kwh, power_kw, ...), flexible_load "
        "(power_kw); bus, critical and shed_priority are the operator's to set",
        examples=[
            {
                "role": "prosumer",
                "category": "residential",
                "load": {"profile": "H0", "annual_kwh": 4200},
                "pv": {"kwp": 6.5, "tilt_deg": 25, "azimuth_deg": 180},
            }
        ],
    )
    devices: dict[str, str] = Field(
        description="each of the member's meters (id -> the 0x address of the key that "
        "stays in the meter): '<participant id>/grid' and '<asset id>/meter' for each "
        "generator and battery ('<participant id>/pv/meter', ...)",
    )
    location: LocationIn | None = None


class RegistrationOut(Body):
    """A registration and where it is: ``pending`` until the operator decides; once
    ``approved`` the node takes the member in at the end of the interval it is
    processing, and the account then signs in as the member."""

    community_id: str
    handle: str
    participant_id: str
    applicant: str
    member: dict[str, Any]
    devices: dict[str, str]
    location: LocationIn | None
    status: RegistrationStatus
    submitted_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str


class RegistrationsOut(Body):
    registrations: list[RegistrationOut]


class DecisionIn(Body):
    reason: str = Field("", max_length=500, description="why (shown to the applicant)")


class OperatorActionOut(Body):
    action_id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


class OperatorActionsOut(Body):
    community_id: str
    actions: list[OperatorActionOut]


class AuditFindingsOut(Body):
    """What a verify job checked (``gridshare verify``'s report)."""

    intervals_checked: int
    production_wh: int
    certified_wh: int
    readings_proven_by_signature: int
    findings: list[str] = Field(description="what was checked, one line each")
    problems: list[str] = Field(description="every mismatch between the store and the chain")


class VerifyJobOut(Body):
    """A verify job: its state, how far it is, and (once finished) its findings."""

    job_id: str
    state: Literal["running", "passed", "failed", "error"]
    started_at: datetime
    ended_at: datetime | None
    phase: str | None = Field(description="the audit's current phase (null before the first)")
    done: int = Field(description="intervals of the phase checked so far")
    total: int = Field(description="intervals of the phase to check")
    findings: AuditFindingsOut | None = Field(description="null until passed or failed")
    error: str | None = Field(description="state error: why the job could not finish")
    error_id: str | None = Field(description="state error: the id in the node's log")


class BusOut(Body):
    bus: int
    name: str
    vn_kv: float = Field(description="nominal voltage, kV")


class LineOut(Body):
    line: int
    from_bus: int
    to_bus: int
    length_km: float
    max_i_ka: float = Field(description="thermal limit, kA")


class TransformerOut(Body):
    hv_bus: int
    lv_bus: int
    sn_mva: float
    vn_hv_kv: float
    vn_lv_kv: float
    vk_percent: float
    vkr_percent: float


class MemberBusOut(Body):
    participant_id: str
    bus: int


class NetworkOut(Body):
    """The network the power flow runs on."""

    name: str | None = Field(description="a named benchmark network; null: the community's own")
    buses: list[BusOut]
    lines: list[LineOut]
    transformers: list[TransformerOut]
    member_buses: list[MemberBusOut]


class ShedPriorityOut(Body):
    participant_id: str
    shed_priority: int = Field(description="shed lowest first when islanded")


class LimitsOut(Body):
    import_limit_kw: float
    export_limit_kw: float
    warn_fraction: float = Field(description="alerts warn at this fraction of a limit")
    v_min_pu: float
    v_max_pu: float
    max_line_loading_percent: float
    nominal_hz: float
    f_low_hz: float
    f_high_hz: float
    min_reserve_margin: float = Field(description="fraction of the load reserve must cover")


class TimeOfUseOut(Body):
    start: str = Field(description="local time of day, HH:MM, included", examples=["17:00"])
    end: str = Field(description="local time of day, HH:MM, excluded (may wrap midnight)")
    import_price_micros_per_kwh: int


class TariffOut(Body):
    import_price_micros_per_kwh: int
    export_price_micros_per_kwh: int
    time_zone: str = Field(description="where the time-of-use windows' times are read")
    time_of_use: list[TimeOfUseOut]
    demand_charge_micros_per_kw: int


class EmergencyOut(Body):
    reserve_hours: float = Field(description="stored energy kept for the critical loads")
    shed_non_critical: bool


class MarketRulesOut(Body):
    mechanism: str
    settlement: str = Field(description="interval or day")
    fee_micros_per_kwh: int
    fee_bps: int
    min_price_micros_per_kwh: int
    max_price_micros_per_kwh: int


class ConfigurationOut(Body):
    """The community's configuration as the node runs it (read-only)."""

    community_id: str
    name: str
    time_zone: str
    interval_s: int
    network: NetworkOut | None = Field(description="null: the community runs no power flow")
    critical_loads: list[str] = Field(description="participant ids with critical loads")
    shed_priorities: list[ShedPriorityOut]
    limits: LimitsOut
    tariff: TariffOut
    emergency: EmergencyOut
    market: MarketRulesOut


class ConfigurationChangeIn(Body):
    """A change to the community's configuration: a JSON merge patch (RFC 7386: objects
    merge, null resets to the default) of the community file's operator tables."""

    change: dict[str, Any] = Field(
        description="grid (prices, limits, time_of_use, demand_charge_per_kw), balancing "
        "(warn_fraction, min_reserve_margin, network, island, demand_response, ...) and "
        "groups.<group or member handle>.{critical, shed_priority, bus}; the market's "
        "rules, the members' assets and the community's identity are not changed here",
        examples=[
            {
                "grid": {"import_limit_kw": 650},
                "balancing": {"island": {"reserve_hours": 6}},
                "groups": {"homes": {"shed_priority": 2}},
            }
        ],
    )
    reason: str = Field("", max_length=500, description="why (kept in the operator log)")


class ConfigurationChangeOut(Body):
    change_id: int
    at: datetime
    actor: str
    change: dict[str, Any]
    reason: str


class ConfigurationChangedOut(Body):
    """A change accepted: in force from the end of the interval the node is processing,
    and the configuration it gives."""

    change: ConfigurationChangeOut
    configuration: ConfigurationOut


class ConfigurationChangesOut(Body):
    community_id: str
    changes: list[ConfigurationChangeOut]


class OptOutOut(Body):
    """A member's opt-out of a demand-response event, recorded before it starts: the
    member is counted out of it (not asked to curtail, not paid)."""

    participant_id: str
    event_id: str
    event_start: datetime
    opted_out_at: datetime


class TransactionIn(Body):
    """A transaction the member signed in their wallet (EIP-1559, type 2), 0x-hex."""

    raw: str = Field(
        pattern=r"^0x([0-9a-fA-F]{2})+$",
        max_length=2 + 2 * 131_072,
        description="the signed transaction (at most 128 KiB)",
    )


class TransactionOut(Body):
    tx_hash: str
    contract: str | None = None
    function: str | None = None
    status: Literal["done", "reverted", "pending"]
    block: int | None
    gas_used: int | None


class GasOut(Body):
    account: str
    sent_wei: int = Field(description="0: the account held enough already")


class EscrowOut(Body):
    participant_id: str
    account: str
    escrow_micros: int
    withdrawal_micros: int = Field(description="the pending withdrawal request (0: none)")
    withdrawal_due_at: datetime | None


class TouPeriodOut(Body):
    name: str = Field(description="'HH:MM-HH:MM' (the tariff's local time) or 'base'")
    import_price_micros_per_kwh: int
    intervals: int
    import_wh: int
    export_wh: int
    import_cost_micros: int = Field(description="the import at the grid tariff, rounded up")
    export_credit_micros: int = Field(description="the export at the grid tariff, rounded down")


class MemberTimeOfUseOut(Body):
    """The member's grid import and export in ``[start, end)`` per period of the
    community's time-of-use tariff, priced at the grid tariff (what the energy would cost
    or earn from the main grid, before the market)."""

    participant_id: str
    start: datetime
    end: datetime
    time_zone: str
    periods: list[TouPeriodOut]
