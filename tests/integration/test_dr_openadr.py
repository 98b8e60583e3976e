"""OpenADR 2.0b end to end: gridshare's VTN (``OpenAdrVtn``) and real openleadr VENs
(``OpenADRClient``) in one process on a free localhost port, plain HTTP.

Two enrolled VENs register, receive a demand-response event on their next poll, one opts in
and the other out; a VEN that is not enrolled is refused; one VEN sends metering reports; a
cancellation reaches the VENs.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from openleadr import OpenADRClient  # type: ignore[import-untyped]

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
)
from gridshare.control.openadr import OpenAdrVtn, VtnError
from tests.integration.conftest import free_port, wait_until_async

# openleadr 0.5.36 stores itself in its aiohttp app with a plain string key
# (``app['server'] = self``), which aiohttp >= 3.9 answers with NotAppKeyWarning.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

INTERVAL = 900
WAIT_S = 8.0  # for each answer: the VENs poll every second
ENROLMENTS = [
    Enrolment(0, 2.0, DeviceProtocol.OPENADR, "ven-heat-pump"),
    Enrolment(1, 1.0, DeviceProtocol.OPENADR, "ven-boiler"),
    Enrolment(2, 1.0, DeviceProtocol.MQTT, "mqtt-dev"),  # not the VTN's business
]


def next_event(event_id: str) -> DemandResponseEvent:
    start = (int(time.time()) // INTERVAL + 2) * INTERVAL
    return DemandResponseEvent(
        event_id,
        EventKind.SHIFT,
        start,
        start + 2 * INTERVAL,
        INTERVAL,
        target_kw=3.0,
        rate_micros_per_kwh=400_000,
        participants=(0, 1, 2),
        requested_kw=(2.0, 1.0, 0.5),
        rebound_end_s=start + 3 * INTERVAL,
    )


def ven(url: str, name: str, answer: str, seen: dict[str, list[dict[str, Any]]]) -> Any:
    client = OpenADRClient(ven_name=name, vtn_url=url, allow_jitter=False)
    seen[name] = []

    async def on_event(event: dict[str, Any]) -> str:
        seen[name].append(event)
        return answer

    client.add_handler("on_event", on_event)
    client.add_handler("on_update_event", on_event)
    return client


async def scenario(vtn: OpenAdrVtn, event: DemandResponseEvent) -> dict[str, list[dict[str, Any]]]:
    seen: dict[str, list[dict[str, Any]]] = {}
    heat_pump = ven(vtn.url, "ven-heat-pump", "optIn", seen)
    heat_pump.add_report(
        callback=lambda: 1.25,
        resource_id="heat-pump",
        measurement="power_real",
        unit="W",
        scale="k",
        sampling_rate=timedelta(seconds=1),
        report_duration=timedelta(seconds=1),
    )
    boiler = ven(vtn.url, "ven-boiler", "optOut", seen)
    intruder = ven(vtn.url, "ven-intruder", "optIn", seen)
    clients = [heat_pump, boiler, intruder]
    try:
        for client in clients:
            await client.run()
        assert set(vtn.registered_vens()) == {"ven-heat-pump", "ven-boiler"}

        vtn.issue(event, ENROLMENTS)
        await wait_until_async(
            lambda: len(vtn.ven_responses(event.event_id)) == 2, "both opt answers", WAIT_S
        )
        await wait_until_async(
            lambda: bool(vtn.reports("ven-heat-pump")), "a metering report", WAIT_S
        )

        vtn.cancel(event.event_id)
        await wait_until_async(
            lambda: all(
                e["event_descriptor"]["event_status"] == "cancelled"
                for e in seen["ven-boiler"][-1:]
            ),
            "the cancellation",
            WAIT_S,
        )
    finally:
        for client in clients:
            if client.client_session is not None and not client.client_session.closed:
                await client.stop()
    return seen


def test_vens_register_take_the_event_and_opt_in_or_out() -> None:
    started = time.monotonic()
    vtn = OpenAdrVtn(
        "127.0.0.1",
        free_port(),
        "GRIDSHARE-TEST-VTN",
        ENROLMENTS,
        poll_interval=timedelta(seconds=1),
        report_interval=timedelta(seconds=1),
    )
    event = next_event("ev-oadr-1")
    with vtn:
        seen = asyncio.run(scenario(vtn, event))
    assert not vtn.is_running

    assert vtn.ven_responses(event.event_id) == {"ven-heat-pump": "optIn", "ven-boiler": "optOut"}
    assert vtn.responses(event.event_id) == {0: True, 1: False}
    assert [r.ven for r in vtn.refused] == ["ven-intruder"]
    assert seen["ven-intruder"] == []

    received = seen["ven-heat-pump"][0]
    assert received["event_descriptor"]["event_id"] == "ev-oadr-1"
    assert received["active_period"]["dtstart"] == event.start
    assert received["active_period"]["duration"] == event.duration
    signals = {s["signal_name"]: s for s in received["event_signals"]}
    assert signals["SIMPLE"]["intervals"][0]["signal_payload"] == 1.0
    assert signals["LOAD_DISPATCH"]["signal_type"] == "delta"
    assert signals["LOAD_DISPATCH"]["intervals"][0]["signal_payload"] == -2.0  # curtail 2 kW
    assert signals["LOAD_DISPATCH"]["powerReal"]["si_scale_code"] == "k"  # kW
    boiler_signals = {s["signal_name"]: s for s in seen["ven-boiler"][0]["event_signals"]}
    assert boiler_signals["LOAD_DISPATCH"]["intervals"][0]["signal_payload"] == -1.0

    report = vtn.reports("ven-heat-pump")[0]
    assert (report.resource_id, report.value) == ("heat-pump", 1.25)
    assert vtn.unexpected_responses == []
    assert time.monotonic() - started < 20


def test_a_second_vtn_and_a_busy_port_are_refused() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        with pytest.raises(VtnError, match="cannot listen on 127.0.0.1"):
            OpenAdrVtn("127.0.0.1", port).start()
    with OpenAdrVtn("127.0.0.1", free_port()) as first:
        with pytest.raises(VtnError, match="already running in this process"):
            OpenAdrVtn("127.0.0.1", free_port()).start()
        assert first.is_running
    with pytest.raises(VtnError, match="was not issued"):
        first.cancel("nothing")
