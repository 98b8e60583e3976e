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
    {"v": 1, "type": "relay", "command_id": "c-2", "connected": false,
     "start": "...Z", "end": "...Z"}
    reply: {"v": 1, "event_id": "ev-7", "opt": "optIn" | "optOut", "reason": "comfort"}

``net_import_kw`` follows the meter sign convention: > 0 the device imports (a battery
charges), < 0 it exports (a battery discharges). A ``relay`` command opens (``connected``
false: the member is shed while the community is islanded) or closes a member's connection
relay from ``start`` on; the relay keeps that state until the next relay command, and
``end`` is the last moment the order may still be acted on. A command carries the MQTT 5 message
expiry of its window, so a device that reconnects after the window never receives it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    EventKind,
)
from gridshare.errors import GridshareError
from gridshare.units import UnitError, from_unix_seconds, parse_utc_seconds

TOPIC_ROOT = "gridshare"
FORMAT_VERSION = 1
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


def relay_device_id(participant_id: str) -> str:
    """The device id of a member's connection relay (its command topic's last part)."""
    return f"{participant_id}/relay"


def check_device_id(device_id: str) -> None:
    if not device_id or "+" in device_id or "#" in device_id or device_id.startswith("/"):
        raise CommandError(
            f"device id {device_id!r} cannot be part of an MQTT topic: use a non-empty id "
            "without '+', '#' or a leading '/'"
        )


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
class RelayCommand:
    """Open (``connected`` false) or close a member's connection relay from ``start_s``;
    a device that gets it at or after ``end_s`` ignores it (a newer order has followed)."""

    command_id: str
    connected: bool
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class DeviceReply:
    device_id: str
    event_id: str
    is_opted_in: bool
    reason: str = ""


def iso_utc(moment_s: int) -> str:
    """``moment_s`` as ISO 8601 UTC with a ``Z``, as the payloads write instants."""
    return from_unix_seconds(moment_s).isoformat().replace("+00:00", "Z")


def encode_dr_command(event: DemandResponseEvent, requested_kw: float) -> bytes:
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "type": "dr_event",
            "event_id": event.event_id,
            "kind": event.kind.value,
            "start": iso_utc(event.start_s),
            "end": iso_utc(event.end_s),
            "requested_kw": requested_kw,
            "rebound_end": None if event.rebound_end_s is None else iso_utc(event.rebound_end_s),
        }
    )


def _windowed(kind: str, command: SetpointCommand | RelayCommand, key: str, value: object) -> bytes:
    """A command that holds over ``[start, end)``: its id, one value and the window."""
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "type": kind,
            "command_id": command.command_id,
            key: value,
            "start": iso_utc(command.start_s),
            "end": iso_utc(command.end_s),
        }
    )


def encode_setpoint(command: SetpointCommand) -> bytes:
    return _windowed("setpoint", command, "net_import_kw", command.net_import_kw)


def encode_relay(command: RelayCommand) -> bytes:
    return _windowed("relay", command, "connected", command.connected)


def encode_reply(event_id: str, is_opted_in: bool, reason: str = "") -> bytes:
    body: dict[str, object] = {
        "v": FORMAT_VERSION,
        "event_id": event_id,
        "opt": OPT_IN if is_opted_in else OPT_OUT,
    }
    if reason:
        body["reason"] = reason
    return orjson.dumps(body)


def _object(payload: bytes) -> Mapping[str, object]:
    """The payload's JSON object (any key, any value): the parsers check each field."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage("not JSON", str(exc)) from None
    if not isinstance(body, dict):
        raise MalformedMessage("not a JSON object", type(body).__name__)
    if body.get("v") != FORMAT_VERSION:
        raise MalformedMessage("unsupported version", f"v={body.get('v')!r}, expected 1")
    return body


def _text(body: Mapping[str, object], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"bad {key}", f"{key} must be a non-empty string, got {value!r}")
    return value


def _instant(body: Mapping[str, object], key: str) -> int:
    try:
        return parse_utc_seconds(_text(body, key))
    except UnitError as exc:
        raise MalformedMessage(f"bad {key}", str(exc)) from None


def _kw(body: Mapping[str, object], key: str, *, signed: bool) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"bad {key}", f"{key} must be a number of kW, got {value!r}")
    if not math.isfinite(value) or (not signed and value < 0):
        raise MalformedMessage(f"bad {key}", f"{key} {value} kW is out of range")
    return float(value)


Command = DrCommand | SetpointCommand | RelayCommand
"""Any command a device receives on its topic."""


def parse_command(payload: bytes) -> Command:
    """A command from its JSON; :class:`MalformedMessage` says what is wrong."""
    body = _object(payload)
    kind = body.get("type")
    if kind not in ("dr_event", "setpoint", "relay"):
        raise MalformedMessage(
            "bad type", f"type must be dr_event, setpoint or relay, got {kind!r}"
        )
    start_s, end_s = _instant(body, "start"), _instant(body, "end")
    if end_s <= start_s:
        raise MalformedMessage("bad window", f"end {body['end']} is not after start")
    if kind == "setpoint":
        return SetpointCommand(
            _text(body, "command_id"), _kw(body, "net_import_kw", signed=True), start_s, end_s
        )
    if kind == "relay":
        connected = body.get("connected")
        if not isinstance(connected, bool):
            raise MalformedMessage(
                "bad connected", f"connected must be true or false, got {connected!r}"
            )
        return RelayCommand(_text(body, "command_id"), connected, start_s, end_s)
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
