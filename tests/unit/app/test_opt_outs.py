"""Members' own opt-outs of demand-response events (gridshare.app.opt_outs): counted as
their answer when sent before the event starts, whatever their device replied."""

from __future__ import annotations

from gridshare.app.opt_outs import MemberOptOuts
from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
    ScriptedChannel,
)

START = 1_750_000_000 // 3600 * 3600
EVENT = DemandResponseEvent(
    "ev-1", EventKind.CURTAIL, START, START + 7200, 3600, target_kw=1.0,
    rate_micros_per_kwh=300_000, participants=(1, 2, 3), requested_kw=(0.5, 0.5, 0.5),
)  # fmt: skip
ENROLMENTS = [Enrolment(i, 1.0, DeviceProtocol.MQTT, f"dev-{i}") for i in (1, 2, 3)]
IDS = ["c:operator", "c:a", "c:b", "c:c", "c:d"]


def test_an_opt_out_before_the_start_overrides_the_devices_answer() -> None:
    devices = ScriptedChannel(silent=frozenset({3}))  # 1 and 2 opt in, 3 does not answer
    choices = {"c:a": START - 60, "c:b": START, "c:c": START - 1, "c:d": START - 999}
    asked: list[str] = []

    def opted_out(event_id: str) -> dict[str, int]:
        asked.append(event_id)
        return choices

    channel = MemberOptOuts(devices, IDS, opted_out)
    channel.issue(EVENT, ENROLMENTS)
    assert devices.issued == {"ev-1": EVENT}  # the devices still get the event
    # a: out before the start; b: at the start, too late; c: out, though its device was
    # silent; d: not called by the event, so nothing changes
    assert channel.responses("ev-1") == {1: False, 2: True, 3: False}
    assert asked == ["ev-1"]
    assert devices.responses("ev-1") == {1: True, 2: True}  # the device's own answers kept


def test_without_opt_outs_the_devices_answers_stand() -> None:
    devices = ScriptedChannel(opting_out=frozenset({2}))
    channel = MemberOptOuts(devices, IDS, lambda _event_id: {})
    channel.issue(EVENT, ENROLMENTS)
    assert channel.responses("ev-1") == devices.responses("ev-1") == {1: True, 2: False, 3: True}
    assert channel.responses("unknown") == {}
