"""The MQTT plumbing the command publisher, the device agent and the grid status share:
the broker they connect through, a subscription the broker confirms, message expiry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridshare.control.mqtt.messages import CommandError


class MqttBroker(Protocol):
    """Where the broker is and how to connect: ``gridshare.ingest.mqtt.BrokerConfig``."""

    def client(self, client_id: str, *, persistent: bool = False) -> mqtt.Client: ...

    def connect(self, client: mqtt.Client, timeout_s: float = 10.0) -> None: ...


def expiry_properties(expires_in_s: int) -> Properties:
    """MQTT 5 publish properties that expire the message after ``expires_in_s``."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.MessageExpiryInterval = expires_in_s
    return properties


def subscribe_confirmed(
    broker: MqttBroker,
    client: mqtt.Client,
    topic: str,
    on_message: Callable[[mqtt.Client, object, mqtt.MQTTMessage], None],
    timeout_s: float,
    *,
    close: Callable[[], None],
    resubscribe: bool = True,
) -> None:
    """Connect ``client`` and subscribe it to ``topic`` (QoS 1), waiting up to ``timeout_s``
    for the broker's confirmation; on a timeout ``close`` is called and
    :class:`CommandError` raised. With ``resubscribe`` the client subscribes again after
    every reconnect."""
    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    broker.connect(client, timeout_s)
    client.subscribe(topic, qos=1)
    if not subscribed.wait(timeout_s):
        close()
        raise CommandError(f"the MQTT broker did not confirm the subscription {topic}")
    if not resubscribe:
        return

    def again(*_args: object) -> None:
        client.subscribe(topic, qos=1)

    client.on_connect = again


def disconnect(client: mqtt.Client) -> None:
    """Disconnect ``client`` and stop its network loop."""
    client.disconnect()
    client.loop_stop()
