"""The SunSpec gateway against a real Modbus TCP server (pymodbus) holding SunSpec maps.

Boundaries are driven by explicit ``now_s`` values; nothing waits for the wall clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gridshare.errors import ConfigurationError
from gridshare.ingest.sunspec.decoding import scaled_wh
from gridshare.ingest.sunspec.device import SunSpecDevice, SunSpecError, SunSpecFault
from gridshare.ingest.sunspec.poller import BoundaryReport, SunSpecPoller
from gridshare.ingest.sunspec.readings import ProblemKind
from gridshare.metering.validation import MeterIdentity, ReadingValidator, ValidationPolicy
from gridshare.metering.wire import ReadingBundle, device_address, recover_signer
from tests.integration.conftest import free_port
from tests.integration.sunspec_server import ModbusTestServer, SunSpecMap

INTERVAL = 900
B0 = 1_748_822_400  # 2025-06-02T00:00:00Z, a multiple of 900 s
OFFSET = 2  # sample two seconds after the boundary, as run() does by default
INV_KEY = bytes.fromhex("11" * 32)
MET_KEY = bytes.fromhex("22" * 32)

UNIT_INVERTER = 1
UNIT_METER = 2
UNIT_NOT_SUNSPEC = 3
UNIT_NO_SCALE_FACTOR = 4
UNIT_UNSUPPORTED = 5
UNIT_BASE_ZERO = 6


def _common(serial: str) -> tuple[int, dict[str, Any]]:
    return (1, {"Mn": "Acme Power", "Md": "AP-10K", "SN": serial})


def _inverter_map() -> SunSpecMap:
    # PF left unset: "not implemented" in the map, so the sample has no power factor.
    return SunSpecMap(
        [
            _common("INV-0001"),
            (103, {"WH": 123456, "WH_SF": 0, "W": 2500, "W_SF": 0, "PhVphA": 2301,
                   "V_SF": -1, "Hz": 5001, "Hz_SF": -2, "PF": 9500, "PF_SF": -2}),
        ]
    )  # fmt: skip


def _meter_map(**overrides: Any) -> SunSpecMap:
    values = {"TotWhImp": 987654, "TotWhExp": 5000, "TotWh_SF": -1, "W": -1200, "W_SF": 0,
              "PhV": 2298, "V_SF": -1, "Hz": 4998, "Hz_SF": -2}  # fmt: skip
    values.update(overrides)
    return SunSpecMap([_common("MET-0001"), (203, values)])


@dataclass
class Site:
    server: ModbusTestServer
    inverter: SunSpecMap
    meter: SunSpecMap

    def device(self, meter_id: str, unit_id: int, key: bytes, **kw: Any) -> SunSpecDevice:
        return SunSpecDevice(
            meter_id=meter_id,
            host="127.0.0.1",
            port=self.server.port,
            unit_id=unit_id,
            private_key=key,
            timeout_s=1.0,
            **kw,
        )

    @property
    def inv(self) -> SunSpecDevice:
        return self.device("inv", UNIT_INVERTER, INV_KEY)

    @property
    def met(self) -> SunSpecDevice:
        return self.device("met", UNIT_METER, MET_KEY)

    def set_inverter(self, name: str, value: Any) -> None:
        self.server.write(UNIT_INVERTER, *self.inverter.point(103, name, value))

    def set_meter(self, name: str, value: Any) -> None:
        self.server.write(UNIT_METER, *self.meter.point(203, name, value))


@pytest.fixture
def site() -> Iterator[Site]:
    inverter, meter = _inverter_map(), _meter_map()
    unsupported = SunSpecMap([_common("X-1"), (120, {"DERTyp": 4})])
    units = {
        UNIT_INVERTER: (inverter.base, inverter.registers),
        UNIT_METER: (meter.base, meter.registers),
        UNIT_NOT_SUNSPEC: (40000, [0x1234, 0x5678, 1, 2]),
        UNIT_NO_SCALE_FACTOR: (40000, _meter_map(TotWh_SF=None).registers),
        UNIT_UNSUPPORTED: (40000, unsupported.registers),
        UNIT_BASE_ZERO: (0, SunSpecMap(_inverter_map().models, base=0).registers),
    }
    with ModbusTestServer(units) as server:
        yield Site(server, inverter, meter)


def _validator(*pairs: tuple[str, bytes]) -> ReadingValidator:
    directory = {
        meter_id: MeterIdentity(meter_id, index, device_address(key), True, 10**9)
        for index, (meter_id, key) in enumerate(pairs)
    }
    return ReadingValidator(directory, ValidationPolicy(interval_s=INTERVAL))


def _by_meter(report: BoundaryReport) -> dict[str, ReadingBundle]:
    return {bundle.meter_id: bundle for bundle in report.submitted}


# --------------------------------------------------------------------------- polling


def test_poll_reads_models_with_scale_factors(site: Site) -> None:
    poller = SunSpecPoller([], lambda bundle: None)

    inv = poller.poll(site.inv)
    assert (inv.model_id, inv.manufacturer, inv.model, inv.serial_number) == (
        103, "Acme Power", "AP-10K", "INV-0001",
    )  # fmt: skip
    assert (inv.import_register_wh, inv.export_register_wh) == (0, 123456)  # WH_SF = 0
    assert inv.net_import_w == -2500.0  # producing 2.5 kW: import-positive sign
    assert inv.voltage_v == 230.1
    assert inv.frequency_hz == 50.01
    assert inv.power_factor == 0.95  # SunSpec reports 95.00 %

    met = poller.poll(site.met)
    assert (met.model_id, met.serial_number) == (203, "MET-0001")
    # TotWh_SF = -1: 987654 -> 98765.4 Wh -> 98765 Wh (half-even), 5000 -> 500 Wh
    assert (met.import_register_wh, met.export_register_wh) == (98765, 500)
    assert met.net_import_w == -1200.0
    assert (met.voltage_v, met.frequency_hz) == (229.8, 49.98)
    assert met.power_factor is None  # PF not implemented in this map

    zero = poller.poll(site.device("zero", UNIT_BASE_ZERO, INV_KEY))  # "SunS" at 0
    assert zero.export_register_wh == 123456


def test_energy_registers_round_half_even_and_scale_up_exactly(site: Site) -> None:
    poller = SunSpecPoller([], lambda bundle: None)
    for raw, expected in [(987655, 98766), (987645, 98764), (987656, 98766), (0, 0)]:
        site.set_meter("TotWhImp", raw)
        assert poller.poll(site.met).import_register_wh == expected
    site.set_inverter("WH_SF", 3)
    assert poller.poll(site.inv).export_register_wh == 123_456_000
    site.set_inverter("WH", 0xFFFFFFFF)  # the largest acc32 value, not a sentinel
    assert poller.poll(site.inv).export_register_wh == 4_294_967_295_000


@pytest.mark.parametrize(
    ("raw", "exponent", "wh"),
    [(987654, -1, 98765), (15, -1, 2), (25, -1, 2), (-25, -1, -2), (5, -2, 0), (7, 0, 7),
     (7, 2, 700), (4_294_967_295, 10, 42_949_672_950_000_000_000)],
)  # fmt: skip
def test_scaled_wh(raw: int, exponent: int, wh: int) -> None:
    assert scaled_wh(raw, exponent) == wh


def test_unreachable_device_raises_a_helpful_error() -> None:
    port = free_port()  # nothing listens: connections are refused
    dead = SunSpecDevice(
        meter_id="dead", host="127.0.0.1", port=port, unit_id=7, private_key=INV_KEY
    )
    with pytest.raises(SunSpecError) as caught:
        SunSpecPoller([], lambda bundle: None).poll(dead)
    error = caught.value
    assert error.fault is SunSpecFault.UNREACHABLE
    assert f"'dead' at 127.0.0.1:{port} unit 7" in str(error)
    assert "Modbus TCP connection" in str(error)


def test_device_without_suns_marker(site: Site) -> None:
    poller = SunSpecPoller([], lambda bundle: None)
    with pytest.raises(SunSpecError) as caught:
        poller.poll(site.device("odd", UNIT_NOT_SUNSPEC, INV_KEY))
    assert caught.value.fault is SunSpecFault.NO_SUNSPEC_MAP
    message = str(caught.value)
    assert f"127.0.0.1:{site.server.port} unit {UNIT_NOT_SUNSPEC}" in message
    assert '"SunS"' in message
    assert "40000: 0x1234 0x5678" in message  # what was there instead

    # A configured base address is the only one tried.
    with pytest.raises(SunSpecError, match="check base_address") as caught:
        poller.poll(site.device("inv", UNIT_INVERTER, INV_KEY, base_address=50000))
    assert caught.value.fault is SunSpecFault.NO_SUNSPEC_MAP


def test_not_implemented_scale_factor(site: Site) -> None:
    with pytest.raises(SunSpecError, match=r"unit 4 model 203: TotWh_SF .* not implemented") as e:
        SunSpecPoller([], lambda bundle: None).poll(
            site.device("met", UNIT_NO_SCALE_FACTOR, MET_KEY)
        )
    assert (e.value.fault, e.value.model_id) == (SunSpecFault.NOT_IMPLEMENTED, 203)


def test_unsupported_model(site: Site) -> None:
    poller = SunSpecPoller([], lambda bundle: None)
    with pytest.raises(SunSpecError, match=r"found models \[1, 120\]") as caught:
        poller.poll(site.device("nameplate", UNIT_UNSUPPORTED, INV_KEY))
    assert caught.value.fault is SunSpecFault.UNSUPPORTED
    with pytest.raises(SunSpecError, match=r"none of \[203\]"):
        poller.poll(site.device("inv", UNIT_INVERTER, INV_KEY, model_id=203))


def test_device_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        SunSpecDevice(meter_id="m", host="h", private_key=b"\x01" * 31)
    with pytest.raises(ConfigurationError, match="not a valid secp256k1 key"):
        SunSpecDevice(meter_id="m", host="h", private_key=bytes(32))
    with pytest.raises(ConfigurationError, match="unit_id 300"):
        SunSpecDevice(meter_id="m", host="h", private_key=INV_KEY, unit_id=300)
    device = SunSpecDevice(meter_id="m", host="h", private_key=INV_KEY)
    assert INV_KEY.hex() not in repr(device)
    with pytest.raises(ConfigurationError, match="share meter ids"):
        SunSpecPoller([device, device], lambda bundle: None)


# --------------------------------------------------------------------------- boundaries


def test_consecutive_boundaries_emit_signed_register_advance(site: Site) -> None:
    submitted: list[ReadingBundle] = []
    poller = SunSpecPoller([site.inv, site.met], submitted.append, initial_seq={"inv": 41})

    first = poller.on_boundary(B0 + OFFSET)
    assert first.boundary_s == B0
    assert (first.submitted, submitted, first.problems) == ([], [], [])
    assert sorted(first.baselined) == ["inv", "met"]
    assert poller.on_boundary(B0 + 60).samples == {}  # same boundary: nothing read again

    site.set_inverter("WH", 124206)  # +750 Wh produced
    site.set_meter("TotWhImp", 989654)  # +2000 x 0.1 Wh = +200 Wh imported
    site.set_meter("TotWhExp", 5120)  # +12 Wh exported
    second = poller.on_boundary(B0 + INTERVAL + OFFSET)
    assert second.problems == []
    assert second.submitted == submitted
    bundles = _by_meter(second)

    inv = bundles["inv"]
    assert inv.start.tolist() == [B0]
    assert inv.seq.tolist() == [42]
    assert (inv.import_wh.tolist(), inv.export_wh.tolist()) == ([0], [750])
    assert (inv.import_register_wh.tolist(), inv.export_register_wh.tolist()) == ([0], [124206])
    assert inv.quality["voltage_v"].tolist() == [230.1]
    assert inv.quality["frequency_hz"].tolist() == [50.01]
    assert inv.quality["power_factor"].tolist() == [0.95]
    assert recover_signer(inv) == device_address(INV_KEY)

    met = bundles["met"]
    assert (met.start.tolist(), met.seq.tolist()) == ([B0], [1])
    assert (met.import_wh.tolist(), met.export_wh.tolist()) == ([200], [12])
    assert (met.import_register_wh.tolist(), met.export_register_wh.tolist()) == ([98965], [512])
    assert sorted(met.quality) == ["frequency_hz", "voltage_v"]  # PF not implemented
    assert recover_signer(met) == device_address(MET_KEY)
    assert poller.seq == {"inv": 42, "met": 1}

    third = poller.on_boundary(B0 + 2 * INTERVAL + OFFSET)  # nothing changed: zero energy
    bundles = _by_meter(third)
    assert bundles["inv"].seq.tolist() == [43]
    assert bundles["inv"].start.tolist() == [B0 + INTERVAL]
    assert (bundles["met"].import_wh.tolist(), bundles["met"].export_wh.tolist()) == ([0], [0])
    assert poller.seq == {"inv": 43, "met": 2}

    # The community's validator accepts every reading: signature, alignment, registers.
    validator = _validator(("inv", INV_KEY), ("met", MET_KEY))
    for bundle in submitted:
        verdict = validator.check(bundle, now_s=B0 + 3 * INTERVAL)
        assert verdict.rejections == []
        assert verdict.accepted.tolist() == [0]


def test_register_reset_emits_nothing_and_rebaselines(site: Site) -> None:
    submitted: list[ReadingBundle] = []
    poller = SunSpecPoller([site.inv, site.met], submitted.append)
    poller.on_boundary(B0 + OFFSET)

    site.set_inverter("WH", 123556)
    site.set_meter("TotWhImp", 300)  # meter replaced: 30 Wh on the new one
    report = poller.on_boundary(B0 + INTERVAL + OFFSET)
    assert [b.meter_id for b in report.submitted] == ["inv"]
    assert report.baselined == ["met"]
    [problem] = report.problems
    assert (problem.kind, problem.meter_id, problem.boundary_s) == (
        ProblemKind.REGISTER_WENT_BACKWARDS, "met", B0 + INTERVAL,
    )  # fmt: skip
    assert "(98765, 500) Wh to (30, 500) Wh" in problem.detail
    assert poller.problem_counts[("met", ProblemKind.REGISTER_WENT_BACKWARDS)] == 1
    assert poller.seq == {"inv": 1}

    site.set_meter("TotWhImp", 800)  # +50 Wh on the new meter
    report = poller.on_boundary(B0 + 2 * INTERVAL + OFFSET)
    met = _by_meter(report)["met"]
    assert (met.start.tolist(), met.seq.tolist()) == ([B0 + INTERVAL], [1])
    assert (met.import_wh.tolist(), met.import_register_wh.tolist()) == ([50], [80])
    assert all(b.import_wh.min() >= 0 and b.export_wh.min() >= 0 for b in submitted)


def test_missed_boundaries_report_a_gap_and_rebaseline(site: Site) -> None:
    submitted: list[ReadingBundle] = []
    poller = SunSpecPoller([site.inv], submitted.append)
    poller.on_boundary(B0 + OFFSET)

    site.set_inverter("WH", 130000)
    report = poller.on_boundary(B0 + 3 * INTERVAL + OFFSET)  # down for two boundaries
    assert report.submitted == []
    assert report.baselined == ["inv"]
    [problem] = report.problems
    assert problem.kind is ProblemKind.GAP
    assert "2 boundary(ies) missed" in problem.detail

    site.set_inverter("WH", 130100)
    [bundle] = poller.on_boundary(B0 + 4 * INTERVAL + OFFSET).submitted
    assert (bundle.start.tolist(), bundle.export_wh.tolist()) == ([B0 + 3 * INTERVAL], [100])
    assert submitted == [bundle]


def test_failing_device_is_reported_and_the_others_still_polled(site: Site) -> None:
    port = free_port()  # nothing listens: connections are refused
    dead = SunSpecDevice(meter_id="dead", host="127.0.0.1", port=port, private_key=MET_KEY)
    odd = site.device("odd", UNIT_NOT_SUNSPEC, MET_KEY)
    submitted: list[ReadingBundle] = []
    poller = SunSpecPoller([dead, odd, site.inv], submitted.append)

    first = poller.on_boundary(B0 + OFFSET)
    assert first.baselined == ["inv"]
    site.set_inverter("WH", 123999)
    second = poller.on_boundary(B0 + INTERVAL + OFFSET)
    assert [(b.meter_id, b.export_wh.tolist()) for b in submitted] == [("inv", [543])]
    faults = {(p.meter_id, p.kind, p.fault) for p in second.problems}
    assert faults == {
        ("dead", ProblemKind.DEVICE_FAILED, SunSpecFault.UNREACHABLE),
        ("odd", ProblemKind.DEVICE_FAILED, SunSpecFault.NO_SUNSPEC_MAP),
    }
    assert any(f"127.0.0.1:{port} unit 1" in p.detail for p in second.problems)
    assert poller.problem_counts[("dead", ProblemKind.DEVICE_FAILED)] == 2
    assert poller.problem_counts[("odd", ProblemKind.DEVICE_FAILED)] == 2


def test_submit_failure_is_reported_and_spends_the_sequence_number(site: Site) -> None:
    def refuse(bundle: ReadingBundle) -> None:
        raise ConnectionError("broker down")

    poller = SunSpecPoller([site.inv], refuse, initial_seq={"inv": 7})
    poller.on_boundary(B0 + OFFSET)
    report = poller.on_boundary(B0 + INTERVAL + OFFSET)
    assert report.submitted == []
    [problem] = report.problems
    assert problem.kind is ProblemKind.SUBMIT_FAILED
    assert "broker down" in problem.detail
    assert poller.seq == {"inv": 8}


# --------------------------------------------------------------------------- run loop


class FakeClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class InstantEvent(threading.Event):
    """A stop event whose waits advance the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now_s += timeout
        return self.is_set()


def test_run_samples_after_each_boundary_until_stopped(site: Site) -> None:
    clock = FakeClock(B0 + 100.0)  # started mid-interval
    stop = InstantEvent(clock)
    submitted: list[ReadingBundle] = []

    def submit(bundle: ReadingBundle) -> None:
        submitted.append(bundle)
        stop.set()

    poller = SunSpecPoller([site.inv], submit, sample_offset_s=OFFSET)
    poller.run(stop, clock=clock)

    # Baseline 2 s after B0 + 900, the reading 2 s after B0 + 1800, then stop; the
    # loop wakes at least once a minute to notice a wall clock being set.
    assert max(stop.waits) <= 60.0
    assert sum(stop.waits) == 2 * INTERVAL + OFFSET - 100.0
    [bundle] = submitted
    assert bundle.start.tolist() == [B0 + INTERVAL]
    assert clock.now_s == B0 + 2 * INTERVAL + OFFSET
