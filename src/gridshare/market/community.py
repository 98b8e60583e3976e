"""Community pricing schemes: members' net positions settled at community prices.

No orders here: each member is a buyer (net demand) or a seller (net supply) in the
interval, and the scheme sets an internal buying and selling price from the community's
totals and the main grid's prices (``grid_buy`` = import tariff, ``grid_sell`` = export
tariff, micro-units per kWh, ``grid_sell <= grid_buy``). Every internal price lies within
``[grid_sell, grid_buy]``, so no member does worse than trading with the grid alone.
The community's own grid bill (importing its net demand or exporting its net supply)
is covered exactly: buyers' payments = sellers' receipts + the grid bill, plus at most one
micro per member of rounding (buyers round up, sellers down) that goes to the fund.

- ``sdr``: supply-demand-ratio pricing (Liu et al., 2017). With ``SDR = S / D``:
  for ``SDR < 1`` sellers get ``grid_buy * grid_sell / ((grid_buy - grid_sell) SDR +
  grid_sell)`` and buyers pay ``sell * SDR + grid_buy (1 - SDR)``; for ``SDR >= 1`` both
  are ``grid_sell``.
- ``mid-market``: mid-market rate (Long et al., 2017): internal energy at
  ``(grid_buy + grid_sell) / 2``; the side in excess trades its excess with the grid, so
  its average price blends the mid price with the grid's.
- ``bill-sharing``: the community's grid bill is shared by buyers pro rata to demand,
  its export income by sellers pro rata to supply (internal energy itself is free).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from gridshare.errors import DataError
from gridshare.units import WH_PER_KWH

SCHEMES = ("sdr", "mid-market", "bill-sharing")


@dataclass(frozen=True, slots=True)
class CommunitySettlement:
    """Money per member for one interval (positions as given), and the totals."""

    buy_price: Fraction
    """Average price buyers pay, micro-units per kWh."""
    sell_price: Fraction
    """Average price sellers receive, micro-units per kWh."""
    pays: list[int]
    """Micro-units each member pays (0 for sellers)."""
    receives: list[int]
    """Micro-units each member receives (0 for buyers)."""
    grid_bill: int
    """Micro-units the community pays the grid (negative: the grid pays it)."""

    @property
    def rounding(self) -> int:
        """What the rounding leaves with the community fund (>= 0)."""
        return sum(self.pays) - sum(self.receives) - self.grid_bill


def _prices(
    scheme: str, supply: int, demand: int, grid_buy: int, grid_sell: int
) -> tuple[Fraction, Fraction]:
    lb, ls = Fraction(grid_buy), Fraction(grid_sell)
    if scheme == "sdr":
        if demand == 0 or supply >= demand:
            return ls, ls
        sdr = Fraction(supply, demand)
        sell = lb * ls / ((lb - ls) * sdr + ls) if ls > 0 else Fraction(0)
        return sell * sdr + lb * (1 - sdr), sell
    if scheme == "mid-market":
        mid = (lb + ls) / 2
        buy = (
            mid
            if demand <= supply or demand == 0
            else (supply * mid + (demand - supply) * lb) / demand
        )
        sell = (
            mid
            if supply <= demand or supply == 0
            else (demand * mid + (supply - demand) * ls) / supply
        )
        return buy, sell
    if scheme == "bill-sharing":
        buy = Fraction(0) if demand == 0 else max(demand - supply, 0) * lb / demand
        sell = Fraction(0) if supply == 0 else max(supply - demand, 0) * ls / supply
        return buy, sell
    raise DataError(f"unknown community pricing scheme {scheme!r}; choose from {SCHEMES}")


def internal_price(
    scheme: str, supply: int, demand: int, grid_buy: int, grid_sell: int
) -> Fraction:
    """The price of each Wh traded inside the community under ``scheme`` (micro-units
    per kWh): what sellers get for it, and what buyers pay for it on top of their share
    of the grid (the schemes' averages above blend the two)."""
    if not 0 <= grid_sell <= grid_buy:
        raise DataError("grid prices must satisfy 0 <= export price <= import price")
    lb, ls = Fraction(grid_buy), Fraction(grid_sell)
    if scheme == "sdr":
        if demand == 0 or supply >= demand:
            return ls
        return lb * ls / ((lb - ls) * Fraction(supply, demand) + ls) if ls > 0 else Fraction(0)
    if scheme == "mid-market":
        return (lb + ls) / 2
    if scheme == "bill-sharing":
        return Fraction(0)
    raise DataError(f"unknown community pricing scheme {scheme!r}; choose from {SCHEMES}")


def settle_community(
    positions_wh: Sequence[int], grid_buy: int, grid_sell: int, scheme: str
) -> CommunitySettlement:
    """Settle members' net positions (> 0: bought, < 0: sold, Wh) under ``scheme``."""
    if not 0 <= grid_sell <= grid_buy:
        raise DataError("grid prices must satisfy 0 <= export price <= import price")
    demand = sum(p for p in positions_wh if p > 0)
    supply = -sum(p for p in positions_wh if p < 0)
    buy, sell = _prices(scheme, supply, demand, grid_buy, grid_sell)
    pays = [_ceil(p * buy / WH_PER_KWH) if p > 0 else 0 for p in positions_wh]
    receives = [_floor(-p * sell / WH_PER_KWH) if p < 0 else 0 for p in positions_wh]
    net = demand - supply
    bill = (
        _ceil(net * Fraction(grid_buy) / WH_PER_KWH)
        if net > 0
        else -_floor(-net * Fraction(grid_sell) / WH_PER_KWH)
    )
    return CommunitySettlement(buy, sell, pays, receives, bill)


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator
