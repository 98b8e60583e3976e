"""gridshare's side and the device's side of the MQTT commands: the publisher that sends
demand-response events and setpoints and collects replies, and the device agent that takes
commands and answers them (the message format: :mod:`gridshare.control.mqtt.messages`).

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
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    called_enrolments,
)
from gridshare.control.mqtt.connection import (
    MqttBroker,
    disconnect,
    expiry_properties,
    subscribe_confirmed,
)
from gridshare.control.mqtt.messages import (
    Command,
    CommandError,
    DeviceReply,
    DrCommand,
    MalformedMessage,
    RelayCommand,
    SetpointCommand,
    check_device_id,
    commands_topic,
    encode_dr_command,
    encode_relay,
    encode_reply,
    encode_setpoint,
    iso_utc,
    parse_command,
    parse_reply,
    responses_topic,
)

log = logging.getLogger("gridshare.control.mqtt")
PROBLEMS_KEPT = 1_000


@dataclass(frozen=True, slots=True)
class ReplyProblem:
    """A reply that was not used, why, and (the start of) what it said."""

    device_id: str
    reason: str
    detail: str
    payload: bytes


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
        subscribe_confirmed(
            self.broker,
            self.client,
            self._prefix + "#",
            self._on_message,
            timeout_s,
            close=self.close,
        )

    def close(self) -> None:
        disconnect(self.client)

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
                f"event {event.event_id!r} ended at {iso_utc(event.end_s)}; "
                "there is nothing to send"
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
        self._send_windowed(device_id, command.command_id, command.end_s, encode_setpoint(command))

    def send_relay(self, device_id: str, command: RelayCommand) -> None:
        """Open or close an enrolled member's connection relay."""
        self._send_windowed(device_id, command.command_id, command.end_s, encode_relay(command))

    def _send_windowed(self, device_id: str, command_id: str, end_s: int, payload: bytes) -> None:
        """Publish a command that expires (MQTT 5 message expiry) at the end of its window."""
        with self._lock:
            if device_id not in self._devices:
                raise CommandError(
                    f"device {device_id!r} is not enrolled for MQTT commands in community "
                    f"{self.community_id!r}; enrol it first"
                )
        expires_in_s = end_s - int(self.now_s())
        if expires_in_s <= 0:
            raise CommandError(f"command {command_id!r} ended at {iso_utc(end_s)}; not sent")
        self._publish([(device_id, payload)], expires_in_s)

    def _publish(self, items: Sequence[tuple[str, bytes]], expires_in_s: int) -> None:
        infos = []
        for device_id, payload in items:
            topic = commands_topic(self.community_id, device_id)
            info = self.client.publish(
                topic, payload, qos=1, properties=expiry_properties(expires_in_s)
            )
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
        on_relay: Callable[[RelayCommand], None] | None = None,
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
        self.on_relay = on_relay
        self.commands: list[Command] = []
        self.connected = True
        """The member's connection relay: open (False) from a relay command until the next."""
        self.malformed: Counter[str] = Counter()

    def start(self, timeout_s: float = 10.0) -> None:
        subscribe_confirmed(
            self.broker,
            self.client,
            commands_topic(self.community_id, self.device_id),
            self._on_message,
            timeout_s,
            close=self.stop,
        )

    def stop(self) -> None:
        disconnect(self.client)

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
        if isinstance(command, RelayCommand):
            with self._lock:
                self.connected = command.connected
            if self.on_relay is not None:
                self.on_relay(command)
            return
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
