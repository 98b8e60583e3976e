"""What every route shares (the store, the sessions, the limits, the clock) and the
dependencies that hand it and the caller's identity to the routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridshare.api.auth import NonceBook, Principal, Role, SessionTokens
from gridshare.api.ports import ApiStore
from gridshare.api.refusals import RefusalCounter, Refused
from gridshare.api.stream import StreamHub
from gridshare.api.verify import VerifyJobs
from gridshare.app.members_chain import MembersChain
from gridshare.app.registrations import CommunityFile
from gridshare.market.orders import MarketVenue
from gridshare.model.configuration import CommunityConfiguration


@dataclass(frozen=True, slots=True)
class ApiContext:
    store: ApiStore
    tokens: SessionTokens
    nonces: NonceBook
    counter: RefusalCounter
    now: Callable[[], datetime]
    started_at: datetime
    domain: str
    uri: str
    chain_id: int
    operators: frozenset[str]
    auditors: frozenset[str]
    max_buckets: int
    max_rows: int
    min_group_members: int
    streams: StreamHub
    stream_poll_s: float
    stream_heartbeat_s: float
    market: MarketVenue | None = None
    """The community's market members send signed orders to (None: the node runs none)."""
    chain: MembersChain | None = None
    """Members' own transactions relayed, gas, escrow (None: the node gave none)."""
    community_file: CommunityFile | None = None
    """Checks registrations against the community file (None: the node takes none)."""
    verify: VerifyJobs | None = None
    """Verify jobs (None: the node gave the API no verifier)."""
    configuration: CommunityConfiguration | None = None
    """The node's community configuration (None: the node gave the API none)."""


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api
    return context


Context = Annotated[ApiContext, Depends(api_context)]

_bearer = HTTPBearer(auto_error=False, description="a session token from POST /v1/auth/login")


def anyone(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The signed-in caller, whatever its role (applicants included); 401 without a
    valid, unexpired session token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Refused(
            401,
            "unauthenticated",
            "sign in first: POST /v1/auth/nonce, sign the message, POST /v1/auth/login, "
            "then send 'Authorization: Bearer <token>'",
        )
    return context.tokens.verify(credentials.credentials, context.now())


def principal(caller: Annotated[Principal, Depends(anyone)]) -> Principal:
    """The signed-in member, operator or auditor; 403 for an applicant (an account that
    is not yet a member)."""
    if caller.role is Role.APPLICANT:
        raise Refused(
            403,
            "not_registered",
            f"{caller.address} is not a registered member's account, nor an operator's or "
            "auditor's: register it (POST /v1/communities/{community_id}/registrations) and "
            "sign in again once the operator approved it",
        )
    return caller


Caller = Annotated[Principal, Depends(principal)]
AnyCaller = Annotated[Principal, Depends(anyone)]
