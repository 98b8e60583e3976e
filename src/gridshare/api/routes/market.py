"""``/v1/market``: members trade with orders they sign themselves.

A member signs an EIP-712 ``Order`` (the domain and the struct come from ``GET /v1/market``)
with their own key and posts it. The API checks what it can at once, with the same book
rules the market applies (signature, maker, shape, price band, open interval, expiry,
unused nonce), refuses a bad order with 422 and a reason, and stores a good one as
``pending``. At the next gate closure the market step books it (escrow is checked there,
against the chain's) or refuses it, and says why in the order's ``detail``. A member sees
and cancels only their own orders; the operator and the auditor see everyone's and
cancel nothing; the book's depth and the last clearing show no maker.
"""

from __future__ import annotations

import json
from typing import Annotated, cast

from fastapi import APIRouter, Query

from gridshare.api.auth import Principal, Role
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import (
    BookOut,
    ClearingOut,
    DepthLevel,
    MarketOut,
    OrderIn,
    OrderKind,
    OrderOut,
    OrderSide,
    OrdersOut,
)
from gridshare.evm import checksum_address
from gridshare.market.orders import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    ORDER_TYPE,
    Kind,
    MarketVenue,
    OrderBook,
    Side,
    order_from_json,
    order_record,
)
from gridshare.market.terms import TermsError, parse_terms
from gridshare.model.records import MarketOrderRecord, OrderStatus
from gridshare.units import from_unix_seconds, to_unix_seconds

router = APIRouter(prefix="/v1/market", tags=["market"])

MAX_ORDERS_LISTED = 500
_UNLIMITED_ESCROW = 2**255
"""The API's check leaves escrow to the gate, where the chain's balance is known."""


def _venue(context: ApiContext) -> MarketVenue:
    if context.market is None:
        raise Refused(404, "no_market", "this node runs no market")
    return context.market


