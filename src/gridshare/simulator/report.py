"""Plots of a run, drawn from the stored interval balances (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt  # after mpl.use: the backend must be chosen first
import pandas as pd
from matplotlib.figure import Figure

from gridshare.units import MINUTES_PER_HOUR, SECONDS_PER_HOUR, WH_PER_KWH, wh_to_kwh

SOURCE_COLOURS = {
    "solar_wh": ("Solar", "#f2b705"),
    "wind_wh": ("Wind", "#4c9be8"),
    "hydro_wh": ("Hydro", "#1f5f8b"),
    "biomass_wh": ("Biomass", "#6a994e"),
}


def _local(balances: pd.DataFrame, time_zone: str) -> pd.DataFrame:
    frame = balances.copy()
    frame.index = pd.DatetimeIndex(frame.index).tz_convert(time_zone)
    return frame


def _save(fig: Figure, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` as PNG and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_daily_energy(frame: pd.DataFrame, path: Path) -> Path:
    daily = frame.resample("D").sum(numeric_only=True) / WH_PER_KWH
    fig, ax = plt.subplots(figsize=(11, 5))
    bottom = pd.Series(0.0, index=daily.index)
    labels = [d.strftime("%b %d") for d in daily.index]
    x = range(len(daily))
    for column, (label, colour) in SOURCE_COLOURS.items():
        if daily[column].sum() > 0:
            ax.bar(x, daily[column], bottom=bottom, color=colour, label=label, width=0.8)
            bottom = bottom + daily[column]
    ax.plot(x, daily["consumption_wh"], color="black", marker="o", label="Consumption")
    ax.plot(x, daily["pcc_import_wh"], color="#c1121f", marker=".", ls="--", label="Import (PCC)")
    ax.plot(x, daily["pcc_export_wh"], color="#2a9d8f", marker=".", ls="--", label="Export (PCC)")
    step = max(1, len(labels) // 20)
    ax.set_xticks(list(x)[::step], labels[::step], rotation=45, ha="right")
    ax.set_ylabel("Energy per day [kWh]")
    ax.set_title("Daily energy: production by source vs consumption")
    ax.legend(ncol=3, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_typical_day(frame: pd.DataFrame, path: Path) -> Path:
    hours = frame["length_s"].iloc[0] / SECONDS_PER_HOUR
    power = frame.drop(columns=["community_id"], errors="ignore").select_dtypes("number")
    power = power / WH_PER_KWH / hours
    index = pd.DatetimeIndex(frame.index)
    time_of_day = index.hour + index.minute / MINUTES_PER_HOUR
    mean = power.groupby(time_of_day).mean()
    fig, ax = plt.subplots(figsize=(10, 5))
    present = [c for c in SOURCE_COLOURS if mean[c].sum() > 0]
    ax.stackplot(
        mean.index,
        *[mean[c] for c in present],
        labels=[SOURCE_COLOURS[c][0] for c in present],
        colors=[SOURCE_COLOURS[c][1] for c in present],
        alpha=0.8,
    )
    ax.plot(mean.index, mean["consumption_wh"], color="black", lw=2, label="Consumption")
    ax.plot(mean.index, mean["pcc_import_wh"], color="#c1121f", ls="--", label="Import (PCC)")
    ax.plot(mean.index, mean["pcc_export_wh"], color="#2a9d8f", ls="--", label="Export (PCC)")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("Local time of day [h]")
    ax.set_ylabel("Mean power [kW]")
    ax.set_title("Typical day (mean over the run)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_battery(frame: pd.DataFrame, capacity_wh: int, path: Path) -> Path:
    hours = frame["length_s"].iloc[0] / SECONDS_PER_HOUR
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(frame.index, 100.0 * frame["stored_wh"] / capacity_wh, color="#6d597a")
    top.set_ylabel("State of charge [%]")
    top.set_ylim(0, 100)
    top.set_title(f"Community batteries ({wh_to_kwh(capacity_wh):.0f} kWh in all)")
    top.grid(alpha=0.3)
    bottom.fill_between(
        frame.index, frame["charge_wh"] / WH_PER_KWH / hours, color="#2a9d8f", label="Charge"
    )
    bottom.fill_between(
        frame.index, -frame["discharge_wh"] / WH_PER_KWH / hours, color="#e76f51", label="Discharge"
    )
    bottom.set_ylabel("Power [kW]")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_balancing(
    frame: pd.DataFrame,
    balancing: pd.DataFrame,
    events: pd.DataFrame,
    time_zone: str,
    path: Path,
) -> Path:
    """The connection's exchange against the plan, islanded hours and demand-response
    windows; bus voltages (power flow) or the island frequency below."""
    hours = frame["length_s"].iloc[0] / SECONDS_PER_HOUR
    plan = balancing.copy()
    plan.index = pd.DatetimeIndex(
        pd.to_datetime(plan["interval_start_s"], unit="s", utc=True)
    ).tz_convert(time_zone)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    net_kw = (frame["pcc_import_wh"] - frame["pcc_export_wh"]) / WH_PER_KWH / hours
    top.plot(frame.index, net_kw, color="#264653", lw=0.9, label="Metered import - export")
    planned = plan["next_planned_import_wh"].shift(1) / WH_PER_KWH / hours
    top.plot(plan.index, planned, color="#e9c46a", lw=0.8, ls="--", label="Planned import")
    islanded = plan["islanded"].astype(bool)
    for start in plan.index[islanded & ~islanded.shift(1, fill_value=False)]:
        stop = plan.index[(plan.index > start) & ~islanded]
        end = stop[0] if len(stop) else plan.index[-1]
        top.axvspan(start, end, color="#e76f51", alpha=0.25, lw=0)
    if not events.empty:
        for a_s, b_s in zip(events["start_s"].tolist(), events["end_s"].tolist(), strict=True):
            a = pd.Timestamp(a_s, unit="s", tz="UTC").tz_convert(time_zone)
            b = pd.Timestamp(b_s, unit="s", tz="UTC").tz_convert(time_zone)
            top.axvspan(a, b, color="#2a9d8f", alpha=0.25, lw=0)
    top.axhline(0, color="black", lw=0.5)
    top.set_ylabel("Power at the connection [kW]")
    top.set_title("Balancing: islanded (red), demand-response events (green)")
    top.legend(fontsize=8, loc="upper right")
    top.grid(alpha=0.3)
    if plan["vm_min_pu"].notna().any():
        bottom.plot(plan.index, plan["vm_max_pu"], color="#e76f51", lw=0.8, label="Highest bus")
        bottom.plot(plan.index, plan["vm_min_pu"], color="#457b9d", lw=0.8, label="Lowest bus")
        bottom.set_ylabel("Voltage [pu]")
    else:
        bottom.plot(plan.index, plan["reserve_kw"], color="#6d597a", lw=0.8, label="Reserve")
        bottom.set_ylabel("Reserve [kW]")
    bottom.legend(fontsize=8, loc="upper right")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _save(fig, path)


def write_plots(
    balances: pd.DataFrame,
    time_zone: str,
    capacity_wh: int,
    out_dir: Path,
    balancing: pd.DataFrame | None = None,
    dr_events: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw the run's plots into ``out_dir``; returns their paths."""
    if balances.empty:
        return []
    frame = _local(balances, time_zone)
    paths = [
        plot_daily_energy(frame, out_dir / "daily_energy.png"),
        plot_typical_day(frame, out_dir / "typical_day.png"),
    ]
    if capacity_wh > 0:
        paths.append(plot_battery(frame, capacity_wh, out_dir / "battery_soc.png"))
    if balancing is not None and not balancing.empty:
        events = dr_events if dr_events is not None else pd.DataFrame()
        paths.append(plot_balancing(frame, balancing, events, time_zone, out_dir / "balancing.png"))
    return paths
