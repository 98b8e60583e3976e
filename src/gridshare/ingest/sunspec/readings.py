"""Register advances to signed one-reading bundles, one interval at a time. No I/O.

Intervals
    The first sample of a device only sets its baseline. A reading is emitted only when
    the previous sample is exactly one interval old: after missed boundaries (poller down,
    device unreachable) the gap is reported and the device rebaselined (the validator
    accepts gaps). A register that went backwards (meter replaced or reset; also a 32-bit
    accumulator rolling over) emits nothing, is reported and rebaselines. Nothing is
    ever negative.

Power quality
    Voltage, frequency and power factor go into the bundle only when the device reported
    them and they lie in the physical range the validator accepts (``QUALITY_RANGES``);
    a value outside it (e.g. 0 Hz at night) would otherwise make the validator refuse the
    whole reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridshare.ingest.sunspec.decoding import Sample
from gridshare.ingest.sunspec.device import SunSpecDevice, SunSpecFault
from gridshare.metering.wire import QUALITY_RANGES, ReadingBundle, make_bundle, sign_bundle

__all__ = [
    "Advance",
    "Baseline",
    "Problem",
    "ProblemKind",
    "Rebaseline",
    "register_advance",
    "sign_reading",
]


class ProblemKind(StrEnum):
    """Why a device produced no reading at a boundary."""

    DEVICE_FAILED = "device_failed"
    """The poll raised (see :attr:`Problem.fault`)."""
    GAP = "gap"
    """The previous sample is more than one interval old; rebaselined."""
    REGISTER_WENT_BACKWARDS = "register_went_backwards"
    """Meter replaced or reset (or an accumulator rolled over); rebaselined."""
    SUBMIT_FAILED = "submit_failed"
    """The reading was signed but ``submit`` raised; its sequence number is spent."""
    CLOCK_WENT_BACKWARDS = "clock_went_backwards"
    """The boundary is before the device's baseline; nothing read."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    meter_id: str
    boundary_s: int
    detail: str
    fault: SunSpecFault | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    """A device's energy registers sampled at a boundary."""

    boundary_s: int
    import_register_wh: int
    export_register_wh: int

    @classmethod
    def of(cls, boundary_s: int, sample: Sample) -> Baseline:
        return cls(boundary_s, sample.import_register_wh, sample.export_register_wh)


@dataclass(frozen=True, slots=True)
class Advance:
    """The registers' advance over the interval starting at ``start_s``: one reading."""

    start_s: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class Rebaseline:
    """No reading: the new sample only becomes the baseline, for the reason given."""

    kind: ProblemKind
    detail: str


def register_advance(
    previous: Baseline, current: Baseline, interval_s: int
) -> Advance | Rebaseline:
    """The reading from ``previous`` to ``current``, or why there is none."""
    elapsed = current.boundary_s - previous.boundary_s
    if elapsed != interval_s:
        missed = elapsed // interval_s - 1
        return Rebaseline(
            ProblemKind.GAP,
            f"last sample at {previous.boundary_s}, {missed} boundary(ies) missed; "
            f"intervals {previous.boundary_s}..{current.boundary_s - interval_s} not reported, "
            "new baseline",
        )
    import_wh = current.import_register_wh - previous.import_register_wh
    export_wh = current.export_register_wh - previous.export_register_wh
    if import_wh < 0 or export_wh < 0:
        return Rebaseline(
            ProblemKind.REGISTER_WENT_BACKWARDS,
            f"registers went from ({previous.import_register_wh}, "
            f"{previous.export_register_wh}) Wh to ({current.import_register_wh}, "
            f"{current.export_register_wh}) Wh (meter replaced or reset?); new baseline",
        )
    return Advance(previous.boundary_s, import_wh, export_wh)


def _quality(sample: Sample) -> dict[str, list[float]]:
    """The sample's power-quality values that the validator accepts."""
    quality: dict[str, list[float]] = {}
    for name, value in (
        ("voltage_v", sample.voltage_v),
        ("frequency_hz", sample.frequency_hz),
        ("power_factor", sample.power_factor),
    ):
        low, high = QUALITY_RANGES[name]
        if value is not None and low <= value <= high:
            quality[name] = [value]
    return quality


def sign_reading(
    device: SunSpecDevice, seq: int, advance: Advance, sample: Sample
) -> ReadingBundle:
    """The one-reading bundle of ``advance`` (registers and quality from ``sample``, the
    sample at the interval's end), numbered ``seq`` and signed with the device's key."""
    bundle = make_bundle(
        device.meter_id,
        [advance.start_s],
        [seq],
        [advance.import_wh],
        [advance.export_wh],
        [sample.import_register_wh],
        [sample.export_register_wh],
        quality=_quality(sample),
    )
    return sign_bundle(bundle, device.private_key)