def _next_open(context: ApiContext, venue: MarketVenue) -> int:
    """The first delivery interval still open: the market clears ``t + 1`` when it closes
    ``t``, so after the newest closed interval ``L``, ``L + 2`` is the first open one."""
    last = context.store.last_closed_start_s(venue.community_id)
    step = venue.rules.interval_s
    if last is not None:
        return last + 2 * step
    now_s = to_unix_seconds(context.now())
    return (now_s // step + 1) * step


def _member(caller: Principal, venue: MarketVenue) -> str:
    """The caller's account, if the caller is a member of the market's community."""
    if caller.role is not Role.MEMBER or caller.community_id != venue.community_id:
        raise Refused(
            403,
            "members_only",
            "only the community's members place and cancel orders, signed with their own key",
        )
    return caller.address.lower()


def _out(record: MarketOrderRecord) -> OrderOut:
    return OrderOut(
        order_hash=record.order_hash,
        maker=checksum_address(bytes.fromhex(record.maker[2:])),
        side=cast(OrderSide, Side[record.side.upper()].name.lower()),
        first_interval=record.first_interval,
        intervals=record.intervals,
        quantity_wh=record.quantity_wh,
        price=record.price_micros_per_kwh,
        nonce=record.nonce,
        expiry=record.expiry,
        kind=cast(OrderKind, Kind[record.kind.upper()].name.lower()),
        terms=record.terms,
        status=OrderStatus(record.status),
        detail=record.detail,
        submitted_at=from_unix_seconds(record.submitted_at_s),
        offchain_terms=json.loads(record.terms_json) if record.terms_json else {},
    )


@router.get("", responses=refusals(401, 404, 429))
def market(_caller: Caller, context: Context) -> MarketOut:
    """What a member needs to sign an order: the EIP-712 domain, the ``Order`` struct, the
    market's rules and the first delivery interval still open."""
    venue = _venue(context)
    rules = venue.rules
    return MarketOut(
        community_id=venue.community_id,
        domain_name=DOMAIN_NAME,
        domain_version=DOMAIN_VERSION,
        chain_id=venue.chain_id,
        verifying_contract=checksum_address(venue.contract),
        domain_separator="0x" + venue.domain.hex(),
        order_type=ORDER_TYPE,
        interval_s=rules.interval_s,
        min_price_micros_per_kwh=rules.min_price,
        max_price_micros_per_kwh=rules.max_price,
        max_quantity_wh=rules.max_quantity_wh,
        max_intervals=rules.max_intervals,
        fee_per_kwh_micros=rules.fee_per_kwh,
        fee_bps=rules.fee_bps,
        next_open_interval=_next_open(context, venue),
    )


@router.post("/orders", status_code=202, responses=refusals(401, 403, 404, 413, 422, 429))
def submit_order(body: OrderIn, caller: Caller, context: Context) -> OrderOut:
    """Place a signed order. 202: stored as ``pending``; the market books or refuses it at
    the next gate closure (then ``GET /v1/market/orders/{order_hash}`` tells which)."""
    venue = _venue(context)
    account = _member(caller, venue)
    order = order_from_json(**body.model_dump(exclude={"offchain_terms"}))
    if body.maker.lower() != account:
        raise Refused(
            403,
            "not_yours",
            f"the order's maker {body.maker} is not the signed-in account {caller.address}: "
            "members place orders only for themselves",
        )
    now_s = to_unix_seconds(context.now())
    maker = order.maker
    book = OrderBook(
        venue.rules,
        venue.domain,
        frozenset({maker}),
        {maker: _UNLIMITED_ESCROW},
        closed_before_s=_next_open(context, venue),
        now_s=now_s,
    )
    try:
        terms = parse_terms(order, body.offchain_terms)
    except TermsError as exc:
        raise Refused(422, "bad_terms", str(exc)) from None
    starts = None
    if terms.recurring is not None:
        starts = list(terms.recurring.starts(order, venue.rules.interval_s))
        if not starts:
            raise Refused(422, "bad_terms", "the recurring rule names no interval of the span")
    refused = book.submit(order, starts=starts)
    if refused is not None:
        raise Refused(422, refused.reason.value, refused.detail)
    record = order_record(
        order, venue.community_id, now_s, OrderStatus.PENDING, body.offchain_terms
    )
    if not context.store.submit_market_order(record):
        raise Refused(
            422,
            "replayed_nonce",
            f"nonce {order.nonce} of {body.maker} was used already (or this order was "
            "placed before): sign the order again with a fresh nonce",
        )
    return _out(record)


StatusFilter = Annotated[
    list[OrderStatus] | None,
    Query(description="only orders in these states (repeat the parameter for several)"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_ORDERS_LISTED, description="newest first")]


@router.get("/orders", responses=refusals(401, 404, 422, 429))
def list_orders(
    caller: Caller, context: Context, status: StatusFilter = None, limit: Limit = 100
) -> OrdersOut:
    """The caller's orders, newest first (the operator and the auditor: everyone's)."""
    venue = _venue(context)
    maker = None if caller.reads_everything else _member(caller, venue)
    records = context.store.market_orders_of(venue.community_id, maker, status or [], limit)
    return OrdersOut(orders=[_out(r) for r in records])


def _readable_order(caller: Principal, order_hash: str, context: ApiContext) -> MarketOrderRecord:
    venue = _venue(context)
    record = context.store.market_order(venue.community_id, order_hash.lower())
    if record is None:
        raise Refused(404, "unknown_order", f"no order {order_hash} in this market")
    if not caller.reads_everything and record.maker != caller.address.lower():
        raise Refused(403, "not_yours", "a member sees only their own orders")
    return record


@router.get("/orders/{order_hash}", responses=refusals(401, 403, 404, 422, 429))
def get_order(order_hash: str, caller: Caller, context: Context) -> OrderOut:
    """One order and its status (``detail`` says why it was refused or cancelled)."""
    return _out(_readable_order(caller, order_hash, context))


@router.delete(
    "/orders/{order_hash}", status_code=202, responses=refusals(401, 403, 404, 409, 422, 429)
)
def cancel_order(order_hash: str, caller: Caller, context: Context) -> OrderOut:
    """Cancel an open order: from the next gate closure on it trades no more (an interval
    already cleared still settles)."""
    venue = _venue(context)
    account = _member(caller, venue)
    record = _readable_order(caller, order_hash, context)
    changed = context.store.request_market_order_cancel(
        venue.community_id, record.order_hash, account
    )
    if changed is None:
        raise Refused(
            409,
            "not_open",
            f"the order is {record.status}: only pending or booked orders can be cancelled",
        )
    return _out(changed)


@router.get("/book", responses=refusals(401, 404, 429))
def book(_caller: Caller, context: Context) -> BookOut:
    """The members' orders for the first open delivery interval, per price level."""
    venue = _venue(context)
    start = _next_open(context, venue)
    levels = context.store.market_depth(venue.community_id, start, venue.rules.interval_s)
    bids = [DepthLevel(price=p, quantity_wh=q, orders=n) for s, p, q, n in levels if s == "buy"]
    asks = [DepthLevel(price=p, quantity_wh=q, orders=n) for s, p, q, n in levels if s == "sell"]
    return BookOut(interval_start=start, bids=bids[::-1], asks=asks)


@router.get("/clearings/last", responses=refusals(401, 404, 429))
def last_clearing(_caller: Caller, context: Context) -> ClearingOut:
    """The newest settled market interval: volume and money, no maker."""
    venue = _venue(context)
    record = context.store.last_market_interval(venue.community_id)
    if record is None:
        raise Refused(404, "no_clearing", "no market interval has settled yet")
    return ClearingOut(
        interval_start=record.interval_start_s,
        mechanism=record.mechanism,
        orders=record.orders,
        volume_wh=record.volume_wh,
        buyers_paid_micros=record.buyers_paid_micros,
        sellers_credited_micros=record.sellers_credited_micros,
        refunds_micros=record.refunds_micros,
        fees_micros=record.fees_micros,
        trades_root=record.trades_root,
        settled_on_chain=record.settled_on_chain,
    )
