"""Members' own answers to demand-response events: an opt-out sent through the API
(``POST /v1/members/{id}/demand-response/{event_id}/opt-out``) before the event starts
counts as the member's answer, whatever their device replied: they are not asked to
curtail, not measured against a baseline, not paid.

The node wraps its event channel in :class:`MemberOptOuts`; an opt-out recorded after the
start, or from a member the event did not call, changes nothing. The member's device is
not told (the control channel has no cancel message yet): a device that curtails anyway
is not paid for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gridshare.balancing.demand_response import DemandResponseEvent, Enrolment, EventChannel

__all__ = ["MemberOptOuts"]


class MemberOptOuts:
    """An event channel whose responses also carry the members' own opt-outs (implements
    :class:`EventChannel`)."""

    def __init__(
        self,
        channel: EventChannel,
        participant_ids: Sequence[str],
        opted_out: Callable[[str], dict[str, int]],
    ) -> None:
        """``opted_out(event_id)``: participant id -> when (unix s) they opted out."""
        self.channel = channel
        self.participant_ids = list(participant_ids)
        self.opted_out = opted_out
        self._events: dict[str, DemandResponseEvent] = {}

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        self._events[event.event_id] = event
        self.channel.issue(event, enrolments)

    def responses(self, event_id: str) -> dict[int, bool]:
        answered = dict(self.channel.responses(event_id))
        event = self._events.get(event_id)
        if event is None:
            return answered
        choices = self.opted_out(event_id)
        for index in event.participants:
            at_s = choices.get(self.participant_ids[index])
            if at_s is not None and at_s < event.start_s:
                answered[index] = False
        return answered
