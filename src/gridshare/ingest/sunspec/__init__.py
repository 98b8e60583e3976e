"""SunSpec over Modbus TCP: a gateway that polls inverters and meters and signs readings.

At every interval boundary (``interval_s``, aligned to the UNIX epoch) :class:`SunSpecPoller`
reads each configured device's lifetime energy registers and, for a device whose previous
boundary sample exists, hands one signed :class:`~gridshare.metering.wire.ReadingBundle`
(one reading: the interval that just ended) to a ``submit`` callback.

Register maps come from the SunSpec standard, not from hand-typed tables: the point
offsets, types, scale-factor points and "not implemented" values are taken from the model
definitions bundled with pysunspec2 (``sunspec2.device.get_model_def`` and
``sunspec2.mb.point_type_info``). Transport is pymodbus's synchronous ``ModbusTcpClient``.
pysunspec2's own client (``SunSpecModbusClientDeviceTCP``) does not use pymodbus at all and
works, but it is not used here because:

* it is a hand-rolled socket client that checks neither transaction id nor unit id of a
  response, and silently returns short data when a read comes back empty;
* its scan folds every failure (refused connection, Modbus exception, timeout) into one
  string, so a caller cannot tell "unreachable" from "not a SunSpec device";
* its computed values (``cvalue``) scale with ``math.pow`` and float rounding, while
  energy here must be exact integer Wh;
* it is untyped end to end; pymodbus is typed and already a dependency. pysunspec2 has
  no ``py.typed`` either, so its definitions are ``Any`` here and converted on the spot.

Devices and models
    A device is one Modbus unit (``unit_id``) behind ``host:port``. The "SunS" marker is
    looked for at ``base_address``, or at 40000, 0 and 50000 (pysunspec2's scan order).
    Supported: common model 1 (manufacturer, model, serial number), single/split/three-
    phase inverters 101, 102, 103 (a *production* meter: ``export_register_wh = WH``,
    ``import_register_wh = 0``, the models have no import register) and AC meters 201,
    202, 203, 204 (``TotWhImp`` / ``TotWhExp``; import is energy into the metered side as
    everywhere in gridshare, see ``docs/glossary.md``). If a unit holds several supported
    models, set :attr:`SunSpecDevice.model_id`; the first instance of that model is read.

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
    are ``None`` in the :class:`Sample` and left out of the bundle, as is a value outside
    the physical range the validator accepts (e.g. 0 Hz at night), which would otherwise
    make the validator refuse the whole reading.

Signs
    :attr:`Sample.net_import_w` follows gridshare's one convention, import positive. An
    inverter's ``W`` (positive when producing) is negated; a meter's ``W`` is taken as
    load-referenced (positive when importing), the convention of the SunSpec meter models.

Intervals
    The first sample of a device only sets its baseline. A reading is emitted only when
    the previous sample is exactly one interval old: after missed boundaries (poller down,
    device unreachable) the gap is reported and the device rebaselined (the validator
    accepts gaps). A register that went backwards (meter replaced or reset; also a 32-bit
    accumulator rolling over) emits nothing, is reported and rebaselines. Nothing is
    ever negative.

Sequence numbers
    Each device has a monotonic counter. The constructor takes the last sequence number
    used per meter (``initial_seq``; absent meters start at 1); :attr:`SunSpecPoller.seq`
    is the current map. A number is consumed when a bundle is signed, even if ``submit``
    then fails, so no number is ever used for two different readings. To survive a crash
    without reusing one, persist ``bundle.seq`` in ``submit`` before the bundle leaves.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from functools import cache
from typing import Final

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from sunspec2 import device as sunspec_device  # type: ignore[import-untyped]  # no py.typed
from sunspec2 import mb as sunspec_mb
from sunspec2 import mdef as sunspec_mdef

from gridshare.errors import ConfigurationError, GridshareError
from gridshare.metering.wire import (
    QUALITY_RANGES,
    ReadingBundle,
    device_address,
    make_bundle,
    sign_bundle,
)

__all__ = [
    "COMMON_MODEL",
    "DEFAULT_BASE_ADDRESSES",
    "INVERTER_MODELS",
    "METER_MODELS",
    "SUPPORTED_MODELS",
    "BoundaryReport",
    "Problem",
    "ProblemKind",
    "Sample",
    "SunSpecDevice",
    "SunSpecError",
    "SunSpecFault",
    "SunSpecPoller",
    "scaled_wh",
]

logger = logging.getLogger(__name__)

COMMON_MODEL: Final = 1
INVERTER_MODELS: Final = (101, 102, 103)
METER_MODELS: Final = (201, 202, 203, 204)
SUPPORTED_MODELS: Final = INVERTER_MODELS + METER_MODELS
DEFAULT_BASE_ADDRESSES: Final = (sunspec_mb.SUNS_BASE_ADDR_DEFAULT, 0, 50000)
"""Where the "SunS" marker is looked for, in pysunspec2's scan order."""

