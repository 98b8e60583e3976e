"""A real Modbus TCP server holding SunSpec register maps, for the SunSpec poller's tests.

Register maps are encoded with pysunspec2's own model classes (``sunspec2.device.Model``
and its ``get_mb``), an implementation independent of the poller's offset computation;
points left unset hold SunSpec's not-implemented values. The server is pymodbus's
``ModbusTcpServer`` on 127.0.0.1 (a free port chosen by the OS), run on an asyncio loop in
a background thread.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sunspec2 import device as sunspec_device  # type: ignore[import-untyped]  # no py.typed

SUNS_BASE = 40000
WRITE_REGISTERS = 16  # Modbus function code "write multiple registers"


def _words(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


@dataclass
class SunSpecMap:
    """A SunSpec register map at ``base``: "SunS", models, end marker."""

    models: Sequence[tuple[int, Mapping[str, Any]]]
    """(model id, point values); unset points are "not implemented"."""
    base: int = SUNS_BASE
    registers: list[int] = field(init=False)
    _addresses: dict[int, int] = field(init=False, default_factory=dict)
    _models: dict[int, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.registers = _words(b"SunS")
        for model_id, values in self.models:
            model = sunspec_device.Model(model_id=model_id)
            assert not model.error_info, model.error_info
            for name, value in values.items():
                model.points[name].set_value(value)
            self._addresses[model_id] = self.base + len(self.registers)
            self._models[model_id] = model
            self.registers.extend(_words(model.get_mb()))
        self.registers.extend([0xFFFF, 0])

    def point(self, model_id: int, name: str, value: Any) -> tuple[int, list[int]]:
        """(address, registers) that set point ``name`` of ``model_id`` to ``value``."""
        point = self._models[model_id].points[name]
        point.set_value(value)
        return self._addresses[model_id] + point.offset, _words(point.get_mb())


class ModbusTestServer:
    """pymodbus's Modbus TCP server in a thread; one register block per unit id."""

    def __init__(self, units: Mapping[int, tuple[int, Sequence[int]]]) -> None:
        """``units``: unit id -> (first address, holding registers)."""
        self._devices = [
            SimDevice(
                id=unit_id,
                simdata=[SimData(address, values=list(words), datatype=DataType.REGISTERS)],
            )
            for unit_id, (address, words) in units.items()
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="modbus-test-server")
        self._started = threading.Event()
        self._server: ModbusTcpServer | None = None
        self._failure: BaseException | None = None
        self.port = 0

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        server = ModbusTcpServer(self._devices, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        sockets = getattr(server.transport, "sockets", None)
        assert sockets, "the Modbus server has no listening socket"
        self.port = int(sockets[0].getsockname()[1])
        self._server = server

    def __enter__(self) -> ModbusTestServer:
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("the Modbus test server did not start within 5 s")
        if self._failure is not None:
            raise RuntimeError("the Modbus test server failed to start") from self._failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            shutdown = self._server.shutdown()  # type: ignore[no-untyped-call]
            asyncio.run_coroutine_threadsafe(shutdown, self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def write(self, unit_id: int, address: int, words: Sequence[int]) -> None:
        """Change holding registers of ``unit_id`` as the device itself would."""
        assert self._server is not None
        future = asyncio.run_coroutine_threadsafe(
            self._server.async_setValues(unit_id, WRITE_REGISTERS, address, list(words)),
            self._loop,
        )
        assert future.result(5) is None, f"write to unit {unit_id} at {address} refused"
