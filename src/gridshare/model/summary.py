"""A run's summary as typed records, serialised to JSON in one place.

Every step reports what it did as a frozen record (:class:`AccountingSummary`,
:class:`MarketSummary`, ...). The loop collects them in step order and the composition
root wraps them, with what the run was, in a :class:`RunSummary`. :func:`to_json` turns
any of these into JSON values; it is the only code that does, so ``summary.json``, the
store's ``runs.summary_json`` and the CLI's table all read the same figures.

Conventions of the serialised form: a step's fields stand at the top level of the run's
object (the sections do not nest by step), money is a decimal string in currency units,
energy in ``*_kwh`` is rounded to the Wh, and a field may name its JSON key in its
metadata (``import`` is a Python keyword).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Protocol, TypeVar

from gridshare.model.readings import WriteReport

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

__all__ = [
    "AccountingSummary",
    "BalancingSummary",
    "BeforeAfter",
    "CertificateSummary",
    "CommitSummary",
    "DemandResponseSummary",
    "DispatchTimings",
    "EnergyWh",
    "FrequencyRange",
    "GridCostSummary",
    "IngestFigures",
    "IslandSummary",
    "JsonValue",
    "LiveFacts",
    "MarketFigures",
    "MarketSummary",
    "NetworkSummary",
    "ParticipantSummary",
    "PlanCost",
    "PipelineReport",
    "PlanSummary",
    "ProductionKwh",
    "RunSummary",
    "SimulationFacts",
    "StepSummary",
    "Verification",
    "record_json",
    "to_json",
]


if TYPE_CHECKING:
    StepSummary = DataclassInstance
else:
    StepSummary = object
"""What :meth:`Step.summary` returns: a frozen record whose fields join the run's."""

T = TypeVar("T")


def _key(f: Field[object]) -> str:
    json_key = f.metadata.get("json")
    return json_key if isinstance(json_key, str) else f.name


def to_json(value: object) -> JsonValue:
    """The JSON form of a summary record or any value it holds."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    as_json = getattr(value, "as_json", None)
    if callable(as_json):  # a report that names its own keys
        return to_json(as_json())
    if is_dataclass(value) and not isinstance(value, type):
        return {_key(f): to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _json_key(name: str) -> Mapping[str, str]:
    return {"json": name}


# --- accounting ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductionKwh:
    total: float
    by_source: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class EnergyWh:
    """The run's energy balance terms, exact (int Wh)."""

    production: int
    consumption: int
    import_: int = field(metadata=_json_key("import"))
    export: int
    storage_losses: int
    storage_change: int
    member_import: int
    member_export: int
    interval_residual_sum: int


@dataclass(frozen=True, slots=True)
class GridCostSummary:
    """What the connection to the main grid cost over the run (currency units)."""

    import_cost: Decimal
    export_revenue: Decimal
    demand_charge: Decimal
    net_cost: Decimal


@dataclass(frozen=True, slots=True)
class ParticipantSummary:
    participant_id: str
    role: str
    category: str
    grid_import_kwh: float
    grid_export_kwh: float
    production_kwh: float
    consumption_kwh: float
    charge_kwh: float
    discharge_kwh: float


@dataclass(frozen=True, slots=True)
class AccountingSummary:
    production_kwh: ProductionKwh
    consumption_kwh: float
    import_kwh: float
    export_kwh: float
    storage_charge_kwh: float
    storage_discharge_kwh: float
    storage_losses_kwh: float
    storage_change_kwh: float
    self_consumption_ratio: float | None
    self_sufficiency_ratio: float | None
    peak_import_kw: float
    peak_export_kw: float
    energy_balance_residual_wh: int
    energy_wh: EnergyWh
    grid_cost: GridCostSummary
    intervals_flagged: Mapping[str, int]
    participants: tuple[ParticipantSummary, ...]


# --- ledger -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitSummary:
    commitments: int
    committed_readings: int
    commit_transactions: int


@dataclass(frozen=True, slots=True)
class CertificateSummary:
    certificates_issued_wh: int
    certificate_tokens: int
    certificate_transactions: int


# --- market -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketFigures:
    mechanism: str
    orders: int
    orders_rejected: int
    rejections: Mapping[str, int]
    settlement: str
    settle_transactions: int
    to_fund: Decimal
    islanded_intervals: int


@dataclass(frozen=True, slots=True)
class MarketSummary:
    market: MarketFigures
    traded_kwh: float
    mean_clearing_price: float | None
    """Currency units per kWh, traded value over traded energy; None: nothing traded."""
    member_savings: Decimal
    fees: Decimal


# --- balancing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemandResponseSummary:
    enrolled: int
    events: int
    settled: int
    calls: int
    opted_out: int
    requested_kwh: float
    delivered_kwh: float
    paid_micros: int


@dataclass(frozen=True, slots=True)
class DispatchTimings:
    """Wall-clock: the only figures that differ between equal runs."""

    dispatch_solve_ms_mean: float
    dispatch_solve_ms_max: float


