"""Rows the pipeline's steps hand the store: one frozen record per row kind.

Field names are the table columns (``storage.tables``), with units in the names: energy
int Wh (``*_wh``), money int micro-units (``*_micros``), prices micro-units per kWh
(``*_micros_per_kwh``), instants UNIX seconds (``*_s``). The records live in the model
(below the adapters) so the store's adapters and the pipeline's ports share them; the
ports (:mod:`gridshare.pipeline.ports`) re-export them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class CommitmentRecord:
    """What was committed on chain for one interval (``interval_commitments``)."""

    community_id: str
    interval_start_s: int
    production_root: str
    """0x-hex Merkle root of the production meters' leaves."""
    consumption_root: str
    production_wh: int
    consumption_wh: int
    import_wh: int
    export_wh: int
    readings: int
    certified_wh: int
    tx_hash: str | None = None


@dataclass(frozen=True, slots=True)
class MarketIntervalRecord:
    """One settled market interval's totals (``market_intervals``)."""

    community_id: str
    interval_start_s: int
    mechanism: str
    orders: int
    volume_wh: int
    buyers_paid_micros: int
    sellers_credited_micros: int
    refunds_micros: int
    fees_micros: int
    to_fund_micros: int
    trades_root: str
    settled_on_chain: bool


@dataclass(frozen=True, slots=True)
class MarketFillRecord:
    """One order of a settled interval with its fill and settlement (``market_fills``)."""

    community_id: str
    interval_start_s: int
    position: int
    order_hash: str
    maker: str
    participant_id: str | None
    side: str
    kind: str
    first_interval: int
    intervals: int
    quantity_wh: int
    price_micros_per_kwh: int
    """The order's limit price."""
    nonce: int
    expiry: int
    terms: str
    signature: bytes
    filled_wh: int
    amount_micros: int
    """What the cleared fill is worth (buyer: cost, rounded up; seller: proceeds)."""
    fee_micros: int
    delivered_wh: int
    refund_micros: int
    credited_micros: int


@dataclass(frozen=True, slots=True)
class MarketTradeRecord:
    """One matched stretch between a buy and a sell order (``market_trades``)."""

    community_id: str
    interval_start_s: int
    row: int
    buy_position: int
    sell_position: int
    quantity_wh: int
    price_micros_per_kwh: int
    """What the buyer pays per kWh."""
    seller_price_micros_per_kwh: int
    """What the seller is credited per kWh."""
    stage: str


@dataclass(frozen=True, slots=True)
class MarketRejectionRecord:
    """An order the book refused, with its reason (``market_rejections``)."""

    community_id: str
    interval_start_s: int | None
    maker: str | None
    reason: str
    detail: str
    order_json: str


class OrderStatus(enum.StrEnum):
    """Where a member's submitted order is (``market_orders.status``)."""

    PENDING = "pending"
    """Accepted by the API; the market books or refuses it at the next gate closure."""
    BOOKED = "booked"
    """In the book for the intervals it covers (traded or not, as they clear)."""
    REFUSED = "refused"
    """Refused by the book at gate closure (``detail`` says why)."""
    CANCEL_REQUESTED = "cancel_requested"
    """The maker asked to cancel; the market takes it out at the next gate closure."""
    CANCELLED = "cancelled"
    """Out of the book: intervals not yet closed will not trade it."""


@dataclass(frozen=True, slots=True)
class MarketOrderRecord:
    """A member's signed order as submitted through the API (``market_orders``): the
    EIP-712 struct's fields, its signature and where it is now."""

    community_id: str
    order_hash: str
    """``hashStruct(order)``, 0x-hex: the order's identity on and off chain."""
    maker: str
    """0x-hex account (lower case)."""
    side: str
    """``buy`` or ``sell``."""
    first_interval: int
    intervals: int
    quantity_wh: int
    price_micros_per_kwh: int
    nonce: int
    expiry: int
    kind: str
    """``spot``, ``forward``, ``recurring`` or ``group``."""
    terms: str
    signature: str
    submitted_at_s: int
    status: str
    """An :class:`OrderStatus` value."""
    detail: str = ""
    """Why it was refused or cancelled (empty otherwise)."""
    terms_json: str = ""
    """The off-chain terms the ``terms`` hash stands for, as canonical JSON (empty: none)."""


@dataclass(frozen=True, slots=True)
class MarketMemberTotalsRecord:
    """One member's market results over a run (``market_member_totals``)."""

    run_id: str
    participant_id: str
    bought_wh: int
    sold_wh: int
    delivered_wh: int
    received_wh: int
    paid_micros: int
    credited_micros: int
    fees_micros: int
    grid_cost_micros: int
    grid_only_cost_micros: int


@dataclass(frozen=True, slots=True)
class BalancingIntervalRecord:
    """The balance monitor's figures of one interval (``balancing_intervals``; the store
    adds the community)."""

    interval_start_s: int
    supply_wh: int
    demand_wh: int
    reserve_kw: float
    islanded: bool
    frequency_hz: float | None
    vm_min_pu: float | None
    vm_max_pu: float | None
    max_line_loading_percent: float | None
    shed_wh: int
    alerts: int
    next_plan_hash: str | None = None
    next_planned_import_wh: int | None = None