_SUNS_MARKER: Final = struct.unpack(">2H", b"SunS")
_END_MODEL_ID: Final[int] = sunspec_mb.SUNS_END_MODEL_ID
_MAX_READ_REGISTERS: Final = 125
"""Modbus limit for one Read Holding Registers request."""
_MAX_MODELS: Final = 256
_SF_RANGE: Final = range(-10, 11)
"""Valid values of a SunSpec ``sunssf`` point."""
_ACCUMULATOR_TYPES: Final = frozenset(
    {sunspec_mdef.TYPE_ACC16, sunspec_mdef.TYPE_ACC32, sunspec_mdef.TYPE_ACC64}
)
_GATEWAY_EXCEPTION_CODES: Final = frozenset({0x0A, 0x0B})
"""Modbus "gateway path unavailable" / "gateway target failed to respond"."""
_MODBUS_RETRIES: Final = 1
_MAX_WAIT_S: Final = 60.0


# --------------------------------------------------------------------------- errors


class SunSpecFault(StrEnum):
    """What kind of failure a :class:`SunSpecError` is."""

    UNREACHABLE = "unreachable"
    """No TCP connection, or no Modbus response from the unit."""
    NO_SUNSPEC_MAP = "no_sunspec_map"
    """No "SunS" marker at any base address."""
    UNSUPPORTED = "unsupported"
    """No supported model, or several and no ``model_id`` to choose."""
    NOT_IMPLEMENTED = "not_implemented"
    """A required point holds SunSpec's not-implemented value."""
    BAD_RESPONSE = "bad_response"
    """A Modbus exception response or a register map that contradicts the standard."""


class SunSpecError(GridshareError):
    """A SunSpec device could not be read; the message names device, unit and model."""

    def __init__(
        self,
        device: SunSpecDevice,
        fault: SunSpecFault,
        detail: str,
        model_id: int | None = None,
    ) -> None:
        where = f"{device.host}:{device.port} unit {device.unit_id}"
        if model_id is not None:
            where += f" model {model_id}"
        super().__init__(f"SunSpec device {device.meter_id!r} at {where}: {detail}")
        self.meter_id = device.meter_id
        self.host = device.host
        self.port = device.port
        self.unit_id = device.unit_id
        self.model_id = model_id
        self.fault = fault
        self.detail = detail


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True, kw_only=True)
class SunSpecDevice:
    """One SunSpec device (a Modbus unit) and the gridshare meter it reports as."""

    meter_id: str
    """The gridshare meter id the readings are signed for."""
    host: str
    private_key: bytes = field(repr=False)
    """The device's 32-byte secp256k1 key (its address is registered for ``meter_id``)."""
    port: int = 502
    unit_id: int = 1
    """Modbus unit identifier (slave id), 0-255."""
    base_address: int | None = None
    """Register address of the "SunS" marker; ``None`` scans 40000, 0 and 50000."""
    model_id: int | None = None
    """Which supported model to read when the unit holds several."""
    timeout_s: float = 2.0
    """Modbus TCP connect and response timeout, seconds."""

    def __post_init__(self) -> None:
        if not self.meter_id or len(self.meter_id) > 200:
            raise ConfigurationError("meter_id must be a non-empty string of at most 200 chars")
        prefix = f"SunSpec device {self.meter_id!r}"
        if not self.host:
            raise ConfigurationError(f"{prefix}: host is empty")
        if not 1 <= self.port <= 0xFFFF:
            raise ConfigurationError(f"{prefix}: port {self.port} is not in 1-65535")
        if not 0 <= self.unit_id <= 0xFF:
            raise ConfigurationError(f"{prefix}: unit_id {self.unit_id} is not in 0-255")
        if self.base_address is not None and not 0 <= self.base_address <= 0xFFFF - 2:
            raise ConfigurationError(f"{prefix}: base_address {self.base_address} out of range")
        if self.model_id is not None and self.model_id not in SUPPORTED_MODELS:
            raise ConfigurationError(
                f"{prefix}: model_id {self.model_id} is not one of {list(SUPPORTED_MODELS)}"
            )
        if not self.timeout_s > 0:
            raise ConfigurationError(f"{prefix}: timeout_s must be > 0 s")
        if not isinstance(self.private_key, bytes) or len(self.private_key) != 32:
            raise ConfigurationError(f"{prefix}: private_key must be 32 bytes")
        try:
            device_address(self.private_key)
        except ValueError:
            raise ConfigurationError(
                f"{prefix}: private_key is not a valid secp256k1 key"
            ) from None

    @property
    def base_addresses(self) -> tuple[int, ...]:
        """The addresses scanned for the "SunS" marker, in order."""
        return DEFAULT_BASE_ADDRESSES if self.base_address is None else (self.base_address,)


