"""The balancing step's device control and the grid's live status over MQTT, against the
real broker (``broker`` in conftest: fails, not skips, when mosquitto is down)."""

from __future__ import annotations

import threading
import time

import numpy as np
import orjson
import pytest

from gridshare.control.mqtt.commands import MqttCommandPublisher, MqttDeviceAgent
from gridshare.control.mqtt.grid import MqttDeviceControl, MqttGridStatus, grid_status_topic
from gridshare.control.mqtt.messages import RelayCommand, SetpointCommand, relay_device_id
from gridshare.ingest.mqtt import BrokerConfig
from gridshare.pipeline.ports import Setpoints
from tests.integration.conftest import unique_id, wait_until

INTERVAL = 900


def test_setpoints_reach_each_device_as_net_import_kw(broker: BrokerConfig) -> None:
    community = unique_id("bal", 8)
    start = (int(time.time()) // INTERVAL + 1) * INTERVAL
    received: dict[str, SetpointCommand] = {}
    lock = threading.Lock()

    def keep(device: str) -> object:
        def on_setpoint(command: SetpointCommand) -> None:
            with lock:
                received[device] = command

        return on_setpoint

    agents = [
        MqttDeviceAgent(broker, community, d, on_setpoint=keep(d))  # type: ignore[arg-type]
        for d in ("home-1/battery", "farm/biomass")
    ]
    for agent in agents:
        agent.start()
    publisher = MqttCommandPublisher(broker, community)
    publisher.start()
    try:
        control = MqttDeviceControl(publisher, INTERVAL, {"home-1/battery": 1, "farm/biomass": 2})
        control.apply(
            Setpoints(
                start,
                battery_ids=("home-1/battery",),
                battery_net_wh=np.array([1_250]),
                plant_ids=("farm/biomass",),
                plant_net_wh=np.array([-3_000]),
            )
        )
        wait_until(lambda: len(received) == 2, "both setpoints")
    finally:
        publisher.close()
        for agent in agents:
            agent.stop()
    battery, plant = received["home-1/battery"], received["farm/biomass"]
    assert battery.net_import_kw == pytest.approx(5.0)  # 1,250 Wh in 15 min: charging
    assert plant.net_import_kw == pytest.approx(-12.0)  # 3,000 Wh out: a negative import
    assert (battery.start_s, battery.end_s) == (start, start + INTERVAL)
    assert control.sent == 2


def test_shed_members_relays_open_while_islanded_and_close_when_served(
    broker: BrokerConfig,
) -> None:
    """Live shedding reaches the relays: the shed member's relay opens (and is told again
    every islanded interval), the served member's relay is never touched, and the shed
    member's relay closes once the grid is back."""
    community = unique_id("relay", 8)
    start = (int(time.time()) // INTERVAL + 1) * INTERVAL
    relays = {1: relay_device_id("m-1"), 2: relay_device_id("m-2")}
    agents = {i: MqttDeviceAgent(broker, community, d) for i, d in relays.items()}
    for agent in agents.values():
        agent.start()
    publisher = MqttCommandPublisher(broker, community)
    publisher.start()
    shed = np.array([False, True, False])  # the operator, m-1 shed, m-2 served
    try:
        control = MqttDeviceControl(publisher, INTERVAL, {}, relays)
        control.apply(Setpoints(start, shed=shed))
        wait_until(lambda: not agents[1].connected, "m-1's relay to open")
        control.apply(Setpoints(start + INTERVAL, shed=shed))
        wait_until(lambda: len(agents[1].commands) == 2, "the repeated open")
        assert agents[2].connected
        assert agents[2].commands == []
        control.apply(Setpoints(start + 2 * INTERVAL))  # the grid is back: nobody shed
        wait_until(lambda: agents[1].connected, "m-1's relay to close")
        control.apply(Setpoints(start + 3 * INTERVAL))  # connected and closed: no command
    finally:
        publisher.close()
        for agent in agents.values():
            agent.stop()
    opened, again, closed = agents[1].commands
    assert isinstance(opened, RelayCommand)
    assert isinstance(closed, RelayCommand)
    assert (opened.connected, opened.start_s, opened.end_s) == (False, start, start + INTERVAL)
    assert again == RelayCommand(opened.command_id.replace(str(start), str(start + INTERVAL)),
                                 False, start + INTERVAL, start + 2 * INTERVAL)  # fmt: skip
    assert (closed.connected, closed.start_s) == (True, start + 2 * INTERVAL)
    assert agents[2].commands == []
    assert control.relay_commands == 3


def test_a_setpoint_for_a_past_window_is_counted_not_sent(broker: BrokerConfig) -> None:
    publisher = MqttCommandPublisher(broker, unique_id("bal", 8))
    publisher.start()
    try:
        control = MqttDeviceControl(publisher, INTERVAL, {"b": 0})
        past = (int(time.time()) // INTERVAL - 4) * INTERVAL
        control.apply(Setpoints(past, battery_ids=("b",), battery_net_wh=np.array([100])))
    finally:
        publisher.close()
    assert (control.sent, control.expired) == (0, 1)


def test_grid_status_follows_the_published_state(broker: BrokerConfig) -> None:
    community = unique_id("bal", 8)
    status = MqttGridStatus(broker, community)
    status.start()
    sender = broker.client(unique_id("bal-sender-", 6))
    broker.connect(sender)
    try:
        topic = grid_status_topic(community)
        lost, back = 1_749_160_800, 1_749_175_200
        for body in (
            {"v": 1, "connected": False, "at": "2025-06-05T22:00:00Z"},
            {"v": 1, "connected": True, "at": "2025-06-06T02:00:00Z"},
            {"v": 1, "connected": "no", "at": "2025-06-06T03:00:00Z"},
            {"v": 2, "connected": False, "at": "2025-06-06T03:00:00Z"},
        ):
            sender.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)
        sender.publish(topic, b"not json", qos=1).wait_for_publish(5)
        wait_until(
            lambda: sum(status.malformed.values()) == 3 and status.is_connected(back),
            "the last status and three malformed messages",
        )
    finally:
        sender.disconnect()
        sender.loop_stop()
        status.close()
    assert status.is_connected(lost - INTERVAL)
    assert not status.is_connected(lost)
    assert not status.is_connected(back - INTERVAL)
    assert status.is_connected(back)
    assert status.malformed == {"bad connected": 1, "bad version": 1, "unparsable": 1}
