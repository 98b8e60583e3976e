"""A member's energy by time-of-use period of the community's tariff: how much they
imported and exported in each window (the evening peak, say) and at the base rate, and
what that energy costs (or earns) at the grid tariff. Pure: arrays in, records out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridshare.model.tariff import GridTariff
from gridshare.units import IntArray, energy_cost_micros

__all__ = ["TouPeriod", "time_of_use_breakdown"]


@dataclass(frozen=True, slots=True)
class TouPeriod:
    """One tariff period's energy and its price at the grid tariff."""

    name: str
    """``HH:MM-HH:MM`` (local time of the tariff) for a window, ``base`` otherwise."""
    import_price_micros_per_kwh: int
    intervals: int
    import_wh: int
    export_wh: int
    import_cost_micros: int
    """``import_wh`` at the period's import price, rounded up."""
    export_credit_micros: int
    """``export_wh`` at the export price, rounded down."""


def time_of_use_breakdown(
    tariff: GridTariff, starts_s: IntArray, import_wh: IntArray, export_wh: IntArray
) -> list[TouPeriod]:
    """The intervals starting at ``starts_s`` (with the member's grid import and export
    in each) summed per tariff period: the base rate first, then each window in tariff
    order (every period listed, with zeros where no interval fell in it)."""
    starts = np.asarray(starts_s, dtype=np.int64)
    imports = np.asarray(import_wh, dtype=np.int64)
    exports = np.asarray(export_wh, dtype=np.int64)
    if not starts.size == imports.size == exports.size:
        raise ValueError("starts_s, import_wh and export_wh differ in length")
    period = tariff.periods(starts)
    names = ["base"] + [f"{w.start:%H:%M}-{w.end:%H:%M}" for w in tariff.windows]
    prices = [tariff.import_price_micros_per_kwh] + [
        w.import_price_micros_per_kwh for w in tariff.windows
    ]
    found = []
    for index, (name, price) in enumerate(zip(names, prices, strict=True)):
        inside = period == index - 1
        bought, sold = int(imports[inside].sum()), int(exports[inside].sum())
        found.append(
            TouPeriod(
                name=name,
                import_price_micros_per_kwh=price,
                intervals=int(inside.sum()),
                import_wh=bought,
                export_wh=sold,
                import_cost_micros=energy_cost_micros(bought, price, round_up=True),
                export_credit_micros=energy_cost_micros(
                    sold, tariff.export_price_micros_per_kwh, round_up=False
                ),
            )
        )
    return found
