"""MQTT commands for devices that do not speak OpenADR, their opt-in / opt-out replies, and
the balancing step's device control and grid status over MQTT.

The package's modules, along its seams:

* :mod:`~gridshare.control.mqtt.messages`: topics and the JSON payloads (commands, replies),
  their encoding and parsing;
* :mod:`~gridshare.control.mqtt.connection`: the broker, confirmed subscriptions, expiry;
* :mod:`~gridshare.control.mqtt.commands`: :class:`MqttCommandPublisher` (gridshare's side)
  and :class:`MqttDeviceAgent` (the device's side);
* :mod:`~gridshare.control.mqtt.grid`: :class:`MqttDeviceControl` and
  :class:`MqttGridStatus`, the pipeline's ports over MQTT.

The package exports the publisher and the pipeline's two ports, which the live node
builds; everything else is imported from its module.
"""

from gridshare.control.mqtt.commands import MqttCommandPublisher
from gridshare.control.mqtt.grid import MqttDeviceControl, MqttGridStatus

__all__ = ["MqttCommandPublisher", "MqttDeviceControl", "MqttGridStatus"]
