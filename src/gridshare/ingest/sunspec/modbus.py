"""Modbus TCP reads of a SunSpec device: find the map, list its models, read one sample.

Transport is pymodbus's synchronous ``ModbusTcpClient``. pysunspec2's own client
(``SunSpecModbusClientDeviceTCP``) does not use pymodbus at all and works, but it is not
used here because:

* it is a hand-rolled socket client that checks neither transaction id nor unit id of a
  response, and silently returns short data when a read comes back empty;
* its scan folds every failure (refused connection, Modbus exception, timeout) into one
  string, so a caller cannot tell "unreachable" from "not a SunSpec device";
* its computed values (``cvalue``) scale with ``math.pow`` and float rounding, while
  energy here must be exact integer Wh;
* it is untyped end to end; pymodbus is typed and already a dependency.

The "SunS" marker is looked for at ``base_address``, or at 40000, 0 and 50000 (pysunspec2's
scan order). If a unit holds several supported models, :attr:`SunSpecDevice.model_id` says
which; the first instance of that model is read.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Final

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from sunspec2 import mb as sunspec_mb  # type: ignore[import-untyped]  # no py.typed

from gridshare.ingest.sunspec.decoding import ModelData, ModelHeader, Sample, parse_sample
from gridshare.ingest.sunspec.device import (
    COMMON_MODEL,
    SUPPORTED_MODELS,
    SunSpecDevice,
    SunSpecError,
    SunSpecFault,
)

__all__ = ["fetch_sample"]

logger = logging.getLogger(__name__)

_SUNS_MARKER: Final = struct.unpack(">2H", b"SunS")
_END_MODEL_ID: Final[int] = sunspec_mb.SUNS_END_MODEL_ID
_MAX_READ_REGISTERS: Final = 125
"""Modbus limit for one Read Holding Registers request."""
_MAX_MODELS: Final = 256
_GATEWAY_EXCEPTION_CODES: Final = frozenset({0x0A, 0x0B})
"""Modbus "gateway path unavailable" / "gateway target failed to respond"."""
_MODBUS_RETRIES: Final = 1


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


def _list_models(registers: _Registers, base: int) -> list[ModelHeader]:
    """The models after the marker, up to the end model (0xFFFF)."""
    models: list[ModelHeader] = []
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
        models.append(ModelHeader(model_id, address, length))
        address += 2 + length
        if address > 0xFFFF:
            break
    raise SunSpecError(
        registers.device,
        SunSpecFault.BAD_RESPONSE,
        f"the model list starting at {base + 2} has no end marker (0xFFFF)",
    )


def _choose_model(device: SunSpecDevice, models: Sequence[ModelHeader]) -> ModelHeader:
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


def _read_model(registers: _Registers, header: ModelHeader) -> ModelData:
    words = registers.read(header.address, header.length + 2)
    if words[0] != header.model_id or words[1] != header.length:
        raise SunSpecError(
            registers.device,
            SunSpecFault.BAD_RESPONSE,
            f"the model header changed while reading ({words[0]}, {words[1]})",
            header.model_id,
        )
    return ModelData(registers.device, header, words)


def fetch_sample(device: SunSpecDevice) -> Sample:
    """Read ``device`` now over one Modbus TCP connection; :class:`SunSpecError` says why
    it could not be read."""
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
        return parse_sample(device, common, _read_model(registers, chosen))
    finally:
        client.close()  # type: ignore[no-untyped-call]
