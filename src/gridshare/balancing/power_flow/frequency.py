"""Frequency of an islanded microgrid: droop control and the allowed band.

Frequency in island mode
------------------------
Steady-state primary (droop) control: ``delta_f = -droop * f_nom * delta_P / P_rated``
(Kundur 1994, section 11.1; for inverter-based microgrids Chandorkar et al. 1993). The
default band of +-0.2 Hz is the maximum steady-state frequency deviation of the
Continental European synchronous area (Commission Regulation (EU) 2017/1485, Annex III).

References
----------
  electrical distribution networks", IEEE Trans. Smart Grid 4(2), 2013, 741-750.
* P. Kundur, "Power System Stability and Control", McGraw-Hill, 1994.
* M. C. Chandorkar, D. M. Divan, R. Adapa, "Control of parallel connected inverters in
  standalone AC supply systems", IEEE Trans. Ind. Appl. 29(1), 1993, 136-143.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gridshare.balancing.power_flow.common import PowerFlowError

FrequencyState = Literal["ok", "low", "high"]


@dataclass(frozen=True, slots=True)
class FrequencyLimits:
    """The band a frequency must stay in (Hz). The default, 50 +- 0.2 Hz, is the maximum
    steady-state deviation of Continental Europe (EU 2017/1485, Annex III)."""

    nominal_hz: float = 50.0
    low_hz: float = 49.8
    high_hz: float = 50.2

    def __post_init__(self) -> None:
        if not 0 < self.low_hz < self.nominal_hz < self.high_hz:
            raise PowerFlowError(
                f"frequency limits need 0 < low < nominal < high, got {self.low_hz}, "
                f"{self.nominal_hz}, {self.high_hz} Hz"
            )

    @classmethod
    def around(cls, nominal_hz: float, band_hz: float = 0.2) -> FrequencyLimits:
        """``nominal_hz +- band_hz``, e.g. ``around(60.0)`` gives 59.8..60.2 Hz."""
        return cls(nominal_hz, nominal_hz - band_hz, nominal_hz + band_hz)

    @classmethod
    def hz_60(cls, band_hz: float = 0.2) -> FrequencyLimits:
        """A 60 Hz system (North America and others), 59.8..60.2 Hz by default."""
        return cls.around(60.0, band_hz)


def droop_frequency_hz(
    imbalance_kw: float, *, droop_percent: float, rated_kw: float, nominal_hz: float = 50.0
) -> float:
    """Steady-state frequency of an islanded microgrid under primary droop control.

    The grid-forming units share an imbalance in proportion to their rating along a
    linear frequency-power characteristic with droop ``R`` (``droop_percent`` / 100: the
    frequency change, as a fraction of nominal, that moves their output from zero to
    rated power):

        delta_f = -R * f_nom * delta_P / P_rated

    ``imbalance_kw`` is load minus generation (positive when load exceeds generation:
    the frequency falls) and ``rated_kw`` the combined rating of the droop-controlled
    units. The model is linear: it does not know that units saturate at their limits
    (Kundur 1994, section 11.1; Chandorkar et al. 1993). Example: 5 % droop, 100 kW
    rated, 10 kW short at 50 Hz gives 50 - 0.05 * 50 * 0.1 = 49.75 Hz.
    """
    if not droop_percent > 0:
        raise PowerFlowError(f"droop_percent is {droop_percent}; it must be > 0 (e.g. 4 or 5)")
    if not rated_kw > 0:
        raise PowerFlowError(f"rated_kw is {rated_kw}; it must be > 0")
    if not nominal_hz > 0:
        raise PowerFlowError(f"nominal_hz is {nominal_hz}; it must be > 0")
    if not math.isfinite(imbalance_kw):
        raise PowerFlowError("imbalance_kw must be a finite number")
    return nominal_hz - droop_percent / 100.0 * nominal_hz * imbalance_kw / rated_kw


def classify_frequency(
    frequency_hz: float, limits: FrequencyLimits | None = None
) -> FrequencyState:
    """``"low"`` below ``limits.low_hz``, ``"high"`` above ``limits.high_hz``, else
    ``"ok"`` (the band's edges are inside). Default: 49.8..50.2 Hz."""
    band = limits or FrequencyLimits()
    if not math.isfinite(frequency_hz):
        raise PowerFlowError("frequency_hz must be a finite number")
    if frequency_hz < band.low_hz:
        return "low"
    if frequency_hz > band.high_hz:
        return "high"
    return "ok"
