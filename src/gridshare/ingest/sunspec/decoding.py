"""SunSpec model decoding: registers of one model instance to a :class:`Sample`. No I/O.

Point offsets, types, scale-factor points and "not implemented" values are taken from the
model definitions bundled with pysunspec2 (``sunspec2.device.get_model_def`` and
``sunspec2.mb.point_type_info``), not from hand-typed tables. pysunspec2 has no
``py.typed``, so its definitions are ``Any`` here and converted on the spot.

Scaling and rounding
    SunSpec values are ``value x 10**SF``. Energy registers become integer Wh exactly: for
    ``SF >= 0`` by integer multiplication, for ``SF < 0`` by rounding half to even (``WH =
    987654, SF = -1`` is 98765.4 Wh -> 98765 Wh; 98765.5 -> 98766; 98764.5 -> 98764). The
    interval energy is the difference of two rounded registers, so rounding never
    accumulates: the energy of consecutive intervals adds up to the register advance.
    Power-quality values are converted exactly (decimal) and then to the nearest float.

Not implemented
    A required point (the energy registers and their scale factor) holding SunSpec's
    not-implemented value (0x8000 for int16 and scale factors, 0xFFFF for uint16, ...)
    raises :class:`SunSpecError`. Accumulators (``acc32``) have "0" as their
    not-implemented value, which is indistinguishable from an empty register; 0 is read
    as 0 Wh (a meter that never exported reads ``TotWhExp = 0``). Power, voltage,
    frequency and power factor are optional: many inverters report them as not
    implemented while asleep at night, and that must not cost the energy reading. They
    are ``None`` in the :class:`Sample`.

Signs
    :attr:`Sample.net_import_w` follows gridshare's one convention, import positive. An
    inverter's ``W`` (positive when producing) is negated; a meter's ``W`` is taken as
    load-referenced (positive when importing), the convention of the SunSpec meter models.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Final

from sunspec2 import device as sunspec_device  # type: ignore[import-untyped]  # no py.typed
from sunspec2 import mb as sunspec_mb
from sunspec2 import mdef as sunspec_mdef

from gridshare.ingest.sunspec.device import (
    INVERTER_MODELS,
    SunSpecDevice,
    SunSpecError,
    SunSpecFault,
)

__all__ = ["ModelData", "ModelHeader", "Sample", "parse_sample", "scaled_wh"]

_SF_RANGE: Final = range(-10, 11)
"""Valid values of a SunSpec ``sunssf`` point."""
_ACCUMULATOR_TYPES: Final = frozenset(
    {sunspec_mdef.TYPE_ACC16, sunspec_mdef.TYPE_ACC32, sunspec_mdef.TYPE_ACC64}
)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one poll of a device read, in gridshare units and signs."""

    meter_id: str
    model_id: int
    """The SunSpec model read (101-103 inverter, 201-204 meter)."""
    manufacturer: str
    model: str
    serial_number: str
    import_register_wh: int
    """Lifetime energy into the metered side, Wh (0 for inverters)."""
    export_register_wh: int
    """Lifetime energy out of the metered side, Wh (an inverter's production)."""
    net_import_w: float | None
    """Real power, W, import positive (a producing inverter is negative)."""
    voltage_v: float | None
    """Line-to-neutral voltage, V (inverters: phase A; meters: average of phases)."""
    frequency_hz: float | None
    power_factor: float | None
    """Power factor as a fraction, -1 to 1 (SunSpec reports percent)."""


def _scaled(value: int, exponent: int) -> Decimal:
    """``value x 10**exponent`` exactly."""
    return Decimal(value).scaleb(exponent)


