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

Callers import the public names from this package.
"""

from gridshare.control.mqtt.commands import (
    PROBLEMS_KEPT,
    Decision,
    MqttCommandPublisher,
    MqttDeviceAgent,
    ReplyProblem,
    always_opt_in,
)
from gridshare.control.mqtt.connection import MqttBroker
from gridshare.control.mqtt.grid import (
    DispatchedSetpoints,
    MqttDeviceControl,
    MqttGridStatus,
    grid_status_topic,
)
from gridshare.control.mqtt.messages import (
    FORMAT_VERSION,
    MAX_REASON_CHARS,
    OPT_IN,
    OPT_OUT,
    TOPIC_ROOT,
    CommandError,
    DeviceReply,
    DrCommand,
    MalformedMessage,
    SetpointCommand,
    check_device_id,
    commands_topic,
    encode_dr_command,
    encode_reply,
    encode_setpoint,
    parse_command,
    parse_reply,
    responses_topic,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_REASON_CHARS",
    "OPT_IN",
    "OPT_OUT",
    "PROBLEMS_KEPT",
    "TOPIC_ROOT",
    "CommandError",
    "Decision",
    "DeviceReply",
    "DispatchedSetpoints",
    "DrCommand",
    "MalformedMessage",
    "MqttBroker",
    "MqttCommandPublisher",
    "MqttDeviceAgent",
    "MqttDeviceControl",
    "MqttGridStatus",
    "ReplyProblem",
    "SetpointCommand",
    "always_opt_in",
    "check_device_id",
    "commands_topic",
    "encode_dr_command",
    "encode_reply",
    "encode_setpoint",
    "grid_status_topic",
    "parse_command",
    "parse_reply",
    "responses_topic",
]