@dataclass(frozen=True, slots=True)
class BalancingAlertRecord:
    """An alert the balance monitor raised (``balancing_alerts``)."""

    interval_start_s: int
    kind: str
    severity: str
    value: float
    limit: float
    message: str


@dataclass(frozen=True, slots=True)
class IslandEventRecord:
    """One islanded stretch of a run (``island_events``)."""

    start_s: int
    end_s: int
    shed_wh: int
    unserved_critical_wh: int
    served_critical_wh: int


@dataclass(frozen=True, slots=True)
class DemandResponseEventRecord:
    """A demand-response event as called (``dr_events``)."""

    event_id: str
    kind: str
    start_s: int
    end_s: int
    rebound_end_s: int | None
    target_kw: float
    rate_micros_per_kwh: int
    participants: int


@dataclass(frozen=True, slots=True)
class DemandResponseRecord:
    """One participant's measured response and payment (``dr_responses``)."""

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


@dataclass(frozen=True, slots=True)
class RejectedReadingRecord:
    """A quarantined reading (or payload) with the reason it was refused
    (``rejected_readings``). Text is stored as given: the ingest side escapes and
    truncates it."""

    received_at_s: int
    transport: str
    meter_id: str | None
    """None: the payload named no meter (or could not be parsed)."""
    interval_start_s: int | None
    seq: int | None
    reason: str
    detail: str
    payload: str | None
    """The refused payload as text (None when it is not kept)."""


@dataclass(frozen=True, slots=True)
class ReadingProvenance:
    """What a meter's device signed for one stored reading, from the first signed bundle
    that carried it (``reading_bundles``): sequence, energy, registers, power quality
    (None where the bundle carried none), signature and transport."""

    seq: int
    import_wh: int
    export_wh: int
    import_register_wh: int
    export_register_wh: int
    voltage_v: float | None
    frequency_hz: float | None
    power_factor: float | None
    thd_pct: float | None
    signature: str
    """0x-hex signature of the bundle."""
    transport: str


# -- read side: what the store answers to the API's queries -----------------------------


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A registered participant and its community (``participants``)."""

    participant_id: str
    community_id: str
    role: str
    account_address: str | None
    """The participant's own chain account (EIP-55), None until one is registered."""


@dataclass(frozen=True, slots=True)
class MeterReadingsRecord:
    """One meter's readings summed over one bucket ``[bucket_start_s, + bucket_s)``."""

    meter_id: str
    kind: str
    bucket_start_s: int
    import_wh: int
    export_wh: int
    readings: int
    """Stored readings in the bucket (the metering intervals that reported)."""


@dataclass(frozen=True, slots=True)
class MemberBalanceRecord:
    """One participant's energy over one bucket, summed from its meters as accounting
    sums them (``consumption = grid import - grid export + production + discharge -
    charge``)."""

    bucket_start_s: int
    grid_import_wh: int
    grid_export_wh: int
    production_wh: int
    consumption_wh: int
    charge_wh: int
    discharge_wh: int
    readings: int


COMMUNITY_FLOW_COLUMNS = (
    "solar_wh",
    "wind_wh",
    "hydro_wh",
    "biomass_wh",
    "consumption_wh",
    "member_import_wh",
    "member_export_wh",
    "pcc_import_wh",
    "pcc_export_wh",
    "charge_wh",
    "discharge_wh",
    "storage_change_wh",
    "storage_losses_wh",
    "residual_wh",
)
"""The energy flows of ``interval_balances`` that add up over time (``stored_wh``, a
level, does not)."""


@dataclass(frozen=True, slots=True)
class CommunityBalanceRecord:
    """The community's interval balances summed over one bucket (``interval_balances``)."""

    bucket_start_s: int
    intervals: int
    """Closed intervals in the bucket."""
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


@dataclass(frozen=True, slots=True)
class MemberTradeRecord:
    """One matched stretch of a member's order (``market_trades``), seen from that order:
    the price is what the member pays per kWh (buy) or is credited per kWh (sell); the
    other side is said only to be a member's order or not, never whose."""

    quantity_wh: int
    price_micros_per_kwh: int
    counterparty_is_member: bool
    """Whether the other order's maker is a registered participant of the community."""
    stage: str


@dataclass(frozen=True, slots=True)
class MemberFillRecord:
    """One of a member's orders in a settled market interval (``market_fills``) with the
    stretches it matched."""

    interval_start_s: int
    side: str
    kind: str
    quantity_wh: int
    limit_price_micros_per_kwh: int
    filled_wh: int
    amount_micros: int
    fee_micros: int
    delivered_wh: int
    refund_micros: int
    credited_micros: int
    trades: tuple[MemberTradeRecord, ...]


@dataclass(frozen=True, slots=True)
class MemberMarketBucketRecord:
    """A member's settled market orders summed over one bucket (``market_fills``): what
    the member bought and sold, received and delivered, paid (buys, fees included) and was
    credited (sales' proceeds and buys' refunds)."""

    bucket_start_s: int
    orders: int
    bought_wh: int
    sold_wh: int
    received_wh: int
    delivered_wh: int
    paid_micros: int
    credited_micros: int
    fees_micros: int


