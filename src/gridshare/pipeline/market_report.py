"""The market's history read back from the store (``gridshare market report``), and what
an order may cost before it is placed (``gridshare market fees``).

Money in the store is in micro-units and energy in Wh; the report converts to currency
units and kWh, rounded for display (currency to 6 places, kWh to 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridshare.market.orders import MarketRules
from gridshare.model.summary import JsonValue
from gridshare.storage.store import SqlStore
from gridshare.units import MICROS_PER_UNIT, WH_PER_KWH, energy_cost_micros, kwh_to_wh, report_kwh


def reputation(fills: pd.DataFrame) -> pd.DataFrame:
    """Per maker: what it sold and delivered (delivery reliability), bought and paid.

    Derived from reconciled deliveries only: a seller's reliability is the share of the
    energy it sold that its meter delivered.
    """
    if not len(fills):
        return pd.DataFrame(
            columns=["maker", "participant_id", "sold_wh", "delivered_wh", "bought_wh", "paid"]
        )
    sell = fills["side"] == "sell"
    frame = pd.DataFrame(
        {
            "maker": fills["maker"],
            "participant_id": fills["participant_id"],
            "sold_wh": fills["filled_wh"].where(sell, 0),
            "delivered_wh": fills["delivered_wh"].where(sell, 0),
            "bought_wh": fills["filled_wh"].where(~sell, 0),
            "paid": (fills["amount_micros"] + fills["fee_micros"]).where(~sell, 0),
        }
    )
    out = frame.groupby(["maker", "participant_id"], dropna=False).sum().reset_index()
    out["reliability"] = (out["delivered_wh"] / out["sold_wh"]).where(out["sold_wh"] > 0)
    return out


@dataclass(frozen=True, slots=True)
class MemberMarketRow:
    """One member's trades, money and savings against the grid tariff over the latest
    run (currency units rounded to 6 places, kWh to 3)."""

    participant_id: str
    bought_kwh: float
    sold_kwh: float
    paid: float
    credited: float
    fees: float
    grid_only_cost: float
    savings: float
    """What the member saved against buying and selling everything at the grid tariff."""
    reliability: float | None
    """Share of the energy it sold that its meter delivered (None: it sold nothing)."""

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "participant_id": self.participant_id,
            "bought_kwh": self.bought_kwh,
            "sold_kwh": self.sold_kwh,
            "paid": self.paid,
            "credited": self.credited,
            "fees": self.fees,
            "grid_only_cost": self.grid_only_cost,
            "savings": self.savings,
            "reliability": self.reliability,
        }


@dataclass(frozen=True, slots=True)
class CommunityMarketReport:
    """One community's market in the latest finished run (currency units rounded to 6
    places, kWh to 3)."""

    community: str
    run: str | None
    """The latest finished run (None: none finished); ``members`` are its results."""
    mechanisms: tuple[str, ...]
    intervals: int
    intervals_with_trades: int
    orders: int
    orders_rejected: int
    rejections: Mapping[str, int]
    """Refused orders per reason, by reason."""
    traded_kwh: float
    mean_price_per_kwh: float | None
    """Volume-weighted mean trade price (None: nothing traded)."""
    buyers_paid: float
    refunds: float
    fees: float
    to_fund: float
    settled_on_chain: int
    """Intervals settled on chain."""
    member_savings: float
    members: tuple[MemberMarketRow, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "community": self.community,
            "run": self.run,
            "mechanisms": list(self.mechanisms),
            "intervals": self.intervals,
            "intervals_with_trades": self.intervals_with_trades,
            "orders": self.orders,
            "orders_rejected": self.orders_rejected,
            "rejections": dict[str, JsonValue](self.rejections),
            "traded_kwh": self.traded_kwh,
            "mean_price_per_kwh": self.mean_price_per_kwh,
            "buyers_paid": self.buyers_paid,
            "refunds": self.refunds,
            "fees": self.fees,
            "to_fund": self.to_fund,
            "settled_on_chain": self.settled_on_chain,
            "member_savings": self.member_savings,
            "members": [m.to_json() for m in self.members],
        }


@dataclass(frozen=True, slots=True)
class MarketReport:
    """Every community in the store with a market (``gridshare market report``)."""

    communities: tuple[CommunityMarketReport, ...]

    def to_json(self) -> dict[str, JsonValue]:
        """The report as JSON-ready data (what ``--json`` prints)."""
        return {"communities": [c.to_json() for c in self.communities]}


def _member_rows(members: pd.DataFrame, rep: pd.DataFrame) -> list[MemberMarketRow]:
    """Each member's trades, money and savings against the grid tariff (currency, kWh)."""
    rows = []
    for m in members.to_dict("records") if len(members) else []:
        savings = int(m["grid_only_cost_micros"]) - (
            int(m["paid_micros"]) - int(m["credited_micros"]) + int(m["grid_cost_micros"])
        )
        r = rep[rep["participant_id"] == m["participant_id"]]
        reliability = r["reliability"].iloc[0] if len(r) else None
        rows.append(
            MemberMarketRow(
                participant_id=str(m["participant_id"]),
                bought_kwh=report_kwh(int(m["bought_wh"])),
                sold_kwh=report_kwh(int(m["sold_wh"])),
                paid=round(int(m["paid_micros"]) / MICROS_PER_UNIT, 6),
                credited=round(int(m["credited_micros"]) / MICROS_PER_UNIT, 6),
                fees=round(int(m["fees_micros"]) / MICROS_PER_UNIT, 6),
                grid_only_cost=round(int(m["grid_only_cost_micros"]) / MICROS_PER_UNIT, 6),
                savings=round(savings / MICROS_PER_UNIT, 6),
                reliability=None
                if reliability is None or pd.isna(reliability)
                else round(float(reliability), 4),
            )
        )
    return rows


