"""``/v1/members/{participant_id}``: a member's market orders and trades, their sums per
bucket, and the certificates of the member's generators. A member reads only their own;
the operator and the auditor read everyone's. A trade names no other member: its other
side is only said to be a member's order or not."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.context import Caller, Context
from gridshare.api.ranges import Resolution, at_most
from gridshare.api.routes.common import READ_REFUSALS, End, ResolutionQuery, Start
from gridshare.api.routes.members import member_range, member_window, readable_member
from gridshare.api.schemas import (
    CertificatePoint,
    FillOut,
    MarketTotalsPoint,
    MemberCertificatesOut,
    MemberMarketTotalsOut,
    MemberTradesOut,
    TradeOut,
)
from gridshare.model.records import MemberFillRecord
from gridshare.units import from_unix_seconds

router = APIRouter(prefix="/v1/members")


def _fill(record: MemberFillRecord) -> FillOut:
    return FillOut(
        interval_start=from_unix_seconds(record.interval_start_s),
        side=record.side,
        kind=record.kind,
        quantity_wh=record.quantity_wh,
        limit_price_micros_per_kwh=record.limit_price_micros_per_kwh,
        filled_wh=record.filled_wh,
        amount_micros=record.amount_micros,
        fee_micros=record.fee_micros,
        delivered_wh=record.delivered_wh,
        refund_micros=record.refund_micros,
        credited_micros=record.credited_micros,
        trades=[
            TradeOut(
                quantity_wh=trade.quantity_wh,
                price_micros_per_kwh=trade.price_micros_per_kwh,
                counterparty="member" if trade.counterparty_is_member else "non_member",
                stage=trade.stage,
            )
            for trade in record.trades
        ],
    )


@router.get("/{participant_id}/trades", responses=READ_REFUSALS, tags=["market"])
def member_trades(
    participant_id: str, start: Start, end: End, caller: Caller, context: Context
) -> MemberTradesOut:
    """The member's orders settled in ``[start, end)`` (aligned to the community's metering
    interval), each with how it settled and the stretches it matched; at most
    ``api_max_rows`` orders (422 ``too_many_rows`` beyond: ask for a shorter range)."""
    member = readable_member(caller, participant_id, context)
    span = member_window(member, start, end, context)
    records = context.store.member_fills(
        participant_id, span.start_s, span.end_s, context.max_rows + 1
    )
    return MemberTradesOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        fills=[_fill(r) for r in at_most(records, context.max_rows, "orders")],
    )


@router.get("/{participant_id}/market-totals", responses=READ_REFUSALS, tags=["market"])
def member_market_totals(
    participant_id: str,
    start: Start,
    end: End,
    caller: Caller,
    context: Context,
    resolution: ResolutionQuery = Resolution.DAY,
) -> MemberMarketTotalsOut:
    """The member's settled orders in ``[start, end)`` summed per bucket: bought and sold,
    received and delivered, paid and credited, fees (buckets without an order omitted).
    Grid cost and savings are not served: the store holds them per run only."""
    member = readable_member(caller, participant_id, context)
    span = member_range(member, start, end, resolution, context)
    records = context.store.member_market_buckets(
        participant_id, span.start_s, span.end_s, span.bucket_s
    )
    return MemberMarketTotalsOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        resolution=resolution,
        points=[
            MarketTotalsPoint(
                start=from_unix_seconds(r.bucket_start_s),
                orders=r.orders,
                bought_wh=r.bought_wh,
                sold_wh=r.sold_wh,
                received_wh=r.received_wh,
                delivered_wh=r.delivered_wh,
                paid_micros=r.paid_micros,
                credited_micros=r.credited_micros,
                fees_micros=r.fees_micros,
            )
            for r in records
        ],
    )


@router.get("/{participant_id}/certificates", responses=READ_REFUSALS, tags=["certificates"])
def member_certificates(
    participant_id: str,
    start: Start,
    end: End,
    caller: Caller,
    context: Context,
    resolution: ResolutionQuery = Resolution.DAY,
) -> MemberCertificatesOut:
    """Certificates (1 per Wh) of the member's generators in ``[start, end)``, per bucket
    and source: what each production meter exported in intervals committed on chain."""
    member = readable_member(caller, participant_id, context)
    span = member_range(member, start, end, resolution, context)
    sums: dict[tuple[int, str], list[int]] = {}
    for record in context.store.member_certified_production(
        participant_id, span.start_s, span.end_s, span.bucket_s
    ):
        into = sums.setdefault((record.bucket_start_s, record.source), [0, 0])
        into[0] += record.certified_wh
        into[1] += 1
    return MemberCertificatesOut(
        participant_id=participant_id,
        start=from_unix_seconds(span.start_s),
        end=from_unix_seconds(span.end_s),
        resolution=resolution,
        points=[
            CertificatePoint(
                start=from_unix_seconds(bucket_start_s),
                source=source,
                certified_wh=wh,
                meters=meters,
            )
            for (bucket_start_s, source), (wh, meters) in sorted(sums.items())
        ],
    )
