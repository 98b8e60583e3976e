"""What a power flow returns: one interval (:class:`PowerFlowResult`) or many
(:class:`SeriesResult`), checked against :class:`PowerFlowLimits`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from gridshare.units import BoolArray, FloatArray, IntArray

VoltageKind = Literal["under", "over"]


class VoltageViolation(NamedTuple):
    """A bus outside the voltage band."""

    bus: int
    """pandapower bus index."""
    vm_pu: float
    kind: VoltageKind


class LineOverload(NamedTuple):
    """A line loaded above the limit."""

    line: int
    """pandapower line index."""
    loading_percent: float


@dataclass(frozen=True, slots=True)
class PowerFlowLimits:
    """The operating limits results are checked against."""

    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    max_line_loading_percent: float = 100.0


@dataclass(frozen=True, slots=True)
class PowerFlowResult:
    """One interval's power flow. Arrays follow the order of ``net.bus``, ``net.line``
    and ``net.trafo``; ``bus_index`` and ``line_index`` hold pandapower's indices.

    When ``converged`` is false every value is NaN (nothing is raised): the caller
    decides whether an interval without a solution is an error.
    """

    vm_pu: FloatArray
    """Voltage magnitude per bus (NaN for out-of-service buses)."""
    va_degree: FloatArray
    line_loading_percent: FloatArray
    """Current over the thermal rating (``max_i_ka * df * parallel``), the larger end;
    0 for out-of-service lines."""
    trafo_loading_percent: FloatArray
    """pandapower's current-based transformer loading."""
    losses_kw: float
    """Active losses in lines and transformers (series and magnetising branches)."""
    slack_p_kw: float
    """Active import at the point of common coupling (positive = import)."""
    slack_q_kvar: float
    converged: bool
    iterations: int
    """Newton iterations (Jacobian solves) this interval took."""
    bus_index: IntArray
    line_index: IntArray
    limits: PowerFlowLimits

    @property
    def voltage_violations(self) -> tuple[VoltageViolation, ...]:
        """Buses below ``v_min_pu`` ("under") or above ``v_max_pu`` ("over")."""
        low = np.flatnonzero(self.vm_pu < self.limits.v_min_pu)
        high = np.flatnonzero(self.vm_pu > self.limits.v_max_pu)
        found = [
            VoltageViolation(int(self.bus_index[k]), float(self.vm_pu[k]), "under") for k in low
        ]
        found += [
            VoltageViolation(int(self.bus_index[k]), float(self.vm_pu[k]), "over") for k in high
        ]
        return tuple(sorted(found))

    @property
    def overloaded_lines(self) -> tuple[LineOverload, ...]:
        """Lines above ``max_line_loading_percent``."""
        over = np.flatnonzero(self.line_loading_percent > self.limits.max_line_loading_percent)
        return tuple(
            LineOverload(int(self.line_index[k]), float(self.line_loading_percent[k])) for k in over
        )

    @property
    def is_within_limits(self) -> bool:
        """Converged, with no voltage violation and no overloaded line."""
        return self.converged and not self.voltage_violations and not self.overloaded_lines


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """Power flows over ``T`` intervals: each field of :class:`PowerFlowResult` with a
    leading interval axis."""

    vm_pu: FloatArray
    """(T, buses)"""
    va_degree: FloatArray
    line_loading_percent: FloatArray
    """(T, lines)"""
    trafo_loading_percent: FloatArray
    """(T, transformers)"""
    losses_kw: FloatArray
    """(T,)"""
    slack_p_kw: FloatArray
    slack_q_kvar: FloatArray
    converged: BoolArray
    iterations: IntArray
    bus_index: IntArray
    line_index: IntArray
    limits: PowerFlowLimits

    def at(self, t: int) -> PowerFlowResult:
        """Interval ``t`` as a :class:`PowerFlowResult`."""
        return PowerFlowResult(
            vm_pu=self.vm_pu[t],
            va_degree=self.va_degree[t],
            line_loading_percent=self.line_loading_percent[t],
            trafo_loading_percent=self.trafo_loading_percent[t],
            losses_kw=float(self.losses_kw[t]),
            slack_p_kw=float(self.slack_p_kw[t]),
            slack_q_kvar=float(self.slack_q_kvar[t]),
            converged=bool(self.converged[t]),
            iterations=int(self.iterations[t]),
            bus_index=self.bus_index,
            line_index=self.line_index,
            limits=self.limits,
        )

    @property
    def violating_intervals(self) -> IntArray:
        """Intervals that did not converge or break a voltage or line limit."""
        limits = self.limits
        with np.errstate(invalid="ignore"):
            bad_v = np.any((self.vm_pu < limits.v_min_pu) | (self.vm_pu > limits.v_max_pu), axis=1)
            bad_line = np.any(self.line_loading_percent > limits.max_line_loading_percent, axis=1)
        return np.flatnonzero(bad_v | bad_line | ~self.converged).astype(np.int64)
