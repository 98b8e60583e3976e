"""A SunSpec device's configuration, the supported models and the one SunSpec error."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from sunspec2 import mb as sunspec_mb  # type: ignore[import-untyped]  # no py.typed

from gridshare.errors import ConfigurationError, GridshareError
from gridshare.metering.wire import device_address

__all__ = [
    "COMMON_MODEL",
    "DEFAULT_BASE_ADDRESSES",
    "INVERTER_MODELS",
    "METER_MODELS",
    "SUPPORTED_MODELS",
    "SunSpecDevice",
    "SunSpecError",
    "SunSpecFault",
]

COMMON_MODEL: Final = 1
INVERTER_MODELS: Final = (101, 102, 103)
METER_MODELS: Final = (201, 202, 203, 204)
SUPPORTED_MODELS: Final = INVERTER_MODELS + METER_MODELS
DEFAULT_BASE_ADDRESSES: Final = (sunspec_mb.SUNS_BASE_ADDR_DEFAULT, 0, 50000)
"""Where the "SunS" marker is looked for, in pysunspec2's scan order."""


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