@dataclass(frozen=True, slots=True)
class CertifiedProductionRecord:
    """A member's production meter's export over one bucket, counted only in intervals
    committed on chain (``interval_commitments``): the Wh the certify step mints, one
    token per Wh."""

    bucket_start_s: int
    meter_id: str
    source: str
    certified_wh: int
    intervals: int
    """Committed intervals in the bucket in which the meter exported energy."""


@dataclass(frozen=True, slots=True)
class DispatchSetpointRecord:
    """One device setpoint the balancing plan dispatched (``dispatch_setpoints``)."""

    interval_start_s: int
    meter_id: str
    setpoint_wh: int
    """The device's net import at its meter over the interval (a battery charging > 0;
    a battery discharging or a plant producing < 0)."""


@dataclass(frozen=True, slots=True)
class MemberDemandResponseRecord:
    """A member's response to one demand-response event, with the event's window."""

    event: DemandResponseEventRecord
    response: DemandResponseRecord


@dataclass(frozen=True, slots=True)
class ClearingRecord:
    """The market's result for one settled interval (``market_intervals``, with its
    ``market_trades`` summed)."""

    mechanism: str
    orders: int
    trades: int
    volume_wh: int
    buyers_paid_micros: int
    sellers_credited_micros: int
    mean_price_micros_per_kwh: int | None
    """What buyers paid per kWh, the trades' prices weighted by their volume, rounded down;
    None when nothing traded."""


@dataclass(frozen=True, slots=True)
class ClosedIntervalRecord:
    """One closed interval of a community as the live stream serves it: its balance
    (``interval_balances``) and what the market and balancing recorded for it in the same
    transaction. Production is solar + wind + hydro + biomass; import and export are at
    the point of common coupling (the community's exchange with the main grid)."""

    interval_start_s: int
    length_s: int
    received: int
    expected: int
    quality: int
    production_wh: int
    consumption_wh: int
    import_wh: int
    export_wh: int
    member_import_wh: int
    member_export_wh: int
    clearing: ClearingRecord | None
    alerts: tuple[BalancingAlertRecord, ...]
    setpoints: tuple[DispatchSetpointRecord, ...]
    """The setpoints dispatched for this interval (at the close of the one before)."""


class RegistrationStatus(enum.StrEnum):
    """Where a member's registration is: waiting for the operator, or decided."""

    PENDING = "pending"
    APPROVED = "approved"
    """The operator approved it: the node takes the member in (on chain too) at the end
    of the interval being processed."""
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    """A would-be member's registration as submitted through the API (``registrations``):
    who signed in to send it, the member it describes and the devices of its meters."""

    community_id: str
    handle: str
    """The member's name in the community: the participant id is
    ``<community>:<handle>-001``."""
    applicant: str
    """0x-hex account (lower case) that signed in and sent it: the member's account."""
    member_json: str
    """The member as the community file describes a group of one (role, category, load,
    generators, storage, flexible load), canonical JSON."""
    devices_json: str
    """Meter id -> 0x-hex device address (lower case), canonical JSON."""
    latitude_deg: float | None
    longitude_deg: float | None
    submitted_at_s: int
    status: str
    """A :class:`RegistrationStatus` value."""
    decided_at_s: int | None = None
    decided_by: str | None = None
    """The operator account that approved or rejected it."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OperatorActionRecord:
    """One thing an operator did through the API (``operator_actions``, append-only)."""

    community_id: str
    at_s: int
    actor: str
    """0x-hex operator account (lower case)."""
    action: str
    """What was done, e.g. ``registration.approve``."""
    target: str
    """What it was done to, e.g. the registration's handle."""
    detail: str = ""
    action_id: int | None = None
    """The log's own sequence number (None before it is stored)."""


@dataclass(frozen=True, slots=True)
class ConfigurationChangeRecord:
    """A change the operator made to the community's configuration through the API
    (``configuration_changes``, append-only): a JSON merge patch of the community file's
    operator tables, applied in ``change_id`` order."""

    community_id: str
    at_s: int
    actor: str
    """0x-hex operator account (lower case)."""
    patch_json: str
    """The change, canonical JSON."""
    reason: str = ""
    change_id: int | None = None
    """The log's own sequence number (None before it is stored)."""


Record = (
    CommitmentRecord
    | MarketIntervalRecord
    | MarketFillRecord
    | MarketTradeRecord
    | MarketRejectionRecord
    | MarketOrderRecord
    | MarketMemberTotalsRecord
    | BalancingIntervalRecord
    | BalancingAlertRecord
    | IslandEventRecord
    | DemandResponseEventRecord
    | DemandResponseRecord
    | RejectedReadingRecord
    | RegistrationRecord
    | OperatorActionRecord
    | ConfigurationChangeRecord
)


_NAMES: dict[type, tuple[str, ...]] = {}


def as_row(record: Record) -> dict[str, object]:
    """The record as a table row: column name -> value (a shallow copy, no recursion)."""
    kind = type(record)
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(record))
    return {name: getattr(record, name) for name in names}