def community_market_report(store: SqlStore, community_id: str) -> CommunityMarketReport | None:
    """One community's market in the latest finished run; None if it has no market."""
    intervals = store.market_intervals(community_id)
    if not len(intervals):
        return None
    fills = store.market_fills(community_id)
    rejections = store.market_rejections(community_id)
    run_id = store.latest_run(community_id)
    members = store.market_member_totals(run_id) if run_id else pd.DataFrame()
    volume = int(intervals["volume_wh"].sum())
    trades = store.market_trades(community_id)
    value = 0
    if len(trades):
        value = int((trades["quantity_wh"] * trades["price_micros_per_kwh"]).sum())
    rows = _member_rows(members, reputation(fills))
    return CommunityMarketReport(
        community=community_id,
        run=run_id,
        mechanisms=tuple(sorted({str(m) for m in intervals["mechanism"]})),
        intervals=len(intervals),
        intervals_with_trades=int((intervals["volume_wh"] > 0).sum()),
        orders=int(intervals["orders"].sum()),
        orders_rejected=len(rejections),
        rejections={
            str(k): int(v) for k, v in rejections["reason"].value_counts().sort_index().items()
        }
        if len(rejections)
        else {},
        traded_kwh=report_kwh(volume),
        mean_price_per_kwh=round(value / volume / MICROS_PER_UNIT, 6) if volume else None,
        buyers_paid=round(int(intervals["buyers_paid_micros"].sum()) / MICROS_PER_UNIT, 6),
        refunds=round(int(intervals["refunds_micros"].sum()) / MICROS_PER_UNIT, 6),
        fees=round(int(intervals["fees_micros"].sum()) / MICROS_PER_UNIT, 6),
        to_fund=round(int(intervals["to_fund_micros"].sum()) / MICROS_PER_UNIT, 6),
        settled_on_chain=int(intervals["settled_on_chain"].sum()),
        member_savings=round(sum(r.savings for r in rows), 6),
        members=tuple(rows),
    )


def market_report(store: SqlStore) -> MarketReport:
    """The market of every community in the store that has one."""
    communities = []
    for community_id in store.community_ids():
        community = community_market_report(store, community_id)
        if community is not None:
            communities.append(community)
    return MarketReport(tuple(communities))


@dataclass(frozen=True)
class MarketSeries:
    """A community's market per settled interval, ready to plot."""

    community_id: str
    mechanisms: list[str]
    start_at: pd.Series[pd.Timestamp]
    """Interval starts (UTC)."""
    mean_price_per_kwh: NDArray[np.float64]
    """Volume-weighted mean trade price, currency/kWh; NaN where nothing traded."""
    traded_kwh: NDArray[np.float64]


def market_series(store: SqlStore, community_id: str) -> MarketSeries | None:
    """Clearing price and traded volume per interval; None if the community has no market."""
    intervals = store.market_intervals(community_id)
    trades = store.market_trades(community_id)
    if not len(intervals):
        return None
    when = pd.to_datetime(intervals["interval_start_s"], unit="s", utc=True)
    if len(trades):
        weighted = trades.assign(value=trades["quantity_wh"] * trades["price_micros_per_kwh"])
        per = weighted.groupby("interval_start_s")[["value", "quantity_wh"]].sum()
        price = (per["value"] / per["quantity_wh"] / MICROS_PER_UNIT).reindex(
            intervals["interval_start_s"]
        )
    else:
        price = pd.Series(index=intervals["interval_start_s"], dtype=float)
    return MarketSeries(
        community_id=community_id,
        mechanisms=sorted(set(intervals["mechanism"])),
        start_at=when,
        mean_price_per_kwh=price.to_numpy(dtype=np.float64),
        traded_kwh=(intervals["volume_wh"] / WH_PER_KWH).to_numpy(dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class OrderQuote:
    """The most a buy order can cost per interval: what the market's escrow must hold."""

    quantity_wh: int
    amount_micros: int
    """The energy at the limit price, rounded up."""
    fee_micros: int

    @property
    def total_micros(self) -> int:
        return self.amount_micros + self.fee_micros


def order_quote(
    quantity_kwh: float, price_per_kwh: float, *, fee_per_kwh: float = 0.0, fee_percent: float = 0.0
) -> OrderQuote:
    """The escrow of a buy order of ``quantity_kwh`` at a limit of ``price_per_kwh``
    (currency/kWh) under a fee per kWh (currency) and a fee in percent of what the buyer
    pays; ``UnitError`` if any is negative."""
    quantity_wh = kwh_to_wh(quantity_kwh)
    price = round(price_per_kwh * MICROS_PER_UNIT)
    rules = MarketRules(
        interval_s=900,
        fee_per_kwh=round(fee_per_kwh * MICROS_PER_UNIT),
        fee_bps=round(fee_percent * 100),
    )
    amount = energy_cost_micros(quantity_wh, price, round_up=True)
    return OrderQuote(quantity_wh, amount, rules.fee(quantity_wh, amount))
