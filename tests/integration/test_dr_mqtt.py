"""Demand-response commands over MQTT against the real broker (``broker`` in conftest).

Two simulated devices (``MqttDeviceAgent``) receive an event: one opts in, the other opts out
with a reason; replies that cannot be used are counted under their reason. The test fails,
not skips, when mosquitto is down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import orjson
import pytest

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
)
from gridshare.control.mqtt.commands import Decision, MqttCommandPublisher, MqttDeviceAgent
from gridshare.control.mqtt.messages import (
    CommandError,
    DrCommand,
    MalformedMessage,
    SetpointCommand,
    commands_topic,
    encode_dr_command,
    encode_reply,
    parse_command,
    parse_reply,
    responses_topic,
)
from gridshare.ingest.mqtt import BrokerConfig
from tests.integration.conftest import unique_id, wait_until

INTERVAL = 900


@pytest.fixture
def community_id() -> str:
    return unique_id("dr")


ENROLMENTS = [
    Enrolment(0, 2.0, DeviceProtocol.MQTT, "heat-pump/0"),
    Enrolment(1, 1.5, DeviceProtocol.MQTT, "boiler-1"),
    Enrolment(2, 3.0, DeviceProtocol.OPENADR, "ven-2"),  # not the MQTT channel's business
]


def next_event(event_id: str, kind: EventKind = EventKind.CURTAIL) -> DemandResponseEvent:
    """An event that starts at the interval after next (so its commands have not expired)."""
    start = (int(time.time()) // INTERVAL + 2) * INTERVAL
    return DemandResponseEvent(
        event_id,
        kind,
        start,
        start + 2 * INTERVAL,
        INTERVAL,
        target_kw=4.0,
        rate_micros_per_kwh=400_000,
        participants=(0, 1, 2),
        requested_kw=(2.0, 1.5, 0.5),
        rebound_end_s=start + 4 * INTERVAL if kind is EventKind.SHIFT else None,
    )


class Raw:
    """A bare MQTT client for publishing what a broken or foreign device would."""

    def __init__(self, broker: BrokerConfig) -> None:
        self.client = broker.client(unique_id("gridshare-test-raw-", 8))
        broker.connect(self.client)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices(
    broker: BrokerConfig, community_id: str
) -> Iterator[tuple[MqttCommandPublisher, MqttDeviceAgent, MqttDeviceAgent, list[SetpointCommand]]]:
    setpoints: list[SetpointCommand] = []
    heat_pump = MqttDeviceAgent(broker, community_id, "heat-pump/0", on_setpoint=setpoints.append)

    def comfort_first(command: DrCommand) -> Decision:
        return Decision(False, f"comfort override ({command.requested_kw} kW too much)")

    boiler = MqttDeviceAgent(broker, community_id, "boiler-1", comfort_first)
    publisher = MqttCommandPublisher(broker, community_id, ENROLMENTS)
    with heat_pump, boiler, publisher:
        yield publisher, heat_pump, boiler, setpoints


def test_devices_opt_in_and_out_of_an_event(
    devices: tuple[MqttCommandPublisher, MqttDeviceAgent, MqttDeviceAgent, list[SetpointCommand]],
) -> None:
    publisher, heat_pump, boiler, _ = devices
    event = next_event("ev-mqtt-1", EventKind.SHIFT)
    publisher.issue(event, ENROLMENTS)
    assert publisher.wait_for_replies(event.event_id, 10), publisher.replies(event.event_id)

    assert publisher.responses(event.event_id) == {0: True, 1: False}  # ven-2 is OpenADR's
    replies = publisher.replies(event.event_id)
    assert replies["boiler-1"].reason == "comfort override (1.5 kW too much)"
    assert replies["heat-pump/0"].is_opted_in
    assert heat_pump.commands == [
        DrCommand(
            event.event_id, EventKind.SHIFT, event.start_s, event.end_s, 2.0, event.rebound_end_s
        )  # fmt: skip
    ]
    assert [c.event_id for c in boiler.commands if isinstance(c, DrCommand)] == ["ev-mqtt-1"]
    assert publisher.responses("never-issued") == {}
    assert (publisher.malformed.total(), publisher.rejected.total()) == (0, 0)


def test_unusable_replies_are_counted_with_their_reason(
    broker: BrokerConfig,
    community_id: str,
    devices: tuple[MqttCommandPublisher, MqttDeviceAgent, MqttDeviceAgent, list[SetpointCommand]],
) -> None:
    publisher, _, boiler, _ = devices
    event = next_event("ev-mqtt-2")
    publisher.issue(event, ENROLMENTS)
    assert publisher.wait_for_replies(event.event_id, 10)
    raw = Raw(broker)
    try:
        own = responses_topic(community_id, "heat-pump/0")
        raw.publish(own, b"{not json")
        raw.publish(own, b'{"v": 1, "event_id": "ev-mqtt-2", "opt": "maybe"}')
        raw.publish(own, b'{"v": 2, "event_id": "ev-mqtt-2", "opt": "optIn"}')
        raw.publish(own, encode_reply("ev-other", True))
        raw.publish(responses_topic(community_id, "intruder"), encode_reply("ev-mqtt-2", True))
        raw.publish(commands_topic(community_id, "boiler-1"), b'{"v": 1, "type": "reboot"}')
    finally:
        raw.close()
    assert publisher.wait_for_problems(5, 10), publisher.problems
    assert publisher.malformed == {"not JSON": 1, "bad opt": 1, "unsupported version": 1}
    assert publisher.rejected == {"unknown device": 1, "event not sent to device": 1}
    assert [p.device_id for p in publisher.problems][-1] == "intruder"
    # the unusable replies changed nothing
    assert publisher.responses(event.event_id) == {0: True, 1: False}
    wait_until(lambda: bool(boiler.malformed), "the boiler to count the bad command")
    assert boiler.malformed == {"bad type": 1}  # a command the device cannot use is counted


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"event_id": "e", "opt": "optIn"}', "unsupported version"),
        (b'{"v": 1, "event_id": "", "opt": "optIn"}', "bad event_id"),
        (b'{"v": 1, "event_id": "e", "opt": "optOut", "reason": 7}', "bad reason"),
    ],
)
def test_reply_format_errors_have_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse_reply("d", payload)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"start": "2025-06-18T17:00:00"}, "bad start"),  # no offset: refused, not guessed
        ({"end": "2025-06-18T16:00:00Z"}, "bad window"),
        ({"requested_kw": -1}, "bad requested_kw"),
        ({"requested_kw": True}, "bad requested_kw"),
        ({"kind": "boost"}, "bad kind"),
        ({"type": "reboot"}, "bad type"),
    ],
)
def test_command_format_errors_have_a_reason(change: dict[str, object], reason: str) -> None:
    body = orjson.loads(encode_dr_command(next_event("e"), 1.0))
    body.update({"start": "2025-06-18T17:00:00Z", "end": "2025-06-18T17:30:00Z", **change})
    with pytest.raises(MalformedMessage) as caught:
        parse_command(orjson.dumps(body))
    assert caught.value.reason == reason


def test_setpoints_reach_enrolled_devices_only(
    devices: tuple[MqttCommandPublisher, MqttDeviceAgent, MqttDeviceAgent, list[SetpointCommand]],
) -> None:
    publisher, _, _, setpoints = devices
    start = (int(time.time()) // INTERVAL + 1) * INTERVAL
    command = SetpointCommand("c-1", -2.5, start, start + INTERVAL)  # discharge 2.5 kW
    publisher.send_setpoint("heat-pump/0", command)
    wait_until(lambda: bool(setpoints), "the setpoint")
    assert setpoints == [command]
    with pytest.raises(CommandError, match="'ven-2' is not enrolled for MQTT commands"):
        publisher.send_setpoint("ven-2", command)
    with pytest.raises(CommandError, match="ended at .*; not sent"):
        publisher.send_setpoint("heat-pump/0", replace(command, end_s=start - 2 * INTERVAL))
    over = next_event("ev-over")
    over = replace(over, start_s=over.start_s - 8 * INTERVAL, end_s=over.end_s - 8 * INTERVAL)
    with pytest.raises(CommandError, match="'ev-over' ended at .*; there is nothing to send"):
        publisher.issue(over, ENROLMENTS)
