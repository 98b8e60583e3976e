"""The API's request and response bodies (pydantic): energy int Wh (``*_wh``), instants
aware UTC ISO-8601, each bucket named by its start (``[start, start + resolution)``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from gridshare.api.auth import Role
from gridshare.api.ranges import Resolution


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
