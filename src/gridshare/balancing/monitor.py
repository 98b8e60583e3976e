"""The balance monitor: per interval, supply against demand, the exchange with the main
grid, the reserve margin, and alerts when a limit is approached or crossed.

Everything here is a pure function of one interval's figures (kW, pu, Hz floats: this
is analytics), so the same code serves the simulator, live operation and the API. A
*warning* is raised when a quantity comes within ``warn_fraction`` of its limit, a
*critical* alert when it crosses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from gridshare.balancing.self_consumption import BatteryFleet
from gridshare.errors import DataError
from gridshare.units import FloatArray, IntArray, kw_per_wh


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(StrEnum):
    IMPORT_LIMIT = "import_limit"
    EXPORT_LIMIT = "export_limit"
    RESERVE = "reserve_margin"
    VOLTAGE = "voltage"
    LINE_LOADING = "line_loading"
    FREQUENCY = "frequency"
    ISLANDED = "islanded"
    LOAD_SHED = "load_shed"
    UNSERVED_CRITICAL = "unserved_critical"
    POWER_FLOW = "power_flow"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something an operator should look at, with the figure and the limit it concerns."""

    interval_start_s: int
    kind: AlertKind
    severity: Severity
    value: float
    limit: float
    message: str

    def as_json(self) -> dict[str, object]:
        return {
            "interval_start_s": self.interval_start_s,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "value": round(self.value, 6),
            "limit": round(self.limit, 6),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class BalanceLimits:
    """What the monitor checks against (the community's connection and its network)."""

    import_limit_kw: float
    export_limit_kw: float
    warn_fraction: float = 0.9
    min_reserve_margin: float = 0.1
    """Reserve (storage and dispatchable headroom, kW) as a share of demand below which
    the monitor warns; critical below half of it."""
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    max_line_loading_percent: float = 100.0
    f_low_hz: float = 49.8
    f_high_hz: float = 50.2

    def __post_init__(self) -> None:
        if self.import_limit_kw <= 0 or self.export_limit_kw <= 0:
            raise DataError("the grid connection's import and export limits must be > 0 kW")
        if not 0 < self.warn_fraction <= 1:
            raise DataError("warn_fraction must lie in (0, 1]")
        if self.min_reserve_margin < 0 or self.max_line_loading_percent <= 0:
            raise DataError("min_reserve_margin must be >= 0 and max line loading > 0 %")
        if self.v_min_pu >= self.v_max_pu or self.f_low_hz >= self.f_high_hz:
            raise DataError("voltage and frequency bands need low < high")


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """One interval as the monitor sees it (mean powers over the interval)."""

    interval_start_s: int
    supply_kw: float
    """Production plus storage discharge plus import."""
    demand_kw: float
    """Consumption plus storage charge plus export."""
    import_kw: float
    export_kw: float
    reserve_kw: float
    """Power the storage and dispatchable plants could still add for the next hour."""
    islanded: bool = False
    frequency_hz: float | None = None
    vm_min_pu: float | None = None
    vm_max_pu: float | None = None
    max_line_loading_percent: float | None = None
    power_flow_converged: bool = True
    shed_kw: float = 0.0
    unserved_critical_kw: float = 0.0

    @property
    def reserve_margin(self) -> float | None:
        """Reserve as a share of demand (None without demand)."""
        return self.reserve_kw / self.demand_kw if self.demand_kw > 0 else None


def _upper(
    alerts: list[Alert], snap: BalanceSnapshot, kind: AlertKind, value: float, limit: float,
    warn: float, what: str, unit: str,
) -> None:  # fmt: skip
    if value > limit:
        severity, verb = Severity.CRITICAL, "exceeds"
    elif value > warn * limit:
        severity, verb = Severity.WARNING, "is close to"
    else:
        return
    message = f"{what} {value:.2f} {unit} {verb} the limit of {limit:.2f} {unit}"
    alerts.append(Alert(snap.interval_start_s, kind, severity, value, limit, message))


def assess(snap: BalanceSnapshot, limits: BalanceLimits) -> list[Alert]:
    """The alerts one interval raises, most important first."""
    alerts: list[Alert] = []
    start, warn = snap.interval_start_s, limits.warn_fraction
    if snap.unserved_critical_kw > 0:
        alerts.append(
            Alert(
                start, AlertKind.UNSERVED_CRITICAL, Severity.CRITICAL,
                snap.unserved_critical_kw, 0.0,
                f"critical loads of {snap.unserved_critical_kw:.2f} kW are not served",
            )
        )  # fmt: skip
    if snap.islanded:
        alerts.append(
            Alert(
                start, AlertKind.ISLANDED, Severity.WARNING, 1.0, 0.0,
                "the microgrid is islanded from the main grid; storage forms the grid",
            )
        )  # fmt: skip
    if snap.shed_kw > 0:
        alerts.append(
            Alert(
                start, AlertKind.LOAD_SHED, Severity.WARNING, snap.shed_kw, 0.0,
                f"{snap.shed_kw:.2f} kW of non-critical load is shed",
            )
        )  # fmt: skip
    if not snap.islanded:
        _upper(alerts, snap, AlertKind.IMPORT_LIMIT, snap.import_kw, limits.import_limit_kw,
               warn, "import from the main grid", "kW")  # fmt: skip
        _upper(alerts, snap, AlertKind.EXPORT_LIMIT, snap.export_kw, limits.export_limit_kw,
               warn, "export to the main grid", "kW")  # fmt: skip
    margin = snap.reserve_margin
    if margin is not None and margin < limits.min_reserve_margin:
        severity = Severity.CRITICAL if margin < limits.min_reserve_margin / 2 else Severity.WARNING
        alerts.append(
            Alert(
                start, AlertKind.RESERVE, severity, margin, limits.min_reserve_margin,
                f"reserve margin {margin:.1%} is below {limits.min_reserve_margin:.0%} of "
                f"demand ({snap.reserve_kw:.1f} kW for {snap.demand_kw:.1f} kW)",
            )
        )  # fmt: skip
    if snap.frequency_hz is not None and not (
        limits.f_low_hz <= snap.frequency_hz <= limits.f_high_hz
    ):
        alerts.append(
            Alert(
                start, AlertKind.FREQUENCY, Severity.CRITICAL, snap.frequency_hz,
                limits.f_low_hz if snap.frequency_hz < limits.f_low_hz else limits.f_high_hz,
                f"island frequency {snap.frequency_hz:.3f} Hz is outside "
                f"{limits.f_low_hz}-{limits.f_high_hz} Hz",
            )
        )  # fmt: skip
    if not snap.power_flow_converged:
        alerts.append(
            Alert(start, AlertKind.POWER_FLOW, Severity.CRITICAL, 0.0, 0.0,
                  "the power flow did not converge: the network may be overloaded")
        )  # fmt: skip
    if snap.vm_min_pu is not None and snap.vm_min_pu < limits.v_min_pu:
        alerts.append(
            Alert(start, AlertKind.VOLTAGE, Severity.CRITICAL, snap.vm_min_pu, limits.v_min_pu,
                  f"bus voltage {snap.vm_min_pu:.4f} pu is below {limits.v_min_pu} pu")
        )  # fmt: skip
    if snap.vm_max_pu is not None and snap.vm_max_pu > limits.v_max_pu:
        alerts.append(
            Alert(start, AlertKind.VOLTAGE, Severity.CRITICAL, snap.vm_max_pu, limits.v_max_pu,
                  f"bus voltage {snap.vm_max_pu:.4f} pu is above {limits.v_max_pu} pu")
        )  # fmt: skip
    if snap.max_line_loading_percent is not None:
        _upper(alerts, snap, AlertKind.LINE_LOADING, snap.max_line_loading_percent,
               limits.max_line_loading_percent, warn, "line loading", "%")  # fmt: skip
    return alerts


def reserve_kw(
    fleet: BatteryFleet, stored_wh: IntArray, plant_available_wh: int, interval_hours: float
) -> float:
    """What storage and load-following plants could still add for the next hour, kW: each
    battery the lesser of its rated power and what its usable stored energy (above its
    minimum, after discharge losses) sustains for an hour, plus the plants' available
    output in an interval of ``interval_hours``."""
    to_kw = kw_per_wh(interval_hours)
    usable = np.maximum(stored_wh - fleet.min_stored_wh, 0) * fleet.discharge_efficiency
    hour_steps = 1 / interval_hours
    storage_wh = np.minimum(fleet.max_step_wh * hour_steps, usable).sum() / hour_steps
    return float(storage_wh) * to_kw + plant_available_wh * to_kw


@dataclass(frozen=True, slots=True)
class NetworkFigures:
    """What the AC power flow showed over a run: bus-intervals outside the voltage limits,
    intervals with an overloaded line, the extreme voltages and the losses."""

    voltage_violations: int = 0
    overloaded_line_intervals: int = 0
    vm_min_pu: float | None = None
    vm_max_pu: float | None = None
    losses_kwh: float = 0.0

    def with_interval(
        self, vm_pu: FloatArray, max_loading_percent: float, losses_kw: float, hours: float,
        limits: BalanceLimits,
    ) -> NetworkFigures:  # fmt: skip
        """The figures after one more converged interval of ``hours``."""
        vm_min, vm_max = float(vm_pu.min()), float(vm_pu.max())
        outside = (vm_pu < limits.v_min_pu) | (vm_pu > limits.v_max_pu)
        return NetworkFigures(
            self.voltage_violations + int(outside.sum()),
            self.overloaded_line_intervals
            + int(max_loading_percent > limits.max_line_loading_percent),
            vm_min if self.vm_min_pu is None else min(vm_min, self.vm_min_pu),
            vm_max if self.vm_max_pu is None else max(vm_max, self.vm_max_pu),
            self.losses_kwh + losses_kw * hours,
        )
