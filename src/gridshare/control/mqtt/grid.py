"""The balancing step's device control and grid status over MQTT: setpoints as commands to
each controlled asset, and the main grid's state from a retained status topic."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

import orjson
import paho.mqtt.client as mqtt

from gridshare.control.mqtt.commands import MqttCommandPublisher
from gridshare.control.mqtt.connection import MqttBroker, disconnect, subscribe_confirmed
from gridshare.control.mqtt.messages import (
    FORMAT_VERSION,
    TOPIC_ROOT,
    MalformedMessage,
    RelayCommand,
    SetpointCommand,
)
from gridshare.units import (
    BoolArray,
    IntArray,
    UnitError,
    energy_wh_to_mean_power_kw,
    parse_utc_seconds,
)

log = logging.getLogger("gridshare.control.mqtt")


class DispatchedSetpoints(Protocol):
    """What the balancing step dispatches for an interval (``pipeline.ports.Setpoints``)."""

    @property
    def interval_start_s(self) -> int: ...

    @property
    def battery_ids(self) -> tuple[str, ...]: ...

    @property
    def battery_net_wh(self) -> IntArray | None: ...

    @property
    def plant_ids(self) -> tuple[str, ...]: ...

    @property
    def plant_net_wh(self) -> IntArray | None: ...

    @property
    def shed(self) -> BoolArray | None: ...


class MqttDeviceControl:
    """The balancing step's ``DeviceControl`` over MQTT: every planned battery and
    load-following plant receives its interval's setpoint as a ``setpoint`` command on its
    own command topic (its device id is its asset id), as net import in kW over the
    interval (a battery charging imports; a plant's output is a negative import).

    While the community is islanded, each member's connection relay follows the emergency
    protocol: a ``relay`` command opens it in every interval the member is shed (repeated,
    so a relay that missed one is told again next interval), and closes it once, when the
    member is served again or the grid is back."""

    def __init__(
        self,
        publisher: MqttCommandPublisher,
        interval_s: int,
        owners: dict[str, int],
        relays: Mapping[int, str] | None = None,
    ) -> None:
        """``owners``: each controlled asset id with its owner's participant position;
        ``relays``: participant position -> the device id of that member's relay."""
        self.publisher = publisher
        self.interval_s = interval_s
        for asset_id, participant in owners.items():
            publisher.enrol_device(asset_id, participant)
        self.relays = dict(relays or {})
        for participant, device_id in self.relays.items():
            publisher.enrol_device(device_id, participant)
        self._open: set[int] = set()
        """Positions whose relay was last told to open."""
        self.sent = 0
        self.relay_commands = 0
        self.expired = 0

    def apply(self, setpoints: DispatchedSetpoints) -> None:
        self._apply_setpoints(setpoints)
        self._apply_relays(setpoints.interval_start_s, setpoints.shed)

    def _apply_relays(self, start: int, shed: BoolArray | None) -> None:
        for participant, device_id in self.relays.items():
            connect = shed is None or not bool(shed[participant])
            if connect and participant not in self._open:
                continue  # served, and its relay is closed: nothing to say
            command = RelayCommand(f"{start}/{device_id}", connect, start, start + self.interval_s)
            if not self._in_time(command.end_s, command.command_id):
                continue
            self.publisher.send_relay(device_id, command)
            self.relay_commands += 1
            if connect:
                self._open.discard(participant)
            else:
                self._open.add(participant)

    def _in_time(self, end_s: int, command_id: str) -> bool:
        if end_s <= int(self.publisher.now_s()):
            self.expired += 1  # planned too late to matter: counted, not sent
            log.warning("command %s for a window that has passed", command_id)
            return False
        return True

    def _apply_setpoints(self, setpoints: DispatchedSetpoints) -> None:
        start = setpoints.interval_start_s
        interval = timedelta(seconds=self.interval_s)
        for ids, values in (
            (setpoints.battery_ids, setpoints.battery_net_wh),
            (setpoints.plant_ids, setpoints.plant_net_wh),
        ):
            if values is None:
                continue
            for asset_id, value_wh in zip(ids, [int(v) for v in values], strict=True):
                command = SetpointCommand(
                    f"{start}/{asset_id}",
                    energy_wh_to_mean_power_kw(value_wh, interval),
                    start,
                    start + self.interval_s,
                )
                if not self._in_time(command.end_s, command.command_id):
                    continue
                self.publisher.send_setpoint(asset_id, command)
                self.sent += 1


def grid_status_topic(community_id: str) -> str:
    return f"{TOPIC_ROOT}/{community_id}/grid/status"


class MqttGridStatus:
    """The live ``GridStatus``: the protection relay or the operator publishes the main
    grid's state, retained, on ``gridshare/<community>/grid/status`` as
    ``{"v": 1, "connected": false, "at": "2025-06-05T22:00:00Z"}``. The state applies from
    ``at`` on; until a message arrives the grid counts as connected. A malformed message is
    counted in :attr:`malformed` and logged, and the state does not change."""

    def __init__(self, broker: MqttBroker, community_id: str) -> None:
        self.broker = broker
        self.topic = grid_status_topic(community_id)
        self.client = broker.client(f"gridshare-grid-{community_id}-{uuid.uuid4().hex[:8]}")
        self._lock = threading.Lock()
        self._changes: list[tuple[int, bool]] = []
        self.malformed: Counter[str] = Counter()

    def start(self, timeout_s: float = 10.0) -> None:
        subscribe_confirmed(
            self.broker,
            self.client,
            self.topic,
            self._on_message,
            timeout_s,
            close=self.close,
            resubscribe=False,
        )

    def close(self) -> None:
        disconnect(self.client)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            body = orjson.loads(bytes(message.payload))
            if not isinstance(body, dict) or body.get("v") != FORMAT_VERSION:
                raise MalformedMessage("bad version", "expected a JSON object with v = 1")
            connected = body.get("connected")
            if not isinstance(connected, bool):
                raise MalformedMessage("bad connected", "connected must be true or false")
            at_s = parse_utc_seconds(str(body.get("at")))
        except (orjson.JSONDecodeError, MalformedMessage, UnitError) as exc:
            reason = exc.reason if isinstance(exc, MalformedMessage) else "unparsable"
            self.malformed[reason] += 1
            log.warning("grid status message not used: %s (%s)", reason, exc)
            return
        with self._lock:
            self._changes.append((at_s, connected))
            self._changes.sort()

    def is_connected(self, interval_start_s: int) -> bool:
        with self._lock:
            state = True
            for at_s, connected in self._changes:
                if at_s > interval_start_s:
                    break
                state = connected
            return state
