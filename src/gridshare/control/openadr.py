"""An OpenADR 2.0b VTN (openleadr's ``OpenADRServer``) for devices that speak OpenADR.

:class:`OpenAdrVtn` runs the server on its own asyncio loop in a background thread and offers
a synchronous facade the pipeline can call (an
:class:`~gridshare.balancing.demand_response.EventChannel`)::

    vtn = OpenAdrVtn("0.0.0.0", 8080, "GRIDSHARE-VTN", enrolments, security=VtnSecurity(...))
    vtn.start()
    vtn.issue(event, enrolments)      # queued for each called VEN, delivered on its next poll
    vtn.responses(event.event_id)     # {participant index: opted in}, as the VENs answer
    vtn.stop()

Registration: a VEN registers under the enrolment's ``device_id``, sent as its ``venID`` or,
if it has none yet, as its ``venName``; any other VEN is refused (and listed in
:attr:`OpenAdrVtn.refused`). VENs poll (``oadrPoll``, every ``poll_interval``).

Events: one ``oadrEvent`` per called VEN, with the DR event's id, its window as the single
interval, and two signals: ``SIMPLE`` (level 1, "moderate", for devices that only know the
simple profile) and ``LOAD_DISPATCH`` of type ``delta`` in kW (``powerReal``, scale ``k``)
whose payload is the requested change in the VEN's import: ``-requested_kw`` (a curtailment
is a negative delta, following the meter convention that import is positive).
``response_required`` is ``always``: each VEN answers ``optIn`` or ``optOut``
(``oadrCreatedEvent``), recorded per event and VEN. The ``vtnComment`` says the kind
(``gridshare curtail`` or ``gridshare shift until <rebound end>``).

Delivery uses openleadr's *external polling* handlers (``on_poll``, ``on_request_event``,
``on_created_event``), not ``add_event``: openleadr keys the opt callback of ``add_event``
by event id alone and drops it after the first answer, so with one event sent to several
VENs only the first VEN's answer would be seen.

Metering reports: a VEN that offers ``TELEMETRY_USAGE`` or ``TELEMETRY_STATUS`` reports is
asked for them at ``report_interval`` (within the VEN's sampling limits); the values are kept
as :class:`MeterReport` (:meth:`OpenAdrVtn.reports`). They are informational; settlement
uses the community's meters.

Security. Without ``security`` the VTN speaks plain HTTP with unsigned messages: for tests on
localhost only (a warning is logged for any other host). In production pass a
:class:`VtnSecurity`: the server then requires TLS with client certificates signed by
``ca_path`` and signs its messages with the VTN key; each VEN's certificate fingerprint
(``openleadr.utils.certificate_fingerprint``, the SHA-256 of the DER certificate, last 10
bytes, hex) is exchanged out of band and configured in ``ven_fingerprints``: a VEN is only
registered, and its messages only accepted, when its TLS client certificate has that
fingerprint and the message signature verifies. Give the VENs the VTN's fingerprint
(:attr:`OpenAdrVtn.fingerprint`) so they can check the VTN's signatures.

openleadr keeps the VTN's signing function, the VEN lookup and the signature switch as class
attributes of ``openleadr.service.VTNService``: only one VTN can run in a process, and
:meth:`OpenAdrVtn.start` refuses a second one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypedDict

from openleadr import OpenADRServer, enums, objects, utils  # type: ignore[import-untyped]
from openleadr.service import VTNService  # type: ignore[import-untyped]

from gridshare.balancing.demand_response import (
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
    called_enrolments,
)
from gridshare.errors import GridshareError
from gridshare.units import from_unix_seconds

OadrEvent = Any
"""An ``openleadr.objects.Event``: openleadr ships no type information, so its objects are
untyped here; they never leave this module."""


class VenRecord(TypedDict):
    """What openleadr's ``ven_lookup`` expects for a registered VEN."""

    ven_id: str
    ven_name: str
    fingerprint: str | None
    registration_id: str


