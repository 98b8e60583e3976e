"""Plots of a run, drawn from the stored interval balances (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import pandas as pd  # noqa: E402

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


def plot_daily_energy(frame: pd.DataFrame, path: Path) -> Path:
    daily = frame.resample("D").sum(numeric_only=True) / 1000.0
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_typical_day(frame: pd.DataFrame, path: Path) -> Path:
    hours = frame["length_s"].iloc[0] / 3600.0
    power = frame.drop(columns=["community_id"], errors="ignore").select_dtypes("number")
    power = power / 1000.0 / hours
    index = pd.DatetimeIndex(frame.index)
    time_of_day = index.hour + index.minute / 60.0
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_battery(frame: pd.DataFrame, capacity_wh: int, path: Path) -> Path:
    hours = frame["length_s"].iloc[0] / 3600.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(frame.index, 100.0 * frame["stored_wh"] / capacity_wh, color="#6d597a")
    top.set_ylabel("State of charge [%]")
    top.set_ylim(0, 100)
    top.set_title(f"Community batteries ({capacity_wh / 1000:.0f} kWh in all)")
    top.grid(alpha=0.3)
    bottom.fill_between(
        frame.index, frame["charge_wh"] / 1000 / hours, color="#2a9d8f", label="Charge"
    )
    bottom.fill_between(
        frame.index, -frame["discharge_wh"] / 1000 / hours, color="#e76f51", label="Discharge"
    )
    bottom.set_ylabel("Power [kW]")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    balances: pd.DataFrame, time_zone: str, capacity_wh: int, out_dir: Path
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
    return paths
