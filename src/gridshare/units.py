"""Units, conversions and intervals: the only place where units are converted.

Ledger, market, certificates and settlement use integers only:

* energy in watt-hours (:data:`Wh`, ``int``),
* money in micro-units of the community currency (:data:`Micros`, ``int``;
  1 currency unit = 1_000_000 micros),
* prices in micros per kWh (``price_micros_per_kwh``).

Analytics and optimisation use floats whose names carry the unit (``p_kw``,
``e_kwh``). Rounding from float to int is explicit: :func:`kwh_to_wh` rounds half
to even, :func:`mul_div` rounds down or up as the caller asks (buyer cost rounds up,
seller credit rounds down; the remainder goes to the community fund).

Time: timezone-aware UTC datetimes. Intervals are half-open ``[start, start + length)``,
aligned to the UNIX epoch and keyed by their start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import NewType

import numpy as np
from numpy.typing import NDArray

from gridshare.errors import GridshareError

__all__ = [
    "EPOCH",
    "BoolArray",
    "FloatArray",
    "IntArray",
    "KW_PER_MW",
    "MICROS_PER_UNIT",
    "MINUTES_PER_HOUR",
    "MS_PER_S",
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "SECONDS_PER_MINUTE",
    "WH_PER_KWH",
    "W_PER_KW",
    "Interval",
    "Micros",
    "UnitError",
    "Wh",
    "currency_to_micros",
    "demand_charge_micros",
    "energy_cost_micros",
    "energy_wh_to_mean_power_kw",
    "from_unix_seconds",
    "kw_per_wh",
    "kw_to_wh_f",
    "kwh_to_wh",
    "micros_to_currency",
    "mul_div",
    "parse_utc_seconds",
    "report_kwh",
    "power_kw_to_energy_wh",
    "power_kw_to_wh",
    "require_utc",
    "split_pro_rata",
    "to_unix_seconds",
    "wh_to_kwh",
]

IntArray = NDArray[np.int64]
"""A column of integers: Wh, micro-units, positions, unix seconds."""
FloatArray = NDArray[np.float64]
"""A column of floats with the unit in its name (``p_kw``, ``e_kwh``)."""
BoolArray = NDArray[np.bool_]

Wh = NewType("Wh", int)
Micros = NewType("Micros", int)

MICROS_PER_UNIT = 1_000_000
WH_PER_KWH = 1_000
KW_PER_MW = 1_000.0
"""Power-flow tools (pandapower) work in MW and MVAr; members' powers are kW and kVAr."""
W_PER_KW = 1_000
"""Device ratings (pvlib, windpowerlib) are in W; members' powers are kW."""
SECONDS_PER_MINUTE = 60
MINUTES_PER_HOUR = 60
SECONDS_PER_HOUR = 3_600
SECONDS_PER_DAY = 86_400
MS_PER_S = 1_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnitError(GridshareError):
    """A value cannot be converted or an interval is malformed."""


def kwh_to_wh(e_kwh: float) -> Wh:
    """Convert kWh (float) to whole Wh, rounding half to even."""
    return Wh(round(e_kwh * WH_PER_KWH))


def wh_to_kwh(e_wh: int) -> float:
    """Convert Wh (int) to kWh (float) for analytics and reports."""
    return e_wh / WH_PER_KWH


def report_kwh(e_wh: int) -> float:
    """Wh (int) as a report's kWh figure: exact to the Wh (three decimals)."""
    return round(wh_to_kwh(e_wh), 3)


def currency_to_micros(amount: Decimal | int | str) -> Micros:
    """Convert a currency amount (exact decimal) to micros, rejecting sub-micro precision."""
    try:
        exact = Decimal(amount)
    except ArithmeticError:
        raise UnitError(f"{amount!r} is not a currency amount") from None
    if not exact.is_finite():
        raise UnitError(f"{amount} is not a finite currency amount")
    with localcontext() as context:
        context.prec = max(28, len(exact.as_tuple().digits) + 8)
        value = exact.scaleb(6)
        if value != value.to_integral_value():
            raise UnitError(
                f"{amount} has more than 6 decimal places; micros are the smallest unit"
            )
        return Micros(int(value))


def micros_to_currency(amount_micros: int) -> Decimal:
    """Convert micros to an exact decimal currency amount."""
    return (Decimal(amount_micros) / MICROS_PER_UNIT).quantize(
        Decimal("0.000001"), rounding=ROUND_HALF_EVEN
    )


def mul_div(a: int, b: int, denominator: int, *, round_up: bool) -> int:
    """Return ``a * b / denominator`` for non-negative ints with explicit rounding."""
    if denominator <= 0:
        raise UnitError("denominator must be positive")
    if a < 0 or b < 0:
        raise UnitError("mul_div takes non-negative operands")
    quotient, remainder = divmod(a * b, denominator)
    return quotient + 1 if round_up and remainder else quotient


