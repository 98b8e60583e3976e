"""MQTT commands for devices that do not speak OpenADR, and their opt-in / opt-out replies.

Topics (QoS 1, MQTT 5; a device id may contain ``/`` but not ``+`` or ``#``)::

    gridshare/<community_id>/commands/<device_id>     gridshare -> device
    gridshare/<community_id>/responses/<device_id>    device -> gridshare

Payloads are UTF-8 JSON objects with a format version ``"v": 1``. Instants are ISO 8601 UTC
(``2025-06-18T17:00:00Z``); windows are half-open ``[start, end)``::

    {"v": 1, "type": "dr_event", "event_id": "ev-7", "kind": "curtail" | "shift",
     "start": "...Z", "end": "...Z", "requested_kw": 1.5, "rebound_end": "...Z" | null}
    {"v": 1, "type": "setpoint", "command_id": "c-1", "net_import_kw": -2.0,
     "start": "...Z", "end": "...Z"}
    reply: {"v": 1, "event_id": "ev-7", "opt": "optIn" | "optOut", "reason": "comfort"}

``net_import_kw`` follows the meter sign convention: > 0 the device imports (a battery
charges), < 0 it exports (a battery discharges). A command carries the MQTT 5 message
expiry of its window, so a device that reconnects after the window never receives it.

The topic names the device: the publisher takes a reply only from the enrolled device's own
``responses`` topic. In production the broker's ACL must let each device (its own MQTT user)
subscribe only to its ``commands`` topic and publish only to its ``responses`` topic; TLS and
the user come from the broker URL (``mqtts://user:password@host``, see
``gridshare.ingest.mqtt.BrokerConfig``, which is what callers pass as ``broker``).

A reply that cannot be used is never dropped silently: a malformed one is counted in
:attr:`MqttCommandPublisher.malformed` under its reason, one from a device that is not enrolled
or about an event the device was not sent in :attr:`MqttCommandPublisher.rejected`; the last
:data:`PROBLEMS_KEPT` are kept with their payload in :attr:`MqttCommandPublisher.problems`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
    called_enrolments,
)
from gridshare.errors import GridshareError
from gridshare.units import UnitError, from_unix_seconds, parse_utc_seconds

log = logging.getLogger("gridshare.control.mqtt")
TOPIC_ROOT = "gridshare"
FORMAT_VERSION = 1
PROBLEMS_KEPT = 1_000
OPT_IN = "optIn"
OPT_OUT = "optOut"
MAX_REASON_CHARS = 200


class CommandError(GridshareError):
    """A command cannot be sent (device unknown, broker away, not acknowledged)."""


class MalformedMessage(CommandError):
    """A command or reply payload that does not follow the format; ``reason`` is a short key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def commands_topic(community_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{community_id}/commands/{device_id}"


def responses_topic(community_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{community_id}/responses/{device_id}"


def check_device_id(device_id: str) -> None:
    if not device_id or "+" in device_id or "#" in device_id or device_id.startswith("/"):
        raise CommandError(
            f"device id {device_id!r} cannot be part of an MQTT topic: use a non-empty id "
            "without '+', '#' or a leading '/'"
        )


class MqttBroker(Protocol):
    """Where the broker is and how to connect: ``gridshare.ingest.mqtt.BrokerConfig``."""

    def client(self, client_id: str, *, persistent: bool = False) -> mqtt.Client: ...

    def connect(self, client: mqtt.Client, timeout_s: float = 10.0) -> None: ...


# -- payloads ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrCommand:
    """A demand-response event as one device receives it."""

    event_id: str
    kind: EventKind
    start_s: int
    end_s: int
    requested_kw: float
    rebound_end_s: int | None = None


@dataclass(frozen=True, slots=True)
class SetpointCommand:
    """Hold ``net_import_kw`` (import positive: > 0 charges a battery) over the window."""

    command_id: str
    net_import_kw: float
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class DeviceReply:
    device_id: str
    event_id: str
    is_opted_in: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReplyProblem:
    """A reply that was not used, why, and (the start of) what it said."""

    device_id: str
    reason: str
    detail: str
    payload: bytes


def _iso(moment_s: int) -> str:
    return from_unix_seconds(moment_s).isoformat().replace("+00:00", "Z")


def encode_dr_command(event: DemandResponseEvent, requested_kw: float) -> bytes:
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "type": "dr_event",
            "event_id": event.event_id,
            "kind": event.kind.value,
            "start": _iso(event.start_s),
            "end": _iso(event.end_s),
            "requested_kw": requested_kw,
            "rebound_end": None if event.rebound_end_s is None else _iso(event.rebound_end_s),
        }
    )


def encode_setpoint(command: SetpointCommand) -> bytes:
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "type": "setpoint",
            "command_id": command.command_id,
            "net_import_kw": command.net_import_kw,
            "start": _iso(command.start_s),
            "end": _iso(command.end_s),
        }
    )