@dataclass(frozen=True, slots=True)
class BeforeAfter:
    """A figure with the self-consumption rule (before) and with the plan (after)."""

    before: float
    after: float


@dataclass(frozen=True, slots=True)
class PlanCost:
    before: Decimal
    after: Decimal
    stored_kwh_at_end: BeforeAfter
    saving: Decimal
    """Before minus after, with the energy left in storage valued (currency units)."""


@dataclass(frozen=True, slots=True)
class IslandSummary:
    start_s: int
    hours: float
    shed_kwh: float
    unserved_critical_kwh: float
    served_critical_kwh: float


@dataclass(frozen=True, slots=True)
class FrequencyRange:
    min_hz: float = field(metadata=_json_key("min"))
    max_hz: float = field(metadata=_json_key("max"))


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    vm_min_pu: float | None
    vm_max_pu: float | None
    overloaded_line_intervals: int
    losses_kwh: float


@dataclass(frozen=True, slots=True)
class PlanSummary:
    optimiser: str
    intervals: int
    plans: int
    horizon_hours: float
    peak_import_kw: BeforeAfter
    grid_cost: PlanCost
    min_reserve_margin: float | None
    alerts: Mapping[str, Mapping[str, int]]
    """Alert counts by kind, then severity."""
    islands: tuple[IslandSummary, ...]
    frequency_hz: FrequencyRange | None
    network: NetworkSummary | None
    sales_short_kwh: float
    demand_response: DemandResponseSummary | None
    chain_transactions: int


@dataclass(frozen=True, slots=True)
class BalancingSummary:
    timings: DispatchTimings
    peak_import_kw_before: float
    unserved_critical_kwh: float
    islanded_hours: float
    voltage_violations: int
    balancing: PlanSummary


# --- the run ------------------------------------------------------------------------------


@dataclass(slots=True)
class PipelineReport:
    """What a run did: intervals and readings (each offered reading counted once)."""

    intervals: int = 0
    readings: WriteReport = field(default_factory=WriteReport)
    missing_readings: int = 0
    stored_on_arrival: int = 0
    """Readings a durable source (live ingest) had stored before their interval closed."""

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "intervals": self.intervals,
            "readings_inserted": self.readings.inserted,
            "readings_duplicate": self.readings.duplicates,
            "readings_conflicting": self.readings.conflicts,
            "readings_missing": self.missing_readings,
            "readings_stored_on_arrival": self.stored_on_arrival,
        }


@dataclass(frozen=True, slots=True)
class SimulationFacts:
    """What a simulated run was: its scenario and the window and weather it covered."""

    scenario: str
    seed: int
    start: datetime
    end: datetime
    interval_minutes: int
    members: int
    weather_station: str


@dataclass(frozen=True, slots=True)
class IngestFigures:
    """What live ingest received: every reading counted once, refusals by reason."""

    received: int
    inserted: int
    duplicates: int
    conflicts: int
    rejected: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class LiveFacts:
    """How a live run's ingest and clock went."""

    ingest: IngestFigures
    closed_complete: int
    closed_overdue: int


class AuditFindings(Protocol):
    """What an audit of the store against the chain found (its report names its keys)."""

    @property
    def findings(self) -> Sequence[str]: ...

    @property
    def problems(self) -> Sequence[str]: ...

    def as_json(self) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class Verification:
    """The audit that closed a run with a ledger."""

    verified: bool
    verification: AuditFindings


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run: what it was, what the loop did and what each step reported, in order."""

    community: str
    pipeline: PipelineReport
    steps: tuple[StepSummary, ...]
    simulation: SimulationFacts | None = None
    live: LiveFacts | None = None
    audit: Verification | None = None

    def find(self, kind: type[T]) -> T | None:
        """The summary of the step that reported a ``kind``, if one ran."""
        for s in self.steps:
            if isinstance(s, kind):
                return s
        return None

    def section(self, kind: type[T]) -> T:
        """Like :meth:`find`, for a step the run must have had."""
        found = self.find(kind)
        if found is None:
            raise LookupError(f"the run has no {kind.__name__}")
        return found

    @property
    def verified(self) -> bool | None:
        """Whether the closing audit passed; None: the run had no ledger."""
        return None if self.audit is None else self.audit.verified

    def as_json(self) -> dict[str, JsonValue]:
        """The one JSON form of the run (``summary.json``; the store's copy)."""
        out: dict[str, JsonValue] = {"community": self.community}
        out.update(record_json(self.simulation))
        out["pipeline"] = to_json(self.pipeline)
        out.update(record_json(self.live))
        for step in self.steps:
            out.update(record_json(step))
        out.update(record_json(self.audit))
        return out


def record_json(record: object) -> dict[str, JsonValue]:
    """A record's JSON object (empty for None), to merge into another."""
    if record is None:
        return {}
    serialised = to_json(record)
    if not isinstance(serialised, dict):
        raise TypeError(f"{type(record).__name__} is not a record")
    return serialised