def scaled_wh(value: int, exponent: int) -> int:
    """``value x 10**exponent`` as integer Wh: exact for ``exponent >= 0``, else half-even.

    >>> scaled_wh(987654, -1), scaled_wh(987655, -1), scaled_wh(987645, -1), scaled_wh(12, 3)
    (98765, 98766, 98764, 12000)
    """
    if exponent >= 0:
        return int(value * 10**exponent)  # int ** non-negative int is an exact int
    return int(_scaled(value, exponent).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class _Point:
    """Where a point sits in its model, from the SunSpec model definition."""

    name: str
    offset: int
    """Registers from the model's ID register."""
    size: int
    type: str
    scale: str | int | None
    """The scale-factor point's name, a fixed exponent, or None (unscaled)."""


@cache
def _model_points(model_id: int) -> dict[str, _Point]:
    """Top-level points of a model with their register offsets (pysunspec2 definitions)."""
    group = sunspec_device.get_model_def(model_id)[sunspec_mdef.GROUP]
    points: dict[str, _Point] = {}
    offset = 0
    for pdef in group[sunspec_mdef.POINTS]:
        name, ptype = str(pdef[sunspec_mdef.NAME]), str(pdef[sunspec_mdef.TYPE])
        size = int(pdef.get(sunspec_mdef.SIZE) or sunspec_mb.point_type_info[ptype].len)
        raw_scale = pdef.get(sunspec_mdef.SF)
        scale: str | int | None = None
        if raw_scale is not None:
            try:
                scale = int(raw_scale)
            except ValueError:
                scale = str(raw_scale)
        points[name] = _Point(name, offset, size, ptype, scale)
        offset += size
    return points


@dataclass(frozen=True, slots=True)
class ModelHeader:
    model_id: int
    address: int
    """Address of the model's ID register."""
    length: int
    """The model's L: registers after ID and L."""


class ModelData:
    """The registers of one model instance, decoded point by point."""

    def __init__(self, device: SunSpecDevice, header: ModelHeader, registers: list[int]):
        self.device = device
        self.header = header
        self.registers = registers
        self.points = _model_points(header.model_id)

    def _error(self, fault: SunSpecFault, detail: str) -> SunSpecError:
        return SunSpecError(self.device, fault, detail, self.header.model_id)

    def _point(self, name: str) -> _Point:
        point = self.points[name]
        if point.offset + point.size > len(self.registers):
            raise self._error(
                SunSpecFault.BAD_RESPONSE,
                f"the model is {self.header.length} registers long, too short to hold {name} "
                f"(offset {point.offset}) as the SunSpec definition places it",
            )
        return point

    def _bytes(self, point: _Point) -> bytes:
        words = self.registers[point.offset : point.offset + point.size]
        return struct.pack(f">{point.size}H", *words)

    def integer(self, name: str) -> int | None:
        """An integer point's raw value; None when it holds the not-implemented value."""
        point = self._point(name)
        info = sunspec_mb.point_type_info[point.type]
        value = info.data_to(self._bytes(point))
        if point.type not in _ACCUMULATOR_TYPES and not info.is_impl(value):
            return None
        return int(value)

    def text(self, name: str) -> str:
        if name not in self.points:
            return ""
        raw = self._bytes(self._point(name))
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()

    def exponent(self, name: str) -> int | None:
        """The scale factor of point ``name``; None when not implemented."""
        scale = self.points[name].scale
        if scale is None or isinstance(scale, int):
            return scale or 0
        value = self.integer(scale)
        if value is not None and value not in _SF_RANGE:
            raise self._error(
                SunSpecFault.BAD_RESPONSE, f"scale factor {scale} = {value} is outside -10..10"
            )
        return value

    def scaled(self, name: str) -> Decimal | None:
        """``value x 10**SF`` exactly; None when the value or its scale factor is missing."""
        value, exponent = self.integer(name), self.exponent(name)
        if value is None or exponent is None:
            return None
        return _scaled(value, exponent)

    def energy_wh(self, name: str) -> int:
        """A required energy register in integer Wh (see :func:`scaled_wh`)."""
        value = self.integer(name)
        if value is None:
            raise self._error(SunSpecFault.NOT_IMPLEMENTED, f"{name} is not implemented")
        exponent = self.exponent(name)
        if exponent is None:
            raise self._error(
                SunSpecFault.NOT_IMPLEMENTED,
                f"{self.points[name].scale} (scale factor of {name}) is not implemented",
            )
        return scaled_wh(value, exponent)

    def quantity(self, *names: str) -> float | None:
        """The first implemented of ``names``, scaled, as a float."""
        for name in names:
            value = self.scaled(name)
            if value is not None:
                return float(value)
        return None


def parse_sample(device: SunSpecDevice, common: ModelData | None, data: ModelData) -> Sample:
    """The :class:`Sample` in the registers of an inverter or meter model (``data``) and of
    the common model describing the device (``common``, if it has one)."""
    model_id = data.header.model_id
    if model_id in INVERTER_MODELS:
        import_wh, export_wh = 0, data.energy_wh("WH")
        produced_w = data.quantity("W")
        net_import_w = None if produced_w is None else -produced_w
        voltage_v = data.quantity("PhVphA")
    else:
        import_wh, export_wh = data.energy_wh("TotWhImp"), data.energy_wh("TotWhExp")
        net_import_w = data.quantity("W")
        voltage_v = data.quantity("PhV", "PhVphA")
    pf_pct = data.quantity("PF")
    manufacturer, model, serial_number = (
        (common.text("Mn"), common.text("Md"), common.text("SN")) if common else ("", "", "")
    )
    return Sample(
        meter_id=device.meter_id,
        model_id=model_id,
        manufacturer=manufacturer,
        model=model,
        serial_number=serial_number,
        import_register_wh=import_wh,
        export_register_wh=export_wh,
        net_import_w=net_import_w,
        voltage_v=voltage_v,
        frequency_hz=data.quantity("Hz"),
        power_factor=None if pf_pct is None else pf_pct / 100.0,
    )