class PartyRegistration(TypedDict, total=False):
    """The fields of an ``oadrCreatePartyRegistration`` / ``oadrCancelPartyRegistration``
    payload (as openleadr parses it) that the VTN reads."""

    ven_id: str
    ven_name: str
    fingerprint: str
    registration_id: str


class CanceledPartyRegistration(TypedDict):
    """The ``oadrCanceledPartyRegistration`` reply."""

    registration_id: str | None
    ven_id: str


class DistributeEvent(TypedDict):
    """The ``oadrDistributeEvent`` message: the VEN's whole current event list."""

    events: list[OadrEvent]


log = logging.getLogger("gridshare.control.openadr")
OPT_IN = "optIn"
OPT_OUT = "optOut"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SIMPLE_LEVEL = 1.0
"""The SIMPLE signal's level during an event: 1 = moderate (0 normal, 2 high, 3 special)."""
_running_lock = threading.Lock()
_running: OpenAdrVtn | None = None


class VtnError(GridshareError):
    """The VTN cannot start, stop or take an event."""


@dataclass(frozen=True, slots=True)
class VtnSecurity:
    """TLS with client certificates and signed messages (what OpenADR 2.0b requires)."""

    cert_path: str
    """The VTN's certificate (PEM): the TLS server certificate and the signing certificate."""
    key_path: str
    ca_path: str
    """The CA bundle (PEM) that the VENs' client certificates must chain to."""
    ven_fingerprints: Mapping[str, str]
    """VEN id -> the fingerprint of its certificate, exchanged out of band."""
    key_passphrase: str | None = None


@dataclass(frozen=True, slots=True)
class MeterReport:
    """One value a VEN reported (``measurement`` as OpenADR names it, e.g. ``RealPower``)."""

    ven_id: str
    resource_id: str
    measurement: str
    unit: str | None
    scale: str | None
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class RefusedRegistration:
    ven: str
    reason: str