# --------------------------------------------------------------------------- samples


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


def scaled_wh(value: int, exponent: int) -> int:
    """``value x 10**exponent`` as integer Wh: exact for ``exponent >= 0``, else half-even.

    >>> scaled_wh(987654, -1), scaled_wh(987655, -1), scaled_wh(987645, -1), scaled_wh(12, 3)
    (98765, 98766, 98764, 12000)
    """
    if exponent >= 0:
        return int(value * 10**exponent)  # int ** non-negative int is an exact int
    return int(Decimal(value).scaleb(exponent).to_integral_value(rounding=ROUND_HALF_EVEN))


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
class _ModelHeader:
    model_id: int
    address: int
    """Address of the model's ID register."""
    length: int
    """The model's L: registers after ID and L."""


class _ModelData:
    """The registers of one model instance, decoded point by point."""

    def __init__(self, device: SunSpecDevice, header: _ModelHeader, registers: list[int]):
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
        return Decimal(value).scaleb(exponent)

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


# --------------------------------------------------------------------------- Modbus reads


class _Registers:
    """Holding-register reads from one unit, failures turned into :class:`SunSpecError`."""

    def __init__(self, client: ModbusTcpClient, device: SunSpecDevice) -> None:
        self.client = client
        self.device = device

    def read(self, address: int, count: int) -> list[int]:
        words: list[int] = []
        while len(words) < count:
            at = address + len(words)
            n = min(count - len(words), _MAX_READ_REGISTERS)
            words.extend(self._read_once(at, n))
        return words

    def _read_once(self, address: int, count: int) -> list[int]:
        device = self.device
        try:
            response = self.client.read_holding_registers(
                address, count=count, device_id=device.unit_id
            )
        except (ModbusException, OSError) as exc:
            raise SunSpecError(
                device,
                SunSpecFault.UNREACHABLE,
                f"no response reading {count} register(s) at {address} ({exc}); "
                "check that the device is on and the unit id is right",
            ) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            fault = (
                SunSpecFault.UNREACHABLE
                if code in _GATEWAY_EXCEPTION_CODES
                else SunSpecFault.BAD_RESPONSE
            )
            raise SunSpecError(
                device,
                fault,
                f"Modbus exception {code} reading {count} register(s) at {address}",
            )
        registers = list(response.registers)
        if len(registers) != count:
            raise SunSpecError(
                device,
                SunSpecFault.BAD_RESPONSE,
                f"asked for {count} register(s) at {address}, got {len(registers)}",
            )
        return registers


def _find_base(registers: _Registers) -> int:
    device = registers.device
    tried: list[str] = []
    for base in device.base_addresses:
        try:
            words = registers.read(base, 2)
        except SunSpecError as exc:
            if exc.fault is not SunSpecFault.BAD_RESPONSE:
                raise
            tried.append(f"{base}: {exc.detail}")
            continue
        if tuple(words) == _SUNS_MARKER:
            return base
        tried.append(f"{base}: {words[0]:#06x} {words[1]:#06x}")
    hint = "" if device.base_address is None else " (check base_address)"
    raise SunSpecError(
        device,
        SunSpecFault.NO_SUNSPEC_MAP,
        f'no "SunS" marker{hint}; read {"; ".join(tried)}. '
        "Is this a SunSpec device, with SunSpec Modbus enabled?",
    )


