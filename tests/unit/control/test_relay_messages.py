"""Relay commands: a member's connection opened while shed, closed when served again."""

from __future__ import annotations

import orjson
import pytest

from gridshare.control.mqtt.messages import (
    MalformedMessage,
    RelayCommand,
    encode_relay,
    parse_command,
    relay_device_id,
)

START = 1_749_160_800  # 2025-06-05T22:00:00Z


def test_a_relay_command_reads_back_as_sent() -> None:
    sent = RelayCommand("c-1", connected=False, start_s=START, end_s=START + 900)
    body = orjson.loads(encode_relay(sent))
    assert body == {
        "v": 1,
        "type": "relay",
        "command_id": "c-1",
        "connected": False,
        "start": "2025-06-05T22:00:00Z",
        "end": "2025-06-05T22:15:00Z",
    }
    assert parse_command(encode_relay(sent)) == sent


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"connected": "no"}, "bad connected"),
        ({"connected": None}, "bad connected"),
        ({"connected": 0}, "bad connected"),
        ({"end": "2025-06-05T22:00:00Z"}, "bad window"),
        ({"type": "relays"}, "bad type"),
        ({"command_id": ""}, "bad command_id"),
    ],
)
def test_a_malformed_relay_command_names_its_fault(change: dict[str, object], reason: str) -> None:
    body = orjson.loads(encode_relay(RelayCommand("c-1", True, START, START + 900)))
    body.update(change)
    with pytest.raises(MalformedMessage) as caught:
        parse_command(orjson.dumps(body))
    assert caught.value.reason == reason


def test_a_relay_has_its_own_device_topic_under_the_member() -> None:
    assert relay_device_id("demo:solar-homes-001") == "demo:solar-homes-001/relay"
