"""What a run of the balancing step reports: its figures, accumulated interval by
interval, and the summary made from them (peak import and connection cost before and after
the plan, islands, frequency, network, alerts, timings)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from gridshare.balancing.islanding import Island
from gridshare.balancing.monitor import NetworkFigures
from gridshare.model.summary import (
    BalancingSummary,
    BeforeAfter,
    DemandResponseSummary,
    DispatchTimings,
    FrequencyRange,
    IslandSummary,
    NetworkSummary,
    PlanCost,
    PlanSummary,
)
from gridshare.units import MS_PER_S, WH_PER_KWH, micros_to_currency, report_kwh

__all__ = ["BalancingFigures"]


@dataclass
class BalancingFigures:
    """The balancing step's run figures (the step updates them; nothing else does)."""

    optimise: bool
    horizon_intervals: int
    interval_hours: float
    demand_charge_micros_per_kw: int
    terminal_value_micros_per_kwh: float
    """What a kWh left in storage at the end is worth (both runs count it)."""
    intervals: int = 0
    planned: int = 0
    solve_s: list[float] = field(default_factory=list)
    alert_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    peak_before_wh: int = 0
    """The self-consumption rule's (the counterfactual's) peak import."""
    peak_after_wh: int = 0
    energy_cost_before: float = 0.0
    energy_cost_after: float = 0.0
    min_reserve_margin: float | None = None
    islands: list[Island] = field(default_factory=list)
    network: NetworkFigures = field(default_factory=NetworkFigures)
    frequency_min_hz: float | None = None
    frequency_max_hz: float | None = None
    chain_transactions: int = 0
    short_sales_wh_f: float = 0.0

    def observe_frequency(self, frequency_hz: float) -> None:
        """An islanded interval's frequency."""
        self.frequency_min_hz = min(frequency_hz, self.frequency_min_hz or frequency_hz)
        self.frequency_max_hz = max(frequency_hz, self.frequency_max_hz or frequency_hz)

    def observe_reserve_margin(self, margin: float | None) -> None:
        if margin is not None:
            self.min_reserve_margin = min(margin, self.min_reserve_margin or margin)

    def observe_exchange(
        self, before_wh: int, after_wh: int, buy_micros_per_kwh: float, sell_micros_per_kwh: float
    ) -> None:
        """One connected interval's net import (> 0) with the rule (before) and with the
        plan (after), priced at the interval's tariff."""

        def cost_micros_f(net_wh: int) -> float:
            bought = max(net_wh, 0) * buy_micros_per_kwh
            return (bought - max(-net_wh, 0) * sell_micros_per_kwh) / WH_PER_KWH

        self.energy_cost_before += cost_micros_f(before_wh)
        self.energy_cost_after += cost_micros_f(after_wh)
        self.peak_before_wh = max(self.peak_before_wh, before_wh)
        self.peak_after_wh = max(self.peak_after_wh, after_wh)

    def summary(
        self,
        *,
        stored_after_wh: int,
        stored_before_wh: int | None,
        has_network: bool,
        demand_response: DemandResponseSummary | None,
        dr_chain_transactions: int,
    ) -> BalancingSummary:
        """The step's part of the run summary; ``stored_*`` are the batteries' energy at the
        end with the plan and with the rule (None: the rule never ran)."""
        to_kw = 1 / WH_PER_KWH / self.interval_hours
        demand = self.demand_charge_micros_per_kw
        cost_before = self.energy_cost_before + demand * self.peak_before_wh * to_kw
        cost_after = self.energy_cost_after + demand * self.peak_after_wh * to_kw
        stored_after = stored_after_wh
        stored_before = stored_after if stored_before_wh is None else stored_before_wh
        # what each run leaves in storage is worth something: count it at the same value
        left_value = (
            (stored_after - stored_before) * self.terminal_value_micros_per_kwh / WH_PER_KWH
        )
        solve = np.array(self.solve_s) if self.solve_s else np.zeros(1)
        return BalancingSummary(
            timings=DispatchTimings(
                dispatch_solve_ms_mean=round(float(solve.mean()) * MS_PER_S, 2),
                dispatch_solve_ms_max=round(float(solve.max()) * MS_PER_S, 2),
            ),
            peak_import_kw_before=round(self.peak_before_wh * to_kw, 3),
            unserved_critical_kwh=report_kwh(sum(i.unserved_critical_wh for i in self.islands)),
            islanded_hours=round(sum(i.intervals for i in self.islands) * self.interval_hours, 3),
            voltage_violations=self.network.voltage_violations,
            balancing=PlanSummary(
                optimiser="highs-lp" if self.optimise else "self-consumption rule",
                intervals=self.intervals,
                plans=self.planned,
                horizon_hours=round(self.horizon_intervals * self.interval_hours, 3),
                peak_import_kw=BeforeAfter(
                    before=round(self.peak_before_wh * to_kw, 3),
                    after=round(self.peak_after_wh * to_kw, 3),
                ),
                grid_cost=PlanCost(
                    before=_money(cost_before),
                    after=_money(cost_after),
                    stored_kwh_at_end=BeforeAfter(
                        before=report_kwh(stored_before), after=report_kwh(stored_after)
                    ),
                    saving=_money(cost_before - cost_after + left_value),
                ),
                min_reserve_margin=None
                if self.min_reserve_margin is None
                else round(self.min_reserve_margin, 4),
                alerts=self._alerts_by_kind(),
                islands=tuple(self._island(i) for i in self.islands),
                frequency_hz=None
                if self.frequency_min_hz is None
                else FrequencyRange(
                    min_hz=round(self.frequency_min_hz, 4),
                    max_hz=round(self.frequency_max_hz or 0.0, 4),
                ),
                network=self._network() if has_network else None,
                sales_short_kwh=round(self.short_sales_wh_f / WH_PER_KWH, 3),
                demand_response=demand_response,
                chain_transactions=self.chain_transactions + dr_chain_transactions,
            ),
        )

    def _alerts_by_kind(self) -> dict[str, dict[str, int]]:
        by_kind: dict[str, dict[str, int]] = {}
        for (kind, severity), count in sorted(self.alert_counts.items()):
            by_kind.setdefault(kind, {})[severity] = count
        return by_kind

    def _island(self, island: Island) -> IslandSummary:
        return IslandSummary(
            start_s=island.start_s,
            hours=round(island.intervals * self.interval_hours, 3),
            shed_kwh=report_kwh(island.shed_wh),
            unserved_critical_kwh=report_kwh(island.unserved_critical_wh),
            served_critical_kwh=report_kwh(island.served_critical_wh),
        )

    def _network(self) -> NetworkSummary:
        figures = self.network
        return NetworkSummary(
            vm_min_pu=None if figures.vm_min_pu is None else round(figures.vm_min_pu, 5),
            vm_max_pu=None if figures.vm_max_pu is None else round(figures.vm_max_pu, 5),
            overloaded_line_intervals=figures.overloaded_line_intervals,
            losses_kwh=round(figures.losses_kwh, 3),
        )


def _money(micros: float) -> Decimal:
    return micros_to_currency(int(round(micros)))
