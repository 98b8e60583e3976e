"""Community energy accounting for one closed interval (pure, vectorised, int Wh).

From the meters of one interval it derives who produced, consumed, stored and exchanged
what. Consumption is not metered directly; for each participant it is

    consumption = grid_import - grid_export + production + discharge - charge

and the community's balance at the point of common coupling (PCC) is

    production + pcc_import = consumption + pcc_export + storage_losses + storage_change
                              + residual

where ``residual = pcc_net - sum(member grid nets)``: zero when every member meter
reported once and the PCC meter agrees with them (no network losses are modelled before
the power flow of issue 6). ``storage_losses = charge - discharge - storage_change``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridshare.model import NOT_REPORTED, MeterCatalogue, MeterKind, QualityFlag, ReadingBatch
from gridshare.model.community import METER_KINDS, SOURCES
from gridshare.units import IntArray


@dataclass(frozen=True, slots=True)
class ParticipantFlows:
    """Per-participant energy of one interval, int Wh, aligned with the participants."""

    grid_import_wh: IntArray
    grid_export_wh: IntArray
    production_wh: IntArray
    consumption_wh: IntArray
    charge_wh: IntArray
    discharge_wh: IntArray


@dataclass(frozen=True, slots=True)
class IntervalBalance:
    """The community's energy balance over one interval, int Wh."""

    production_wh_by_source: tuple[int, ...]
    """Aligned with :data:`gridshare.model.community.SOURCES`."""
    consumption_wh: int
    member_import_wh: int
    member_export_wh: int
    pcc_import_wh: int
    pcc_export_wh: int
    charge_wh: int
    discharge_wh: int
    stored_wh: int
    storage_change_wh: int
    storage_losses_wh: int
    residual_wh: int
    quality: QualityFlag

    @property
    def production_wh(self) -> int:
        return sum(self.production_wh_by_source)


def _sum_by(index: IntArray, values: IntArray, size: int) -> IntArray:
    return np.bincount(index, weights=values, minlength=size).astype(np.int64)


def account_interval(
    batch: ReadingBatch,
    catalogue: MeterCatalogue,
    n_participants: int,
    stored_before_wh: IntArray,
    quality: QualityFlag = QualityFlag.OK,
) -> tuple[IntervalBalance, ParticipantFlows, IntArray]:
    """Balance of one interval; also returns the per-meter stored energy after it.

    ``stored_before_wh`` is the stored energy per meter (aligned with the catalogue) at
    the start of the interval; meters that did not report keep their previous value.
    Integer sums use ``bincount`` with float weights, exact below 2**53 Wh.
    """
    idx = batch.meter_index
    kind = catalogue.kind_code[idx]
    owner = catalogue.participant_index[idx]

    def select(meter_kind: MeterKind) -> NDArray[np.bool_]:
        mask: NDArray[np.bool_] = kind == METER_KINDS.index(meter_kind)
        return mask

    grid, production, storage, pcc = (
        select(MeterKind.GRID),
        select(MeterKind.PRODUCTION),
        select(MeterKind.STORAGE),
        select(MeterKind.PCC),
    )
    flows = ParticipantFlows(
        grid_import_wh=_sum_by(owner[grid], batch.import_wh[grid], n_participants),
        grid_export_wh=_sum_by(owner[grid], batch.export_wh[grid], n_participants),
        production_wh=_sum_by(owner[production], batch.export_wh[production], n_participants),
        consumption_wh=np.zeros(n_participants, dtype=np.int64),
        charge_wh=_sum_by(owner[storage], batch.import_wh[storage], n_participants),
        discharge_wh=_sum_by(owner[storage], batch.export_wh[storage], n_participants),
    )
    consumption = (
        flows.grid_import_wh
        - flows.grid_export_wh
        + flows.production_wh
        + flows.discharge_wh
        - flows.charge_wh
    )
    flows.consumption_wh[:] = consumption
    if (consumption < 0).any():
        quality |= QualityFlag.INCONSISTENT

    by_source = _sum_by(
        catalogue.source_code[idx[production]], batch.export_wh[production], len(SOURCES)
    )

    stored_after = stored_before_wh.copy()
    reported = storage & (batch.stored_wh != NOT_REPORTED)
    stored_after[idx[reported]] = batch.stored_wh[reported]
    storage_change = int(stored_after.sum() - stored_before_wh.sum())
    charge, discharge = int(flows.charge_wh.sum()), int(flows.discharge_wh.sum())

    pcc_import = int(batch.import_wh[pcc].sum())
    pcc_export = int(batch.export_wh[pcc].sum())
    member_import = int(flows.grid_import_wh.sum())
    member_export = int(flows.grid_export_wh.sum())
    if not pcc.any():
        quality |= QualityFlag.MISSING
    balance = IntervalBalance(
        production_wh_by_source=tuple(int(x) for x in by_source),
        consumption_wh=int(consumption.sum()),
        member_import_wh=member_import,
        member_export_wh=member_export,
        pcc_import_wh=pcc_import,
        pcc_export_wh=pcc_export,
        charge_wh=charge,
        discharge_wh=discharge,
        stored_wh=int(stored_after.sum()),
        storage_change_wh=storage_change,
        storage_losses_wh=charge - discharge - storage_change,
        residual_wh=(pcc_import - pcc_export) - (member_import - member_export),
        quality=quality,
    )
    return balance, flows, stored_after