class OpenAdrVtn:
    """gridshare's OpenADR 2.0b VTN with a synchronous facade (module doc)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        vtn_id: str = "GRIDSHARE-VTN",
        enrolments: Sequence[Enrolment] = (),
        *,
        poll_interval: timedelta = timedelta(seconds=10),
        report_interval: timedelta = timedelta(minutes=15),
        market_context: str = "oadr://gridshare/demand-response",
        security: VtnSecurity | None = None,
    ) -> None:
        if poll_interval <= timedelta(0) or report_interval <= timedelta(0):
            raise VtnError("poll_interval and report_interval must be positive durations")
        self.host = host
        self.port = port
        self.vtn_id = vtn_id
        self.poll_interval = poll_interval
        self.report_interval = report_interval
        self.market_context = market_context
        self.security = security
        self._lock = threading.Lock()
        self._vens: dict[str, int] = {}  # enrolled VEN id -> participant index
        self._registrations: dict[str, str] = {}  # VEN id -> registration id
        self._events: dict[str, dict[str, OadrEvent]] = {}  # VEN id -> event id -> event
        self._outdated: set[str] = set()  # VENs whose event list changed since their last poll
        self._issued: dict[str, dict[str, int]] = {}  # event id -> VEN id -> participant
        self._opts: dict[str, dict[str, str]] = {}  # event id -> VEN id -> optIn / optOut
        self._reports: list[MeterReport] = []
        self.refused: list[RefusedRegistration] = []
        self.unexpected_responses: list[tuple[str, str, str]] = []
        """(VEN id, event id, opt) answers to events that were not sent to that VEN."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: OpenADRServer | None = None
        self.enrol(enrolments)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.security else "http"
        return f"{scheme}://{self.host}:{self.port}/OpenADR2/Simple/2.0b"

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the VTN's certificate, to give to the VENs (None without TLS)."""
        if self.security is None:
            return None
        with open(self.security.cert_path, "rb") as file:
            return str(utils.certificate_fingerprint(file.read()))

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server on a background thread; returns once it listens."""
        global _running
        with _running_lock:
            if _running is not None:
                raise VtnError(
                    f"an OpenADR VTN is already running in this process (on port "
                    f"{_running.port}); openleadr supports one VTN per process: stop it first"
                )
            _running = self
        if self.security is None and self.host not in LOCAL_HOSTS:
            log.warning(
                "OpenADR VTN on %s without TLS or message signatures: use VtnSecurity outside "
                "local tests",
                self.host,
            )
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, args=(loop,), name=f"openadr-vtn-{self.port}", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout_s)
        except BaseException as exc:
            self._shut_down(timeout_s)
            if isinstance(exc, OSError):
                raise VtnError(
                    f"the OpenADR VTN cannot listen on {self.host}:{self.port}: {exc}; choose "
                    "a free port"
                ) from None
            if isinstance(exc, FutureTimeout):
                raise VtnError(f"the OpenADR VTN did not start within {timeout_s} s") from None
            raise

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (VENs get connection errors and retry) and end the thread."""
        if self._loop is None:
            return
        if self._server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(timeout_s)
            except FutureTimeout:
                log.warning("the OpenADR VTN did not stop within %s s", timeout_s)
        self._shut_down(timeout_s)

    def __enter__(self) -> OpenAdrVtn:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _shut_down(self, timeout_s: float) -> None:
        global _running
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout_s)
        self._loop = self._thread = self._server = None
        if getattr(VTNService, "ven_lookup", None) is not None:
            del VTNService.ven_lookup
        with _running_lock:
            if _running is self:
                _running = None

    async def _serve(self) -> None:
        security = self.security
        options: dict[str, str | bool | None] = {}
        if security is not None:
            options = {
                "cert": security.cert_path,
                "key": security.key_path,
                "passphrase": security.key_passphrase,
                "http_cert": security.cert_path,
                "http_key": security.key_path,
                "http_key_passphrase": security.key_passphrase,
                "http_ca_file": security.ca_path,
                "verify_message_signatures": True,
            }
        server = OpenADRServer(
            vtn_id=self.vtn_id,
            http_host=self.host,
            http_port=self.port,
            requested_poll_freq=self.poll_interval,
            show_fingerprint=False,
            ven_lookup=self._ven_lookup,
            **options,
        )
        for name, handler in (
            ("on_create_party_registration", self._on_create_party_registration),
            ("on_cancel_party_registration", self._on_cancel_party_registration),
            ("on_poll", self._on_poll),
            ("on_request_event", self._on_request_event),
            ("on_created_event", self._on_created_event),
            ("on_register_report", self._on_register_report),
        ):
            server.add_handler(name, handler)
        await server.run()
        self._server = server

    # -- enrolment and registration --------------------------------------------------------------

    def enrol(self, enrolments: Sequence[Enrolment]) -> None:
        """Let these VENs register (OpenADR enrolments only)."""
        with self._lock:
            for enrolment in enrolments:
                if enrolment.protocol is DeviceProtocol.OPENADR:
                    self._vens[enrolment.device_id] = enrolment.participant_index

    def registered_vens(self) -> dict[str, str]:
        """VEN id -> registration id of the VENs registered now."""
        with self._lock:
            return dict(self._registrations)

    def _ven_lookup(self, ven_id: str) -> VenRecord | None:
        with self._lock:
            registration_id = self._registrations.get(ven_id)
        if registration_id is None:
            return None  # openleadr then asks the VEN to register again
        fingerprint = self.security.ven_fingerprints.get(ven_id) if self.security else None
        return {
            "ven_id": ven_id,
            "ven_name": ven_id,
            "fingerprint": fingerprint,
            "registration_id": registration_id,
        }

    def _on_create_party_registration(self, payload: PartyRegistration) -> tuple[str, str] | bool:
        ven_id = payload.get("ven_id") or payload.get("ven_name") or ""
        with self._lock:
            if ven_id not in self._vens:
                return self._refuse(ven_id, "not enrolled in the demand-response programme")
            if self.security is not None:
                expected = self.security.ven_fingerprints.get(ven_id)
                if expected is None or payload.get("fingerprint") != expected:
                    return self._refuse(
                        ven_id, "its certificate fingerprint is not the enrolled one"
                    )
            registration_id = self._registrations.setdefault(ven_id, uuid.uuid4().hex)
            self._outdated.add(ven_id)  # send it its events on its next poll
        log.info("VEN %s registered (%s)", ven_id, registration_id)
        return ven_id, registration_id

    def _refuse(self, ven: str, reason: str) -> bool:
        self.refused.append(RefusedRegistration(ven, reason))
        log.warning("OpenADR registration of VEN %r refused: %s", ven, reason)
        return False

    def _on_cancel_party_registration(
        self, payload: PartyRegistration
    ) -> tuple[str, CanceledPartyRegistration]:
        ven_id = payload.get("ven_id", "")
        with self._lock:
            registration_id = self._registrations.pop(ven_id, payload.get("registration_id"))
        log.info("VEN %s cancelled its registration", ven_id)
        return "oadrCanceledPartyRegistration", {
            "registration_id": registration_id,
            "ven_id": ven_id,
        }

    # -- events ----------------------------------------------------------------------------------

    def issue(self, event: DemandResponseEvent, enrolments: Sequence[Enrolment]) -> None:
        """Queue the event for each called participant's VEN (OpenADR enrolments only); each
        receives it on its next poll."""
        called = called_enrolments(event, enrolments, DeviceProtocol.OPENADR)
        self.enrol(called)
        built = [(e, self._oadr_event(event, e)) for e in called]
        with self._lock:
            issued = self._issued.setdefault(event.event_id, {})
            for enrolment, oadr_event in built:
                issued[enrolment.device_id] = enrolment.participant_index
                self._events.setdefault(enrolment.device_id, {})[event.event_id] = oadr_event
                self._outdated.add(enrolment.device_id)

    def cancel(self, event_id: str) -> None:
        """Cancel an issued event: each VEN gets it again with status ``cancelled``."""
        with self._lock:
            vens = list(self._issued.get(event_id, {}))
            if not vens:
                raise VtnError(f"event {event_id!r} was not issued by this VTN")
            for ven_id in vens:
                oadr_event = self._events.get(ven_id, {}).get(event_id)
                if oadr_event is None:
                    continue
                oadr_event.event_descriptor.event_status = enums.EVENT_STATUS.CANCELLED
                utils.increment_event_modification_number(oadr_event)
                self._outdated.add(ven_id)

    def _oadr_event(self, event: DemandResponseEvent, enrolment: Enrolment) -> OadrEvent:
        start = from_unix_seconds(event.start_s)
        duration = event.duration
        kw = event.requested_kw_of(enrolment.participant_index)
        comment = "gridshare curtail"
        if event.kind is EventKind.SHIFT and event.rebound_end_s is not None:
            rebound = from_unix_seconds(event.rebound_end_s).isoformat().replace("+00:00", "Z")
            comment = f"gridshare shift until {rebound}"
        kilowatts = replace(enums.MEASUREMENTS.POWER_REAL, scale="k")
        signals = [
            objects.EventSignal(
                intervals=[objects.Interval(start, duration, SIMPLE_LEVEL, 0)],
                signal_name="SIMPLE",
                signal_type="level",
                signal_id=f"{event.event_id}-simple",
            ),
            objects.EventSignal(
                intervals=[objects.Interval(start, duration, -kw, 0)],
                signal_name="LOAD_DISPATCH",
                signal_type="delta",
                signal_id=f"{event.event_id}-dispatch",
                measurement=kilowatts,
            ),
        ]
        descriptor = objects.EventDescriptor(
            event_id=event.event_id,
            modification_number=0,
            market_context=self.market_context,
            event_status=enums.EVENT_STATUS.FAR,
            created_date_time=datetime.now(UTC),
            vtn_comment=comment,
        )
        return objects.Event(
            event_descriptor=descriptor,
            event_signals=signals,
            targets=[objects.Target(ven_id=enrolment.device_id)],
            active_period=objects.ActivePeriod(dtstart=start, duration=duration),
            response_required="always",
        )

    def _current_events(self, ven_id: str) -> list[OadrEvent]:
        """The VEN's events that are not over, with their status brought up to date; events
        that are over are forgotten (their answers are kept for settlement)."""
        with self._lock:
            events = self._events.get(ven_id, {})
            ordered = utils.order_events(list(events.values())) or []
            current = []
            for oadr_event in ordered:
                descriptor = oadr_event.event_descriptor
                if descriptor.event_status == enums.EVENT_STATUS.COMPLETED:
                    del events[descriptor.event_id]
                else:
                    current.append(oadr_event)
            return current

    def _on_poll(self, ven_id: str) -> tuple[str, DistributeEvent] | None:
        with self._lock:
            if ven_id not in self._outdated:
                return None
            self._outdated.discard(ven_id)
        # the whole list: in OpenADR 2.0b an event missing from it is cancelled implicitly
        return "oadrDistributeEvent", {"events": self._current_events(ven_id)}

    def _on_request_event(self, ven_id: str) -> list[OadrEvent] | None:
        with self._lock:
            self._outdated.discard(ven_id)
        return self._current_events(ven_id) or None

    def _on_created_event(self, ven_id: str, event_id: str, opt_type: str) -> None:
        with self._lock:
            if ven_id not in self._issued.get(event_id, {}) or opt_type not in (OPT_IN, OPT_OUT):
                self.unexpected_responses.append((ven_id, event_id, opt_type))
                log.warning("VEN %s answered %s to event %r it was not sent", ven_id, opt_type,
                            event_id)  # fmt: skip
                return
            self._opts.setdefault(event_id, {})[ven_id] = opt_type
        log.info("VEN %s: %s for event %s", ven_id, opt_type, event_id)

    def responses(self, event_id: str) -> dict[int, bool]:
        """Participant index -> opted in, for the VENs that answered ``event_id``."""
        with self._lock:
            issued = self._issued.get(event_id, {})
            return {issued[ven]: opt == OPT_IN for ven, opt in self._opts.get(event_id, {}).items()}

    def ven_responses(self, event_id: str) -> dict[str, str]:
        """VEN id -> ``optIn`` / ``optOut`` as the VEN answered ``event_id``."""
        with self._lock:
            return dict(self._opts.get(event_id, {}))

    # -- reports ---------------------------------------------------------------------------------

    def _on_register_report(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str | None,
        scale: str | None,
        min_sampling_interval: timedelta | None,
        max_sampling_interval: timedelta | None,
    ) -> tuple[Any, timedelta]:
        sampling = self.report_interval
        if min_sampling_interval is not None:
            sampling = max(sampling, min_sampling_interval)
        if max_sampling_interval is not None and max_sampling_interval > timedelta(0):
            sampling = min(sampling, max_sampling_interval)
        take = partial(self._take_report, ven_id, resource_id, measurement, unit, scale)
        return take, sampling

    def _take_report(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str | None,
        scale: str | None,
        values: list[tuple[datetime, float]],
    ) -> None:
        with self._lock:
            self._reports.extend(
                MeterReport(ven_id, resource_id, measurement, unit, scale, at, float(value))
                for at, value in values
            )

    def reports(self, ven_id: str | None = None) -> list[MeterReport]:
        """The values VENs reported (all, or one VEN's), oldest first."""
        with self._lock:
            return [r for r in self._reports if ven_id is None or r.ven_id == ven_id]