def _list_models(registers: _Registers, base: int) -> list[_ModelHeader]:
    """The models after the marker, up to the end model (0xFFFF)."""
    models: list[_ModelHeader] = []
    address = base + 2
    for _ in range(_MAX_MODELS):
        try:
            (model_id,) = registers.read(address, 1)
        except SunSpecError as exc:
            # Some devices have no register for the end model; pysunspec2 also stops here.
            if exc.fault is SunSpecFault.BAD_RESPONSE and models:
                logger.debug("%s: model list ends without 0xFFFF at %d", exc.meter_id, address)
                return models
            raise
        if model_id == _END_MODEL_ID:
            return models
        (length,) = registers.read(address + 1, 1)
        models.append(_ModelHeader(model_id, address, length))
        address += 2 + length
        if address > 0xFFFF:
            break
    raise SunSpecError(
        registers.device,
        SunSpecFault.BAD_RESPONSE,
        f"the model list starting at {base + 2} has no end marker (0xFFFF)",
    )


def _choose_model(device: SunSpecDevice, models: Sequence[_ModelHeader]) -> _ModelHeader:
    found = [m.model_id for m in models]
    wanted = SUPPORTED_MODELS if device.model_id is None else (device.model_id,)
    candidates = [m for m in models if m.model_id in wanted]
    if not candidates:
        raise SunSpecError(
            device,
            SunSpecFault.UNSUPPORTED,
            f"found models {found}, none of {list(wanted)} "
            "(supported: inverters 101-103, meters 201-204)",
        )
    if device.model_id is None and len(candidates) > 1:
        raise SunSpecError(
            device,
            SunSpecFault.UNSUPPORTED,
            f"found several supported models {[m.model_id for m in candidates]}; "
            "set model_id to say which one this meter is",
        )
    return candidates[0]


def _read_model(registers: _Registers, header: _ModelHeader) -> _ModelData:
    words = registers.read(header.address, header.length + 2)
    if words[0] != header.model_id or words[1] != header.length:
        raise SunSpecError(
            registers.device,
            SunSpecFault.BAD_RESPONSE,
            f"the model header changed while reading ({words[0]}, {words[1]})",
            header.model_id,
        )
    return _ModelData(registers.device, header, words)


def _sample(device: SunSpecDevice, common: _ModelData | None, data: _ModelData) -> Sample:
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
    return Sample(
        meter_id=device.meter_id,
        model_id=model_id,
        manufacturer=common.text("Mn") if common else "",
        model=common.text("Md") if common else "",
        serial_number=common.text("SN") if common else "",
        import_register_wh=import_wh,
        export_register_wh=export_wh,
        net_import_w=net_import_w,
        voltage_v=voltage_v,
        frequency_hz=data.quantity("Hz"),
        power_factor=None if pf_pct is None else pf_pct / 100.0,
    )


def _fetch_sample(device: SunSpecDevice) -> Sample:
    client = ModbusTcpClient(
        device.host,
        port=device.port,
        timeout=device.timeout_s,
        retries=_MODBUS_RETRIES,
        name=f"sunspec {device.meter_id}",
    )
    try:
        # pymodbus 3.16 leaves the sync client's connect() and close() unannotated.
        if not client.connect():  # type: ignore[no-untyped-call]
            raise SunSpecError(
                device,
                SunSpecFault.UNREACHABLE,
                "cannot open a Modbus TCP connection; check host and port, that the device "
                "is on the network and that its Modbus TCP server is enabled",
            )
        registers = _Registers(client, device)
        models = _list_models(registers, _find_base(registers))
        chosen = _choose_model(device, models)
        # The common model describing a device precedes its other models.
        commons = [m for m in models if m.model_id == COMMON_MODEL and m.address < chosen.address]
        common = _read_model(registers, commons[-1]) if commons else None
        return _sample(device, common, _read_model(registers, chosen))
    finally:
        client.close()  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------- the poller


