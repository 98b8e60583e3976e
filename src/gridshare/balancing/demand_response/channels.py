"""Channels: how demand-response events reach enrolled devices and how their answers come
back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gridshare.balancing.demand_response.events import (
    DemandResponseError,
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
)


class EventChannel(Protocol):
    """Delivers events to enrolled devices and collects their opt-in / opt-out.

    Implementations: ``gridshare.control.openadr.OpenAdrVtn`` (OpenADR 2.0b VENs),
    ``gridshare.control.mqtt.MqttCommandPublisher`` (MQTT devices), :class:`ScriptedChannel`
    (simulation, tests) and :class:`ChannelGroup` (several at once). Each sends only to the
    enrolments of its own protocol among the event's participants.
    """

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None: ...

    def responses(self, event_id: str) -> dict[int, bool]:
        """Participant index -> True (opted in) / False (opted out), for those that answered."""
        ...


def called_enrolments(
    event: DemandResponseEvent, enrolments: Sequence[Enrolment], protocol: DeviceProtocol | None
) -> list[Enrolment]:
    """The enrolments (of ``protocol``, or all) of the event's participants, in event order;
    an event participant without an enrolment is an error."""
    by_participant = {e.participant_index: e for e in enrolments}
    unknown = [p for p in event.participants if p not in by_participant]
    if unknown:
        raise DemandResponseError(
            f"event {event.event_id!r} calls participants {unknown} that are not enrolled; "
            "enrol them first or plan the event from the enrolments"
        )
    chosen = [by_participant[p] for p in event.participants]
    return [e for e in chosen if protocol is None or e.protocol is protocol]


@dataclass
class ScriptedChannel:
    """An in-memory channel: every device answers at once, opting out if its participant is
    in ``opting_out`` and not answering at all if in ``silent``."""

    opting_out: frozenset[int] = frozenset()
    silent: frozenset[int] = frozenset()
    issued: dict[str, DemandResponseEvent] = field(default_factory=dict)
    _answers: dict[str, dict[int, bool]] = field(default_factory=dict)

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        called = called_enrolments(event, enrolments, None)
        self.issued[event.event_id] = event
        self._answers[event.event_id] = {
            e.participant_index: e.participant_index not in self.opting_out
            for e in called
            if e.participant_index not in self.silent
        }

    def responses(self, event_id: str) -> dict[int, bool]:
        return dict(self._answers.get(event_id, {}))


@dataclass
class ChannelGroup:
    """Several channels as one (e.g. OpenADR and MQTT): each gets every event and sends it to
    its own protocol's devices; the responses are merged."""

    channels: Sequence[EventChannel]

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        called_enrolments(event, enrolments, None)  # every participant is enrolled
        for channel in self.channels:
            channel.issue(event, enrolments)

    def responses(self, event_id: str) -> dict[int, bool]:
        merged: dict[int, bool] = {}
        for channel in self.channels:
            merged.update(channel.responses(event_id))
        return merged
