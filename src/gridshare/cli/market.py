"""``gridshare market``: the market's history, prices, volumes, savings and reputations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridshare.cli.output import console, errors, fail
from gridshare.errors import GridshareError
from gridshare.pipeline.market_report import MarketSeries, market_report, market_series, order_quote
from gridshare.settings import Settings
from gridshare.storage import default_sqlite_url, open_store
from gridshare.units import micros_to_currency

market_app = typer.Typer(
    help="The peer-to-peer market: report, fees.",
    no_args_is_help=True,
)


class MarketReportError(GridshareError):
    """Nothing to report: no store, or no market in it."""


def write_market_plot(series: MarketSeries, path: Path) -> Path:
    """Clearing price and traded volume per interval (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(series.start_at, series.mean_price_per_kwh, drawstyle="steps-post", color="tab:purple")
    top.set_ylabel("mean price (currency/kWh)")
    top.set_title(f"{series.community_id}: peer-to-peer market ({', '.join(series.mechanisms)})")
    bottom.bar(series.start_at, series.traded_kwh, width=0.01, color="tab:green")
    bottom.set_ylabel("traded (kWh per interval)")
    bottom.set_xlabel("UTC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot(url: str, community_id: str) -> Path | None:
    """market.png next to a SQLite store (none for other databases or without a market)."""
    if not url.startswith("sqlite:///"):
        return None
    store = open_store(url)
    try:
        series = market_series(store, community_id)
    finally:
        store.close()
    if series is None:
        return None
    return write_market_plot(series, Path(url.removeprefix("sqlite:///")).parent / "market.png")


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
        store = open_store(url)
        try:
            report = market_report(store)
        finally:
            store.close()
        if not report.communities:
            raise MarketReportError(
                f"no market results in {url}: run `gridshare simulate SCENARIO --out DIR` first"
            )
    except GridshareError as exc:
        raise fail(exc) from None
    if as_json:
        console.print_json(json.dumps(report.to_json()))
        return
    for c in report.communities:
        head = Table(title=f"Market of {c.community} ({', '.join(c.mechanisms)})")
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
            head.add_row(key.replace("_", " "), str(getattr(c, key)))
        for reason, n in c.rejections.items():
            head.add_row(f"  rejected: {reason}", str(n))
        console.print(head)
        table = Table(title="Members (top savings)")
        table.add_column("member", no_wrap=True)
        for col in ("bought kWh", "sold kWh", "paid", "credited", "savings", "delivered"):
            table.add_column(col, justify="right")
        top = sorted(c.members, key=lambda r: r.savings, reverse=True)[:members]
        for r in top:
            rel = "" if r.reliability is None else f"{r.reliability:.1%}"
            table.add_row(
                r.participant_id,
                f"{r.bought_kwh:,.1f}",
                f"{r.sold_kwh:,.1f}",
                f"{r.paid:,.2f}",
                f"{r.credited:,.2f}",
                f"{r.savings:,.2f}",
                rel,
            )
        console.print(table)
        plot = _plot(url, c.community)
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
    try:
        quote = order_quote(
            quantity_kwh, price_per_kwh, fee_per_kwh=fee_per_kwh, fee_percent=fee_percent
        )
    except GridshareError as exc:
        errors.print(f"[bold red]error:[/] quantity, price and fees must be >= 0 ({exc})")
        raise typer.Exit(code=2) from None
    amount = micros_to_currency(quote.amount_micros)
    fee = micros_to_currency(quote.fee_micros)
    total = micros_to_currency(quote.total_micros)
    console.print(
        f"{quote.quantity_wh} Wh at <= {price_per_kwh} /kWh: at most {amount:.6f} for the "
        f"energy + {fee:.6f} fee = {total:.6f} held in escrow"
    )
