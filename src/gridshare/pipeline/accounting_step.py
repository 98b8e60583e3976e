"""Pipeline step: the community energy balance of every interval, and run totals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gridshare.balancing.accounting import ParticipantFlows, account_interval
from gridshare.model import Community, QualityFlag
from gridshare.model.community import SOURCES
from gridshare.model.summary import (
    AccountingSummary,
    EnergyWh,
    GridCostSummary,
    ParticipantSummary,
    ProductionKwh,
)
from gridshare.pipeline.context import Accounted, IntervalContext
from gridshare.pipeline.ports import StoreTransaction
from gridshare.units import (
    SECONDS_PER_DAY,
    demand_charge_micros,
    energy_cost_micros,
    energy_wh_to_mean_power_kw,
    micros_to_currency,
    power_kw_to_energy_wh,
    report_kwh,
)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


class EnergyAccountingStep:
    """Accounts every interval and accumulates exact (int Wh) totals for the summary."""

    name = "accounting"
    requires: tuple[type, ...] = ()
    provides: tuple[type, ...] = (Accounted,)

    def __init__(self, community: Community) -> None:
        self.community = community
        self.catalogue = community.catalogue
        n = len(community.participants)
        self._stored = self.catalogue.initial_stored_wh.copy()
        self._initial_stored_wh = int(self._stored.sum())
        self._by_source = np.zeros(len(SOURCES), dtype=np.int64)
        self._totals = {
            name: np.zeros(n, dtype=np.int64) for name in ParticipantFlows.__dataclass_fields__
        }
        self._sums: dict[str, int] = dict.fromkeys(
            (
                "consumption",
                "pcc_import",
                "pcc_export",
                "member_import",
                "member_export",
                "charge",
                "discharge",
                "storage_losses",
                "residual",
            ),
            0,
        )
        self._import_cost_micros = 0
        self._export_revenue_micros = 0
        self._peak_import_wh = 0
        self._peak_export_wh = 0
        self._flagged = {str(flag.name).lower(): 0 for flag in QualityFlag if flag}
        self._intervals = 0
        self._length = community.interval_length

    def run(self, ctx: IntervalContext, tx: StoreTransaction) -> None:
        closed = ctx.closed
        quality = closed.quality
        tariff = self.community.tariff
        balance, flows, self._stored = account_interval(
            closed.batch, self.catalogue, len(self.community.participants), self._stored, quality
        )
        if balance.pcc_import_wh > power_kw_to_energy_wh(
            tariff.import_limit_kw, self._length
        ) or balance.pcc_export_wh > power_kw_to_energy_wh(tariff.export_limit_kw, self._length):
            balance = replace(balance, quality=balance.quality | QualityFlag.LIMIT_EXCEEDED)
        for flag in QualityFlag:
            if flag and flag in balance.quality:
                self._flagged[str(flag.name).lower()] += 1
        tx.write_balance(closed.interval, balance, closed.received, closed.expected)
        end_s = closed.interval.start_s + closed.interval.length_s
        if end_s % SECONDS_PER_DAY == 0:  # the UTC day's last interval: its readings are final
            tx.roll_up_day(end_s - SECONDS_PER_DAY)
        stored = self._stored.copy()
        stored.flags.writeable = False
        ctx.provide(Accounted(balance, flows, stored))

        self._intervals += 1
        self._by_source += np.asarray(balance.production_wh_by_source, dtype=np.int64)
        for name, total in self._totals.items():
            total += getattr(flows, name)
        sums = self._sums
        sums["consumption"] += balance.consumption_wh
        sums["pcc_import"] += balance.pcc_import_wh
        sums["pcc_export"] += balance.pcc_export_wh
        sums["member_import"] += balance.member_import_wh
        sums["member_export"] += balance.member_export_wh
        sums["charge"] += balance.charge_wh
        sums["discharge"] += balance.discharge_wh
        sums["storage_losses"] += balance.storage_losses_wh
        sums["residual"] += balance.residual_wh
        buy, sell = self.community.tariff.prices_at(closed.interval.start_s)
        self._import_cost_micros += energy_cost_micros(balance.pcc_import_wh, buy, round_up=True)
        self._export_revenue_micros += energy_cost_micros(
            balance.pcc_export_wh, sell, round_up=False
        )
        self._peak_import_wh = max(self._peak_import_wh, balance.pcc_import_wh)
        self._peak_export_wh = max(self._peak_export_wh, balance.pcc_export_wh)

    def totals(self) -> ParticipantFlows:
        """Per-participant totals so far (int Wh)."""
        return ParticipantFlows(**{name: total.copy() for name, total in self._totals.items()})

    def finish(self, run_id: str, tx: StoreTransaction) -> None:
        tx.write_participant_totals(run_id, self.totals())

    def summary(self) -> AccountingSummary:
        s = self._sums
        production = int(self._by_source.sum())
        storage_change = int(self._stored.sum()) - self._initial_stored_wh
        residual = (
            production
            + s["pcc_import"]
            - s["consumption"]
            - s["pcc_export"]
            - s["storage_losses"]
            - storage_change
        )
        import_cost = self._import_cost_micros
        export_revenue = self._export_revenue_micros
        demand = demand_charge_micros(
            self._peak_import_wh, self.community.tariff.demand_charge_micros_per_kw, self._length
        )
        return AccountingSummary(
            production_kwh=ProductionKwh(
                total=report_kwh(production),
                by_source={
                    source.value: report_kwh(int(wh))
                    for source, wh in zip(SOURCES, self._by_source, strict=True)
                },
            ),
            consumption_kwh=report_kwh(s["consumption"]),
            import_kwh=report_kwh(s["pcc_import"]),
            export_kwh=report_kwh(s["pcc_export"]),
            storage_charge_kwh=report_kwh(s["charge"]),
            storage_discharge_kwh=report_kwh(s["discharge"]),
            storage_losses_kwh=report_kwh(s["storage_losses"]),
            storage_change_kwh=report_kwh(storage_change),
            self_consumption_ratio=_ratio(production - s["pcc_export"], production),
            self_sufficiency_ratio=_ratio(s["consumption"] - s["pcc_import"], s["consumption"]),
            peak_import_kw=round(energy_wh_to_mean_power_kw(self._peak_import_wh, self._length), 3),
            peak_export_kw=round(energy_wh_to_mean_power_kw(self._peak_export_wh, self._length), 3),
            energy_balance_residual_wh=residual,
            energy_wh=EnergyWh(
                production=production,
                consumption=s["consumption"],
                import_=s["pcc_import"],
                export=s["pcc_export"],
                storage_losses=s["storage_losses"],
                storage_change=storage_change,
                member_import=s["member_import"],
                member_export=s["member_export"],
                interval_residual_sum=s["residual"],
            ),
            grid_cost=GridCostSummary(
                import_cost=micros_to_currency(import_cost),
                export_revenue=micros_to_currency(export_revenue),
                demand_charge=micros_to_currency(demand),
                net_cost=micros_to_currency(import_cost - export_revenue + demand),
            ),
            intervals_flagged=dict(self._flagged),
            participants=self._participant_summaries(),
        )

    def _participant_summaries(self) -> tuple[ParticipantSummary, ...]:
        t = {name: total.tolist() for name, total in self._totals.items()}
        return tuple(
            ParticipantSummary(
                participant_id=p.participant_id,
                role=p.role.value,
                category=p.category.value,
                grid_import_kwh=report_kwh(t["grid_import_wh"][i]),
                grid_export_kwh=report_kwh(t["grid_export_wh"][i]),
                production_kwh=report_kwh(t["production_wh"][i]),
                consumption_kwh=report_kwh(t["consumption_wh"][i]),
                charge_kwh=report_kwh(t["charge_wh"][i]),
                discharge_kwh=report_kwh(t["discharge_wh"][i]),
            )
            for i, p in enumerate(self.community.participants)
        )
