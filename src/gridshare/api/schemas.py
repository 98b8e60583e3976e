"""The API's request and response bodies (pydantic): energy int Wh (``*_wh``), instants
aware UTC ISO-8601, each bucket named by its start (``[start, start + resolution)``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gridshare.api.auth import Role
from gridshare.api.ranges import Resolution
from gridshare.model.records import OrderStatus

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