class ProblemKind(StrEnum):
    """Why a device produced no reading at a boundary."""

    DEVICE_FAILED = "device_failed"
    """The poll raised (see :attr:`Problem.fault`)."""
    GAP = "gap"
    """The previous sample is more than one interval old; rebaselined."""
    REGISTER_WENT_BACKWARDS = "register_went_backwards"
    """Meter replaced or reset (or an accumulator rolled over); rebaselined."""
    SUBMIT_FAILED = "submit_failed"
    """The reading was signed but ``submit`` raised; its sequence number is spent."""
    CLOCK_WENT_BACKWARDS = "clock_went_backwards"
    """The boundary is before the device's baseline; nothing read."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    meter_id: str
    boundary_s: int
    detail: str
    fault: SunSpecFault | None = None


@dataclass(slots=True)
class BoundaryReport:
    """What happened at one boundary."""

    boundary_s: int
    submitted: list[ReadingBundle] = field(default_factory=list)
    """Signed bundles handed to ``submit`` (and accepted by it)."""
    baselined: list[str] = field(default_factory=list)
    """Meters whose sample at this boundary only set a (new) baseline."""
    samples: dict[str, Sample] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Baseline:
    boundary_s: int
    import_register_wh: int
    export_register_wh: int


class SunSpecPoller:
    """Samples every device at each interval boundary and submits signed readings."""

    def __init__(
        self,
        devices: Sequence[SunSpecDevice],
        submit: Callable[[ReadingBundle], None],
        *,
        interval_s: int = 900,
        initial_seq: Mapping[str, int] | None = None,
        sample_offset_s: float = 2.0,
    ) -> None:
        """``initial_seq``: the last sequence number used per meter (absent: none yet).

        ``sample_offset_s``: :meth:`run` samples this long after each boundary.
        """
        meter_ids = [d.meter_id for d in devices]
        if duplicates := sorted({m for m in meter_ids if meter_ids.count(m) > 1}):
            raise ConfigurationError(f"SunSpec devices share meter ids {duplicates}")
        if interval_s <= 0:
            raise ConfigurationError(f"interval_s must be > 0 s, not {interval_s}")
        if not 0 <= sample_offset_s < interval_s:
            raise ConfigurationError(f"sample_offset_s must be in [0, {interval_s}) s")
        seq = dict(initial_seq or {})
        if negative := sorted(m for m, s in seq.items() if s < 0):
            raise ConfigurationError(f"initial sequence numbers of {negative} are negative")
        self.devices: tuple[SunSpecDevice, ...] = tuple(devices)
        self.submit = submit
        self.interval_s = interval_s
        self.sample_offset_s = sample_offset_s
        self._seq = seq
        self._baselines: dict[str, _Baseline] = {}
        self.problem_counts: Counter[tuple[str, ProblemKind]] = Counter()
        """Problems so far, per (meter id, kind)."""

    @property
    def seq(self) -> dict[str, int]:
        """The last sequence number used per meter (persist it; pass it back as initial_seq)."""
        return dict(self._seq)

    def poll(self, device: SunSpecDevice) -> Sample:
        """Read ``device`` now; :class:`SunSpecError` says why it could not be read."""
        return _fetch_sample(device)

    def on_boundary(self, now_s: float) -> BoundaryReport:
        """Sample every device for the boundary at or before ``now_s`` (unix seconds).

        Devices already sampled at this boundary are skipped, so a repeated call is
        harmless. Failures of one device never stop the others.
        """
        boundary = math.floor(now_s) // self.interval_s * self.interval_s
        report = BoundaryReport(boundary)
        for device in self.devices:
            self._visit(device, boundary, report)
        for problem in report.problems:
            self.problem_counts[problem.meter_id, problem.kind] += 1
        logger.info(
            "boundary %d: %d reading(s) submitted, %d baselined, %d problem(s)",
            boundary,
            len(report.submitted),
            len(report.baselined),
            len(report.problems),
        )
        return report

    def run(self, stop_event: threading.Event, clock: Callable[[], float] = time.time) -> None:
        """Sample ``sample_offset_s`` after every boundary until ``stop_event`` is set.

        Devices are polled one after the other; a device that does not answer costs up
        to two Modbus timeouts (``timeout_s``, one retry) per read. The poller is not
        thread-safe: call :meth:`run` or :meth:`on_boundary` from one thread only.
        """
        next_at = self._next_sampling_time(clock())
        while not stop_event.is_set():
            now = clock()
            if now < next_at - self.interval_s - self.sample_offset_s:
                next_at = self._next_sampling_time(now)  # the wall clock was set back
            if now < next_at:
                # Wake at least every _MAX_WAIT_S to notice the wall clock being reset.
                stop_event.wait(min(next_at - now, _MAX_WAIT_S))
                continue
            try:
                self.on_boundary(now)
            except Exception:  # a bug must not stop the gateway; on_boundary logs details
                logger.exception("SunSpec poller: boundary at %.0f failed", now)
            next_at = self._next_sampling_time(now)

    def _next_sampling_time(self, now_s: float) -> float:
        """The first ``boundary + sample_offset_s`` strictly after ``now_s``."""
        k = math.floor((now_s - self.sample_offset_s) / self.interval_s) + 1
        return k * self.interval_s + self.sample_offset_s

    def _visit(self, device: SunSpecDevice, boundary: int, report: BoundaryReport) -> None:
        meter_id = device.meter_id

        def problem(kind: ProblemKind, detail: str, fault: SunSpecFault | None = None) -> None:
            logger.warning("%s at %d: %s: %s", meter_id, boundary, kind, detail)
            report.problems.append(Problem(kind, meter_id, boundary, detail, fault))

        previous = self._baselines.get(meter_id)
        if previous is not None and boundary <= previous.boundary_s:
            if boundary < previous.boundary_s:
                problem(
                    ProblemKind.CLOCK_WENT_BACKWARDS,
                    f"boundary {boundary} is before the baseline at {previous.boundary_s}",
                )
            return
        try:
            sample = self.poll(device)
        except SunSpecError as exc:
            problem(ProblemKind.DEVICE_FAILED, str(exc), exc.fault)
            return
        except Exception as exc:  # a decoding bug for one device must not stop the others
            logger.exception("%s: unexpected error polling", meter_id)
            problem(ProblemKind.DEVICE_FAILED, f"unexpected {type(exc).__name__}: {exc}")
            return
        report.samples[meter_id] = sample
        current = _Baseline(boundary, sample.import_register_wh, sample.export_register_wh)
        self._baselines[meter_id] = current
        if previous is None:
            report.baselined.append(meter_id)
            return
        elapsed = boundary - previous.boundary_s
        if elapsed != self.interval_s:
            missed = elapsed // self.interval_s - 1
            problem(
                ProblemKind.GAP,
                f"last sample at {previous.boundary_s}, {missed} boundary(ies) missed; "
                f"intervals {previous.boundary_s}..{boundary - self.interval_s} not reported, "
                "new baseline",
            )
            report.baselined.append(meter_id)
            return
        import_wh = current.import_register_wh - previous.import_register_wh
        export_wh = current.export_register_wh - previous.export_register_wh
        if import_wh < 0 or export_wh < 0:
            problem(
                ProblemKind.REGISTER_WENT_BACKWARDS,
                f"registers went from ({previous.import_register_wh}, "
                f"{previous.export_register_wh}) Wh to ({current.import_register_wh}, "
                f"{current.export_register_wh}) Wh (meter replaced or reset?); new baseline",
            )
            report.baselined.append(meter_id)
            return
        bundle = self._sign(device, previous.boundary_s, sample, import_wh, export_wh)
        try:
            self.submit(bundle)
        except Exception as exc:  # the caller's transport; report and go on
            logger.exception("%s: submit failed", meter_id)
            problem(ProblemKind.SUBMIT_FAILED, f"{type(exc).__name__}: {exc}")
            return
        report.submitted.append(bundle)

    def _sign(
        self, device: SunSpecDevice, start_s: int, sample: Sample, import_wh: int, export_wh: int
    ) -> ReadingBundle:
        seq = self._seq.get(device.meter_id, 0) + 1
        self._seq[device.meter_id] = seq
        quality: dict[str, list[float]] = {}
        for name, value in (
            ("voltage_v", sample.voltage_v),
            ("frequency_hz", sample.frequency_hz),
            ("power_factor", sample.power_factor),
        ):
            low, high = QUALITY_RANGES[name]
            if value is not None and low <= value <= high:
                quality[name] = [value]
        bundle = make_bundle(
            device.meter_id,
            [start_s],
            [seq],
            [import_wh],
            [export_wh],
            [sample.import_register_wh],
            [sample.export_register_wh],
            quality=quality,
        )
        return sign_bundle(bundle, device.private_key)