def encode_reply(event_id: str, is_opted_in: bool, reason: str = "") -> bytes:
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "event_id": event_id,
        "opt": OPT_IN if is_opted_in else OPT_OUT,
    }
    if reason:
        body["reason"] = reason
    return orjson.dumps(body)


def _object(payload: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage("not JSON", str(exc)) from None
    if not isinstance(body, dict):
        raise MalformedMessage("not a JSON object", type(body).__name__)
    if body.get("v") != FORMAT_VERSION:
        raise MalformedMessage("unsupported version", f"v={body.get('v')!r}, expected 1")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"bad {key}", f"{key} must be a non-empty string, got {value!r}")
    return value


def _instant(body: dict[str, Any], key: str) -> int:
    try:
        return parse_utc_seconds(_text(body, key))
    except UnitError as exc:
        raise MalformedMessage(f"bad {key}", str(exc)) from None


def _kw(body: dict[str, Any], key: str, *, signed: bool) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"bad {key}", f"{key} must be a number of kW, got {value!r}")
    if not math.isfinite(value) or (not signed and value < 0):
        raise MalformedMessage(f"bad {key}", f"{key} {value} kW is out of range")
    return float(value)


def parse_command(payload: bytes) -> DrCommand | SetpointCommand:
    """A command from its JSON; :class:`MalformedMessage` says what is wrong."""
    body = _object(payload)
    kind = body.get("type")
    if kind not in ("dr_event", "setpoint"):
        raise MalformedMessage("bad type", f"type must be dr_event or setpoint, got {kind!r}")
    start_s, end_s = _instant(body, "start"), _instant(body, "end")
    if end_s <= start_s:
        raise MalformedMessage("bad window", f"end {body['end']} is not after start")
    if kind == "setpoint":
        return SetpointCommand(
            _text(body, "command_id"), _kw(body, "net_import_kw", signed=True), start_s, end_s
        )
    try:
        event_kind = EventKind(str(body.get("kind")))
    except ValueError:
        raise MalformedMessage("bad kind", f"kind {body.get('kind')!r}") from None
    rebound = None if body.get("rebound_end") is None else _instant(body, "rebound_end")
    return DrCommand(
        _text(body, "event_id"),
        event_kind,
        start_s,
        end_s,
        _kw(body, "requested_kw", signed=False),
        rebound,
    )