def split_pro_rata(total: int, weights: NDArray[np.int64]) -> NDArray[np.int64]:
    """``total`` split in proportion to ``weights`` in whole units (largest remainder, ties
    to the earlier position): the parts sum to ``total`` exactly."""
    weights = np.asarray(weights, dtype=np.int64)
    whole = int(weights.sum())
    if whole == 0 or total == 0:
        return np.zeros(weights.size, dtype=np.int64)
    product = weights.astype(object) * total  # exact beyond int64
    share = np.array(product // whole, dtype=np.int64)
    remainder = np.array(product % whole, dtype=np.int64)
    left = total - int(share.sum())
    if left:
        share[np.lexsort((np.arange(weights.size), -remainder))[:left]] += 1
    return share


def energy_cost_micros(e_wh: int, price_micros_per_kwh: int, *, round_up: bool) -> Micros:
    """Money for ``e_wh`` at ``price_micros_per_kwh``, rounded up (payer) or down (payee)."""
    return Micros(mul_div(e_wh, price_micros_per_kwh, WH_PER_KWH, round_up=round_up))


def demand_charge_micros(peak_wh: int, charge_micros_per_kw: int, duration: timedelta) -> Micros:
    """The demand charge on a peak interval's import: micro-units per kW of its mean power
    (``peak_wh`` over ``duration``), rounded up (the community pays it)."""
    seconds = int(duration.total_seconds())
    return Micros(
        mul_div(
            charge_micros_per_kw, peak_wh * SECONDS_PER_HOUR, WH_PER_KWH * seconds, round_up=True
        )
    )


def energy_wh_to_mean_power_kw(e_wh: int | float, duration: timedelta) -> float:
    """Mean power in kW that delivers ``e_wh`` over ``duration``."""
    hours = duration.total_seconds() / SECONDS_PER_HOUR
    if hours <= 0:
        raise UnitError("duration must be positive")
    return float(e_wh) / WH_PER_KWH / hours


def power_kw_to_energy_wh(p_kw: float, duration: timedelta) -> float:
    """Energy in Wh (float) of a constant power ``p_kw`` held for ``duration``."""
    return p_kw * WH_PER_KWH * duration.total_seconds() / SECONDS_PER_HOUR


def power_kw_to_wh(p_kw: float, duration: timedelta) -> Wh:
    """Energy in whole Wh of a constant power ``p_kw`` held for ``duration``: the nearest
    Wh, halves to even (as :func:`kwh_to_wh`)."""
    return Wh(round(power_kw_to_energy_wh(p_kw, duration)))


def kw_to_wh_f(p_kw: float, interval_hours: float) -> float:
    """Energy in fractional Wh (``*_wh_f``) of a constant ``p_kw`` held for
    ``interval_hours``: ``p_kw * 1000 * interval_hours``, in that order (a step's limits
    and records round it as they need)."""
    return p_kw * WH_PER_KWH * interval_hours


def kw_per_wh(interval_hours: float) -> float:
    """The mean power in kW of one Wh delivered over ``interval_hours``: multiply an
    interval's Wh by it for kW (``1 / 1000 / interval_hours``)."""
    return 1 / WH_PER_KWH / interval_hours


def require_utc(moment: datetime, name: str = "timestamp") -> datetime:
    """Return ``moment`` in UTC, refusing naive datetimes."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UnitError(f"{name} {moment.isoformat()} has no time zone; use timezone-aware UTC")
    return moment.astimezone(UTC)


def to_unix_seconds(moment: datetime) -> int:
    """Whole seconds since the UNIX epoch of an aware datetime."""
    delta = require_utc(moment) - EPOCH
    return delta.days * SECONDS_PER_DAY + delta.seconds


def parse_utc_seconds(text: str) -> int:
    """Unix seconds of an ISO 8601 instant that states its offset (``Z`` or ``+hh:mm``);
    a time without one is refused rather than guessed."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UnitError(f"{text!r} is not an ISO 8601 time, e.g. 2025-06-02T16:30:00Z") from None
    if moment.tzinfo is None:
        raise UnitError(f"{text!r} has no UTC offset; write e.g. {text}Z or {text}+02:00")
    return to_unix_seconds(moment.astimezone(UTC))


def from_unix_seconds(seconds: int) -> datetime:
    """The aware UTC datetime ``seconds`` after the UNIX epoch."""
    return EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A fixed-length, half-open, epoch-aligned interval ``[start, start + length)``."""

    start: datetime
    length: timedelta

    def __post_init__(self) -> None:
        start = require_utc(self.start, "interval start")
        object.__setattr__(self, "start", start)
        length_s = self.length.total_seconds()
        if length_s <= 0 or length_s != int(length_s):
            raise UnitError(f"interval length {self.length} must be a positive whole number of s")
        if to_unix_seconds(start) % int(length_s) or start.microsecond:
            raise UnitError(
                f"interval start {start.isoformat()} is not aligned to a multiple of "
                f"{self.length} since the UNIX epoch"
            )

    @classmethod
    def containing(cls, moment: datetime, length: timedelta) -> Interval:
        """The interval of ``length`` that contains ``moment``."""
        length_s = int(length.total_seconds())
        if length_s <= 0:
            raise UnitError("interval length must be positive")
        seconds = to_unix_seconds(moment)
        return cls(from_unix_seconds(seconds - seconds % length_s), length)

    @property
    def end(self) -> datetime:
        """The first instant after the interval."""
        return self.start + self.length

    @property
    def start_s(self) -> int:
        """The start in UNIX seconds: the interval's key, also on-chain."""
        return to_unix_seconds(self.start)

    @property
    def length_s(self) -> int:
        """The length in whole seconds."""
        return int(self.length.total_seconds())

    @property
    def hours(self) -> float:
        """The length in hours, for power <-> energy conversions."""
        return self.length.total_seconds() / SECONDS_PER_HOUR

    def next(self) -> Interval:
        """The interval that follows this one."""
        return Interval(self.end, self.length)

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= require_utc(moment) < self.end
