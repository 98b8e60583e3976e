"""The API's app factory: ``create_app(store, settings, chain_id=...)`` -> a FastAPI app
under ``/v1`` that the node (``gridshare serve``) mounts or serves.

Routes (``docs/openapi.json`` is the committed OpenAPI document)::

    POST /v1/auth/nonce                              a single-use sign-in nonce
    POST /v1/auth/login                              EIP-4361 message + signature -> token
    GET  /v1/members/{participant_id}/readings       a member's meters, per bucket
    GET  /v1/members/{participant_id}/balances       a member's energy, per bucket
    GET  /v1/members/{participant_id}/time-of-use    grid import/export per tariff period
    GET  /v1/members/{participant_id}/trades         a member's settled orders and trades
    GET  /v1/members/{participant_id}/market-totals  a member's market, per bucket
    GET  /v1/members/{participant_id}/certificates   a member's certificates, per bucket, source
    GET  /v1/members/{participant_id}/demand-response  a member's demand-response record
    POST /v1/members/{participant_id}/demand-response/{event_id}/opt-out  before the start
    GET  /v1/communities/{community_id}/balance      the community's balances, per bucket
    GET  /v1/market                                  the EIP-712 domain, rules, next open interval
    POST /v1/market/orders                           a member's signed order (booked at the gate)
    GET  /v1/market/orders                           the caller's orders (everyone's: operator)
    GET  /v1/market/orders/{order_hash}              one order and its status
    DELETE /v1/market/orders/{order_hash}            cancel from the next gate closure on
    GET  /v1/market/book                             open orders per price level, next interval
    GET  /v1/market/clearings/last                   the newest settled market interval
    GET  /v1/communities/{community_id}/islands      islanded stretches (aggregates)
    GET  /v1/communities/{community_id}/demand-response  events (responses: operator, auditor)
    GET  /v1/communities/{community_id}/alerts       balancing alerts (operator, auditor)
    GET  /v1/communities/{community_id}/setpoints    dispatched setpoints (operator, auditor)
    GET  /v1/communities/{community_id}/configuration  the community's configuration, read-only
                                                     (operator, auditor)
    POST /v1/audit/verify                            start verifying the store against the
                                                     chain, a background job (operator, auditor)
    GET  /v1/audit/verify/latest                     the latest verify job (operator, auditor)
    GET  /v1/audit/verify/{job_id}                   a verify job's state, progress, findings
    POST /v1/chain/transactions                      relay a member's own signed transaction
    GET  /v1/chain/transactions/{tx_hash}            its receipt
    POST /v1/chain/gas                               gas money for the member's account
    GET  /v1/members/{participant_id}/escrow         escrow and withdrawal request on chain
    GET  /v1/status                                  refusals per code (operator, auditor)
    GET  /v1/stream                                  live results of each closed interval
    POST /v1/communities/{community_id}/registrations  an applicant registers (operator approves)
    GET  /v1/registrations/mine                      the caller's registrations
    GET  /v1/communities/{community_id}/registrations  the approval queue (operator, auditor)
    POST /v1/communities/{cid}/registrations/{handle}/approve|reject   the operator decides
    GET  /v1/communities/{community_id}/operator-actions  the operator's action log
                                                     (Server-Sent Events, per role; resume
                                                     with Last-Event-ID)

Every refusal is ``{"error": <code>, "detail": <what to do>}`` (see
:mod:`gridshare.api.refusals`), counted, and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridshare.api.auth import NonceBook, SessionTokens, load_or_create_secret, parse_accounts
from gridshare.api.context import ApiContext
from gridshare.api.guard import Guard, RateLimiter
from gridshare.api.ports import ApiStore
from gridshare.api.refusals import RefusalCounter, Refused, refusal_response
from gridshare.api.routes import (
    audit,
    auth,
    balancing,
    communities,
    member_market,
    members,
    registrations,
    status,
    stream,
)
from gridshare.api.routes import chain as chain_routes
from gridshare.api.routes import (
    configuration as configuration_routes,
)
from gridshare.api.routes import market as market_routes
from gridshare.api.stream import StreamHub
from gridshare.api.verify import VerifyJobs
from gridshare.app.members_chain import MembersChain
from gridshare.app.registrations import CommunityFile
from gridshare.market.orders import MarketVenue
from gridshare.model.configuration import CommunityConfiguration
from gridshare.settings import Settings

if TYPE_CHECKING:
    from gridshare.api.verify import Verifier

__all__ = ["API_VERSION", "create_app"]

API_VERSION = "1.0.0"

Handler = Callable[[Request, Exception], Awaitable[Response]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _handlers(counter: RefusalCounter) -> dict[type[Exception], Handler]:
    async def refused(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)  # noqa: S101 - registered for Refused only
        return refusal_response(counter, exc.status, exc.code, exc.detail, exc.headers)

    async def invalid(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:10]
        )
        return refusal_response(counter, 422, "invalid_request", problems)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "refused")
        detail = {
            404: "no such route: the routes are listed at /v1/docs",
            405: "the route does not take this method: see /v1/docs",
        }.get(exc.status_code, str(exc.detail))
        return refusal_response(counter, exc.status_code, code, detail)

    return {
        Refused: refused,
        RequestValidationError: invalid,
        StarletteHTTPException: http_error,
    }


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    context: ApiContext = app.state.api
    context.streams.close()


def create_app(
    store: ApiStore,
    settings: Settings,
    *,
    chain_id: int,
    market: MarketVenue | None = None,
    now: Callable[[], datetime] = _utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    shutdown: threading.Event | None = None,
    community_file: CommunityFile | None = None,
    verifier: Verifier | None = None,
    configuration: CommunityConfiguration | None = None,
    chain: MembersChain | None = None,
) -> FastAPI:
    """The API over ``store``, for the community ledger on ``chain_id`` and its market
    (``market``; None: the node runs none and the market routes answer 404).

    The session secret is read from (or created in) ``settings.data_dir``; ``now`` (aware
    UTC) and ``monotonic`` (the rate limiter's clock) are injectable for tests. Live
    streams end (``event: end``, ``shutdown``) when ``shutdown`` is set or the app's
    lifespan ends: the node passes the event that stops it, since a server that is
    stopping waits for open responses before it ends the lifespan.

    ``verifier`` runs every check of ``gridshare verify`` (opening its own store and chain
    connection) as a background job of ``/v1/audit/verify`` (None: those routes answer 503
    ``verify_unavailable``); ``configuration`` is the community's configuration served at
    ``/v1/communities/{community_id}/configuration`` (None: 404 ``no_configuration``).
    ``community_file`` checks registrations and configuration changes against the
    community file (None: the node takes none); ``chain`` relays members' own signed
    transactions and reads their escrow (None: 404 ``no_relay``).
    """
    counter = RefusalCounter()
    tokens = SessionTokens(
        load_or_create_secret(settings.data_dir), timedelta(seconds=settings.api_session_s)
    )
    context = ApiContext(
        store=store,
        tokens=tokens,
        nonces=NonceBook(timedelta(seconds=settings.api_nonce_s)),
        counter=counter,
        now=now,
        started_at=now(),
        domain=settings.api_domain,
        uri=settings.api_uri,
        chain_id=chain_id,
        operators=parse_accounts(settings.api_operators, "api_operators"),
        auditors=parse_accounts(settings.api_auditors, "api_auditors"),
        max_buckets=settings.api_max_buckets,
        max_rows=settings.api_max_rows,
        min_group_members=settings.api_min_group_members,
        market=market,
        community_file=community_file,
        chain=chain,
        verify=None if verifier is None else VerifyJobs(verifier, now),
        configuration=configuration,
        streams=StreamHub(settings.api_stream_max_per_account, shutdown),
        stream_poll_s=settings.api_stream_poll_s,
        stream_heartbeat_s=settings.api_stream_heartbeat_s,
    )
    app = FastAPI(
        title="gridshare",
        summary="Community microgrid node: members' readings, balances, market, certificates "
        "and demand response, signed in with their own keys (EIP-4361)",
        version=API_VERSION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.api = context
    routers = (
        auth.router,
        members.router,
        member_market.router,
        market_routes.router,
        communities.router,
        configuration_routes.router,
        balancing.router,
        audit.router,
        status.router,
        stream.router,
        registrations.router,
        chain_routes.router,
    )
    for router in routers:
        app.include_router(router)
    for kind, handler in _handlers(counter).items():
        app.add_exception_handler(kind, handler)
    app.add_middleware(
        Guard,
        counter=counter,
        limiter=RateLimiter(settings.api_rate_per_s, settings.api_rate_burst, monotonic),
        tokens=tokens,
        max_body_bytes=settings.api_max_body_bytes,
    )
    return app
