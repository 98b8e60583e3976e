"""``gridshare market``: the market's history, prices, volumes, savings and reputations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from gridshare.cli.output import console, errors, fail
from gridshare.errors import GridshareError
from gridshare.market.orders import MarketRules
from gridshare.settings import Settings
from gridshare.storage import default_sqlite_url, open_store
from gridshare.units import energy_cost_micros

market_app = typer.Typer(
    help="The peer-to-peer market: report, fees.",
    no_args_is_help=True,
)


class MarketReportError(GridshareError):
    """Nothing to report: no store, or no market in it."""


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
            "paid": (fills["amount"] + fills["fee"]).where(~sell, 0),
        }
    )
    out = frame.groupby(["maker", "participant_id"], dropna=False).sum().reset_index()
    out["reliability"] = (out["delivered_wh"] / out["sold_wh"]).where(out["sold_wh"] > 0)
    return out


def market_report(store_url: str) -> dict[str, Any]:
    """The report as JSON-ready data (every community in the store with a market)."""
    store = open_store(store_url)
    try:
        communities = []
        for community_id in store.community_ids():
            intervals = store.market_intervals(community_id)
            if not len(intervals):
                continue
            fills = store.market_fills(community_id)
            rejections = store.market_rejections(community_id)
            run_id = store.latest_run(community_id)
            members = store.market_member_totals(run_id) if run_id else pd.DataFrame()
            volume = int(intervals["volume_wh"].sum())
            trades = store.market_trades(community_id)
            value = int((trades["quantity_wh"] * trades["price"]).sum()) if len(trades) else 0
            rep = reputation(fills)
            rows = []
            for m in members.to_dict("records") if len(members) else []:
                savings = int(m["grid_only_cost"]) - (
                    int(m["paid"]) - int(m["credited"]) + int(m["grid_cost"])
                )
                r = rep[rep["participant_id"] == m["participant_id"]]
                reliability = r["reliability"].iloc[0] if len(r) else None
                rows.append(
                    {
                        "participant_id": m["participant_id"],
                        "bought_kwh": round(int(m["bought_wh"]) / 1000, 3),
                        "sold_kwh": round(int(m["sold_wh"]) / 1000, 3),
                        "paid": round(int(m["paid"]) / 1e6, 6),
                        "credited": round(int(m["credited"]) / 1e6, 6),
                        "fees": round(int(m["fees"]) / 1e6, 6),
                        "grid_only_cost": round(int(m["grid_only_cost"]) / 1e6, 6),
                        "savings": round(savings / 1e6, 6),
                        "reliability": None
                        if reliability is None or pd.isna(reliability)
                        else round(float(reliability), 4),
                    }
                )
            communities.append(
                {
                    "community": community_id,
                    "run": run_id,
                    "mechanisms": sorted(set(intervals["mechanism"])),
                    "intervals": len(intervals),
                    "intervals_with_trades": int((intervals["volume_wh"] > 0).sum()),
                    "orders": int(intervals["orders"].sum()),
                    "orders_rejected": len(rejections),
                    "rejections": {
                        str(k): int(v)
                        for k, v in rejections["reason"].value_counts().sort_index().items()
                    }
                    if len(rejections)
                    else {},
                    "traded_kwh": round(volume / 1000, 3),
                    "mean_price_per_kwh": round(value / volume / 1e6, 6) if volume else None,
                    "buyers_paid": round(int(intervals["buyers_paid"].sum()) / 1e6, 6),
                    "refunds": round(int(intervals["refunds"].sum()) / 1e6, 6),
                    "fees": round(int(intervals["fees"].sum()) / 1e6, 6),
                    "to_fund": round(int(intervals["to_fund"].sum()) / 1e6, 6),
                    "settled_on_chain": int(intervals["settled_on_chain"].sum()),
                    "member_savings": round(sum(r["savings"] for r in rows), 6),
                    "members": rows,
                }
            )
        return {"communities": communities}
    finally:
        store.close()


def write_market_plot(store_url: str, community_id: str, path: Path) -> Path | None:
    """Clearing price and traded volume per interval (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = open_store(store_url)
    try:
        intervals = store.market_intervals(community_id)
        trades = store.market_trades(community_id)
    finally:
        store.close()
    if not len(intervals):
        return None
    when = pd.to_datetime(intervals["interval_start_s"], unit="s", utc=True)
    if len(trades):
        weighted = trades.assign(value=trades["quantity_wh"] * trades["price"])
        per = weighted.groupby("interval_start_s")[["value", "quantity_wh"]].sum()
        price = (per["value"] / per["quantity_wh"] / 1e6).reindex(intervals["interval_start_s"])
    else:
        price = pd.Series(index=intervals["interval_start_s"], dtype=float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(when, price.to_numpy(), drawstyle="steps-post", color="tab:purple")
    top.set_ylabel("mean price (currency/kWh)")
    top.set_title(f"{community_id}: peer-to-peer market ({', '.join(set(intervals['mechanism']))})")
    bottom.bar(when, intervals["volume_wh"] / 1000, width=0.01, color="tab:green")
    bottom.set_ylabel("traded (kWh per interval)")
    bottom.set_xlabel("UTC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@market_app.command("report")
def report_command(
    data_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: GRIDSHARE_DATA_DIR)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    members: Annotated[int, typer.Option(help="Members listed (by savings)")] = 15,
) -> None:
    """Trades, prices, volumes, fees and each member's savings against the grid tariff,
    with sellers' delivery reliability; writes market.png next to the store."""
    settings = Settings()
    directory = data_dir or settings.data_dir
    url = settings.database_url or default_sqlite_url(directory)
    try:
        report = market_report(url)
        if not report["communities"]:
            raise MarketReportError(
                f"no market results in {url}: run `gridshare simulate SCENARIO --out DIR` first"
            )
    except GridshareError as exc:
        raise fail(exc) from None
    if as_json:
        console.print_json(json.dumps(report))
        return
    for c in report["communities"]:
        head = Table(title=f"Market of {c['community']} ({', '.join(c['mechanisms'])})")
        head.add_column("")
        head.add_column("", justify="right")
        for key in (
            "intervals",
            "intervals_with_trades",
            "orders",
            "orders_rejected",
            "traded_kwh",
            "mean_price_per_kwh",
            "buyers_paid",
            "refunds",
            "fees",
            "to_fund",
            "settled_on_chain",
            "member_savings",
        ):
            head.add_row(key.replace("_", " "), str(c[key]))
        for reason, n in c["rejections"].items():
            head.add_row(f"  rejected: {reason}", str(n))
        console.print(head)
        table = Table(title="Members (top savings)")
        table.add_column("member", no_wrap=True)
        for col in ("bought kWh", "sold kWh", "paid", "credited", "savings", "delivered"):
            table.add_column(col, justify="right")
        top = sorted(c["members"], key=lambda r: -r["savings"])[:members]
        for r in top:
            rel = "" if r["reliability"] is None else f"{r['reliability']:.1%}"
            table.add_row(
                str(r["participant_id"]),
                f"{r['bought_kwh']:,.1f}",
                f"{r['sold_kwh']:,.1f}",
                f"{r['paid']:,.2f}",
                f"{r['credited']:,.2f}",
                f"{r['savings']:,.2f}",
                rel,
            )
        console.print(table)
        if url.startswith("sqlite:///"):
            plot = write_market_plot(
                url, c["community"], Path(url.removeprefix("sqlite:///")).parent / "market.png"
            )
            if plot is not None:
                console.print(f"Plot: {plot}")


@market_app.command("fees")
def fees_command(
    quantity_kwh: Annotated[float, typer.Argument(help="Energy to buy, kWh")],
    price_per_kwh: Annotated[float, typer.Argument(help="Your limit price, currency/kWh")],
    fee_per_kwh: Annotated[float, typer.Option(help="The market's fee per kWh")] = 0.0,
    fee_percent: Annotated[float, typer.Option(help="The market's fee in percent")] = 0.0,
) -> None:
    """Show the most an order can cost, fee included, before placing it."""
    quantity_wh = round(quantity_kwh * 1000)
    price = round(price_per_kwh * 1e6)
    rules = MarketRules(
        interval_s=900, fee_per_kwh=round(fee_per_kwh * 1e6), fee_bps=round(fee_percent * 100)
    )
    try:
        amount = energy_cost_micros(quantity_wh, price, round_up=True)
        fee = rules.fee(quantity_wh, amount)
    except GridshareError as exc:
        errors.print(f"[bold red]error:[/] quantity, price and fees must be >= 0 ({exc})")
        raise typer.Exit(code=2) from None
    console.print(
        f"{quantity_wh} Wh at <= {price_per_kwh} /kWh: at most {amount / 1e6:.6f} for the "
        f"energy + {fee / 1e6:.6f} fee = {(amount + fee) / 1e6:.6f} held in escrow"
    )