def parse_reply(device_id: str, payload: bytes) -> DeviceReply:
    """A device's reply from its JSON; :class:`MalformedMessage` says what is wrong."""
    body = _object(payload)
    opt = body.get("opt")
    if opt not in (OPT_IN, OPT_OUT):
        raise MalformedMessage("bad opt", f"opt must be {OPT_IN} or {OPT_OUT}, got {opt!r}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise MalformedMessage("bad reason", f"reason must be text of <= {MAX_REASON_CHARS} chars")
    return DeviceReply(device_id, _text(body, "event_id"), opt == OPT_IN, reason)


def _properties(expires_in_s: int) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.MessageExpiryInterval = expires_in_s
    return properties


# -- gridshare's side ----------------------------------------------------------------------------


class MqttCommandPublisher:
    """Sends demand-response events and setpoints to MQTT devices and collects their replies.

    An :class:`~gridshare.balancing.demand_response.EventChannel` for the enrolments whose
    protocol is ``mqtt``. Call :meth:`start` before use and :meth:`close` after.
    """

    def __init__(
        self,
        broker: MqttBroker,
        community_id: str,
        enrolments: Sequence[Enrolment] = (),
        *,
        client_id: str | None = None,
        now_s: Callable[[], float] = time.time,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.broker = broker
        self.community_id = community_id
        self.now_s = now_s
        self.publish_timeout_s = publish_timeout_s
        self.client = broker.client(
            client_id or f"gridshare-commands-{community_id}-{uuid.uuid4().hex[:8]}"
        )
        self._prefix = responses_topic(community_id, "")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._devices: dict[str, int] = {}
        self._sent: dict[str, dict[str, int]] = {}  # event id -> device id -> participant
        self._replies: dict[str, dict[str, DeviceReply]] = {}
        self.malformed: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.problems: deque[ReplyProblem] = deque(maxlen=PROBLEMS_KEPT)
        self.enrol(enrolments)

    # lifecycle

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe to every device's replies."""
        subscription = self._prefix + "#"
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.broker.connect(self.client, timeout_s)
        self.client.subscribe(subscription, qos=1)
        if not subscribed.wait(timeout_s):
            self.close()
            raise CommandError(f"the MQTT broker did not confirm the subscription {subscription}")

        def resubscribe(*_args: object) -> None:
            self.client.subscribe(subscription, qos=1)

        self.client.on_connect = resubscribe

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttCommandPublisher:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # devices and commands

    def enrol(self, enrolments: Sequence[Enrolment]) -> None:
        """Accept commands to and replies from these devices (MQTT enrolments only)."""
        with self._lock:
            for enrolment in enrolments:
                if enrolment.protocol is not DeviceProtocol.MQTT:
                    continue
                check_device_id(enrolment.device_id)
                self._devices[enrolment.device_id] = enrolment.participant_index

    def enrol_device(self, device_id: str, participant_index: int) -> None:
        """Accept setpoint commands to a device that is not in demand response."""
        check_device_id(device_id)
        with self._lock:
            self._devices[device_id] = participant_index

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        """Send the event to each called participant's MQTT device; waits for the broker's
        acknowledgements (QoS 1)."""
        called = called_enrolments(event, enrolments, DeviceProtocol.MQTT)
        self.enrol(called)
        with self._lock:
            sent = self._sent.setdefault(event.event_id, {})
            sent.update({e.device_id: e.participant_index for e in called})
        expires_in_s = event.end_s - int(self.now_s())
        if expires_in_s <= 0:
            raise CommandError(
                f"event {event.event_id!r} ended at {_iso(event.end_s)}; there is nothing to send"
            )
        self._publish(
            [
                (
                    e.device_id,
                    encode_dr_command(event, event.requested_kw_of(e.participant_index)),
                )
                for e in called
            ],
            expires_in_s,
        )

    def send_setpoint(self, device_id: str, command: SetpointCommand) -> None:
        """Send a setpoint (battery or load) to an enrolled device."""
        with self._lock:
            if device_id not in self._devices:
                raise CommandError(
                    f"device {device_id!r} is not enrolled for MQTT commands in community "
                    f"{self.community_id!r}; enrol it first"
                )
        expires_in_s = command.end_s - int(self.now_s())
        if expires_in_s <= 0:
            raise CommandError(
                f"setpoint {command.command_id!r} ended at {_iso(command.end_s)}; not sent"
            )
        self._publish([(device_id, encode_setpoint(command))], expires_in_s)

    def _publish(self, items: Sequence[tuple[str, bytes]], expires_in_s: int) -> None:
        infos = []
        for device_id, payload in items:
            topic = commands_topic(self.community_id, device_id)
            info = self.client.publish(topic, payload, qos=1, properties=_properties(expires_in_s))
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise CommandError(
                    f"publishing to {topic} failed: {mqtt.error_string(info.rc)} (is the "
                    "publisher started and the broker reachable?)"
                )
            infos.append((topic, info))
        deadline = time.monotonic() + self.publish_timeout_s
        for topic, info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise CommandError(
                    f"the broker did not acknowledge the command on {topic} within "
                    f"{self.publish_timeout_s} s"
                )

    # replies

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        topic, payload = message.topic, bytes(message.payload)
        device_id = topic[len(self._prefix) :] if topic.startswith(self._prefix) else topic
        with self._changed:
            self._take_reply(device_id, payload)
            self._changed.notify_all()

    def _take_reply(self, device_id: str, payload: bytes) -> None:
        if device_id not in self._devices:
            self._problem(self.rejected, device_id, "unknown device", "not enrolled", payload)
            return
        try:
            reply = parse_reply(device_id, payload)
        except MalformedMessage as exc:
            self._problem(self.malformed, device_id, exc.reason, str(exc), payload)
            return
        if device_id not in self._sent.get(reply.event_id, {}):
            self._problem(
                self.rejected,
                device_id,
                "event not sent to device",
                f"event {reply.event_id!r} was not sent to this device",
                payload,
            )
            return
        self._replies.setdefault(reply.event_id, {})[device_id] = reply  # the latest counts

    def _problem(
        self, counter: Counter[str], device_id: str, reason: str, detail: str, payload: bytes
    ) -> None:
        counter[reason] += 1
        self.problems.append(ReplyProblem(device_id, reason, detail, payload[:500]))
        log.warning("reply from device %r not used: %s (%s)", device_id, reason, detail)

    def responses(self, event_id: str) -> dict[int, bool]:
        """Participant index -> opted in, for the devices that answered ``event_id``."""
        with self._lock:
            sent = self._sent.get(event_id, {})
            return {
                sent[device]: reply.is_opted_in
                for device, reply in self._replies.get(event_id, {}).items()
            }

    def replies(self, event_id: str) -> dict[str, DeviceReply]:
        """Device id -> its latest reply to ``event_id`` (with the reason it gave)."""
        with self._lock:
            return dict(self._replies.get(event_id, {}))

    def wait_for_replies(self, event_id: str, timeout_s: float) -> bool:
        """Wait until every device the event was sent to has answered; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self._replies.get(event_id, {})) >= len(self._sent.get(event_id, {})),
                timeout_s,
            )

    def wait_for_problems(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` replies were counted as malformed or rejected in all."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.malformed.total() + self.rejected.total() >= count, timeout_s
            )


# -- the device's side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    is_opted_in: bool
    reason: str = ""


def always_opt_in(_command: DrCommand) -> Decision:
    return Decision(True)


class MqttDeviceAgent:
    """What a device (simulated or real) runs: takes commands from its topic and answers
    demand-response events with ``decide``'s opt-in / opt-out."""

    def __init__(
        self,
        broker: MqttBroker,
        community_id: str,
        device_id: str,
        decide: Callable[[DrCommand], Decision] = always_opt_in,
        *,
        on_setpoint: Callable[[SetpointCommand], None] | None = None,
        client_id: str | None = None,
    ) -> None:
        check_device_id(device_id)
        self.broker = broker
        self.community_id = community_id
        self.device_id = device_id
        self.decide = decide
        self.on_setpoint = on_setpoint
        self.client = broker.client(
            client_id or f"gridshare-device-{community_id}-{uuid.uuid4().hex[:8]}"
        )
        self._lock = threading.Lock()
        self.commands: list[DrCommand | SetpointCommand] = []
        self.malformed: Counter[str] = Counter()

    def start(self, timeout_s: float = 10.0) -> None:
        topic = commands_topic(self.community_id, self.device_id)
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.broker.connect(self.client, timeout_s)
        self.client.subscribe(topic, qos=1)
        if not subscribed.wait(timeout_s):
            self.stop()
            raise CommandError(f"the MQTT broker did not confirm the subscription {topic}")

        def resubscribe(*_args: object) -> None:
            self.client.subscribe(topic, qos=1)

        self.client.on_connect = resubscribe

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttDeviceAgent:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            command = parse_command(bytes(message.payload))
        except MalformedMessage as exc:
            with self._lock:
                self.malformed[exc.reason] += 1
            log.warning("device %r: command not used: %s", self.device_id, exc)
            return
        with self._lock:
            self.commands.append(command)
        if isinstance(command, SetpointCommand):
            if self.on_setpoint is not None:
                self.on_setpoint(command)
            return
        decision = self.decide(command)
        # never wait for the acknowledgement here: this runs on paho's network thread
        self.client.publish(
            responses_topic(self.community_id, self.device_id),
            encode_reply(command.event_id, decision.is_opted_in, decision.reason),
            qos=1,
        )


# -- the pipeline's device control and grid status over MQTT -------------------------------------


class DispatchedSetpoints(Protocol):
    """What the balancing step dispatches for an interval (``pipeline.ports.Setpoints``)."""

    @property
    def interval_start_s(self) -> int: ...

    @property
    def battery_ids(self) -> tuple[str, ...]: ...

    @property
    def battery_net_wh(self) -> Any: ...

    @property
    def plant_ids(self) -> tuple[str, ...]: ...

    @property
    def plant_net_wh(self) -> Any: ...


class MqttDeviceControl:
    """The balancing step's ``DeviceControl`` over MQTT: every planned battery and
    load-following plant receives its interval's setpoint as a ``setpoint`` command on its
    own command topic (its device id is its asset id), as net import in kW over the
    interval (a battery charging imports; a plant's output is a negative import)."""

    def __init__(
        self,
        publisher: MqttCommandPublisher,
        interval_s: int,
        owners: dict[str, int],
    ) -> None:
        """``owners``: each controlled asset id with its owner's participant position."""
        self.publisher = publisher
        self.interval_s = interval_s
        for asset_id, participant in owners.items():
            publisher.enrol_device(asset_id, participant)
        self.sent = 0
        self.expired = 0

    def apply(self, setpoints: DispatchedSetpoints) -> None:
        start = setpoints.interval_start_s
        hours = self.interval_s / 3600
        for ids, values in (
            (setpoints.battery_ids, setpoints.battery_net_wh),
            (setpoints.plant_ids, setpoints.plant_net_wh),
        ):
            if values is None:
                continue
            for asset_id, value_wh in zip(ids, [int(v) for v in values], strict=True):
                command = SetpointCommand(
                    f"{start}/{asset_id}",
                    value_wh / 1000 / hours,
                    start,
                    start + self.interval_s,
                )
                if command.end_s <= int(self.publisher.now_s()):
                    self.expired += 1  # planned too late to matter: counted, not sent
                    log.warning("setpoint %s for a window that has passed", command.command_id)
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
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.broker.connect(self.client, timeout_s)
        self.client.subscribe(self.topic, qos=1)
        if not subscribed.wait(timeout_s):
            self.close()
            raise CommandError(f"the MQTT broker did not confirm the subscription {self.topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

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
