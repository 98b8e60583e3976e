"""The SunSpec poller: every device at each interval boundary, signed readings submitted.

Sequence numbers
    Each device has a monotonic counter. The constructor takes the last sequence number
    used per meter (``initial_seq``; absent meters start at 1); :attr:`SunSpecPoller.seq`
    is the current map. A number is consumed when a bundle is signed, even if ``submit``
    then fails, so no number is ever used for two different readings. To survive a crash
    without reusing one, persist ``bundle.seq`` in ``submit`` before the bundle leaves.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gridshare.errors import ConfigurationError
from gridshare.ingest.sunspec.decoding import Sample
from gridshare.ingest.sunspec.device import SunSpecDevice, SunSpecError, SunSpecFault
from gridshare.ingest.sunspec.modbus import fetch_sample
from gridshare.ingest.sunspec.readings import (
    Baseline,
    Problem,
    ProblemKind,
    Rebaseline,
    register_advance,
    sign_reading,
)
from gridshare.metering.wire import ReadingBundle

__all__ = ["BoundaryReport", "SunSpecPoller"]

logger = logging.getLogger(__name__)

_MAX_WAIT_S: Final = 60.0


@dataclass(slots=True)
class BoundaryReport:
    """What happened at one boundary."""

    boundary_s: int
    submitted: list[ReadingBundle] = field(default_factory=list)
    """Signed bundles handed to ``submit`` (and accepted by it)."""
    baselined: list[str] = field(default_factory=list)
    """Meters whose sample at this boundary only set a (new) baseline."""
    samples: dict[str, Sample] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _add_problem(
    report: BoundaryReport,
    kind: ProblemKind,
    meter_id: str,
    detail: str,
    fault: SunSpecFault | None = None,
) -> None:
    """Log and record why ``meter_id`` produced no reading at the report's boundary."""
    logger.warning("%s at %d: %s: %s", meter_id, report.boundary_s, kind, detail)
    report.problems.append(Problem(kind, meter_id, report.boundary_s, detail, fault))


class SunSpecPoller:
    """Samples every device at each interval boundary and submits signed readings."""

    def __init__(
        self,
        devices: Sequence[SunSpecDevice],
        submit: Callable[[ReadingBundle], None],
        *,
        interval_s: int = 900,
        initial_seq: Mapping[str, int] | None = None,
        sample_offset_s: float = 2.0,
    ) -> None:
        """``initial_seq``: the last sequence number used per meter (absent: none yet).

        ``sample_offset_s``: :meth:`run` samples this long after each boundary.
        """
        meter_ids = [d.meter_id for d in devices]
        if duplicates := sorted({m for m in meter_ids if meter_ids.count(m) > 1}):
            raise ConfigurationError(f"SunSpec devices share meter ids {duplicates}")
        if interval_s <= 0:
            raise ConfigurationError(f"interval_s must be > 0 s, not {interval_s}")
        if not 0 <= sample_offset_s < interval_s:
            raise ConfigurationError(f"sample_offset_s must be in [0, {interval_s}) s")
        seq = dict(initial_seq or {})
        if negative := sorted(m for m, s in seq.items() if s < 0):
            raise ConfigurationError(f"initial sequence numbers of {negative} are negative")
        self.devices: tuple[SunSpecDevice, ...] = tuple(devices)
        self.submit = submit
        self.interval_s = interval_s
        self.sample_offset_s = sample_offset_s
        self._seq = seq
        self._baselines: dict[str, Baseline] = {}
        self.problem_counts: Counter[tuple[str, ProblemKind]] = Counter()
        """Problems so far, per (meter id, kind)."""

    @property
    def seq(self) -> dict[str, int]:
        """The last sequence number used per meter (persist it; pass it back as initial_seq)."""
        return dict(self._seq)

    def poll(self, device: SunSpecDevice) -> Sample:
        """Read ``device`` now; :class:`SunSpecError` says why it could not be read."""
        return fetch_sample(device)

    def on_boundary(self, now_s: float) -> BoundaryReport:
        """Sample every device for the boundary at or before ``now_s`` (unix seconds).

        Devices already sampled at this boundary are skipped, so a repeated call is
        harmless. Failures of one device never stop the others.
        """
        boundary = math.floor(now_s) // self.interval_s * self.interval_s
        report = BoundaryReport(boundary)
        for device in self.devices:
            self._visit(device, report)
        for problem in report.problems:
            self.problem_counts[problem.meter_id, problem.kind] += 1
        logger.info(
            "boundary %d: %d reading(s) submitted, %d baselined, %d problem(s)",
            boundary,
            len(report.submitted),
            len(report.baselined),
            len(report.problems),
        )
        return report

    def run(self, stop_event: threading.Event, clock: Callable[[], float] = time.time) -> None:
        """Sample ``sample_offset_s`` after every boundary until ``stop_event`` is set.

        Devices are polled one after the other; a device that does not answer costs up
        to two Modbus timeouts (``timeout_s``, one retry) per read. The poller is not
        thread-safe: call :meth:`run` or :meth:`on_boundary` from one thread only.
        """
        next_at = self._next_sampling_time(clock())
        while not stop_event.is_set():
            now = clock()
            if now < next_at - self.interval_s - self.sample_offset_s:
                next_at = self._next_sampling_time(now)  # the wall clock was set back
            if now < next_at:
                # Wake at least every _MAX_WAIT_S to notice the wall clock being reset.
                stop_event.wait(min(next_at - now, _MAX_WAIT_S))
                continue
            try:
                self.on_boundary(now)
            except Exception:  # a bug must not stop the gateway; on_boundary logs details
                logger.exception("SunSpec poller: boundary at %.0f failed", now)
            next_at = self._next_sampling_time(now)

    def _next_sampling_time(self, now_s: float) -> float:
        """The first ``boundary + sample_offset_s`` strictly after ``now_s``."""
        k = math.floor((now_s - self.sample_offset_s) / self.interval_s) + 1
        return k * self.interval_s + self.sample_offset_s

    def _visit(self, device: SunSpecDevice, report: BoundaryReport) -> None:
        meter_id, boundary = device.meter_id, report.boundary_s
        previous = self._baselines.get(meter_id)
        if previous is not None and boundary <= previous.boundary_s:
            if boundary < previous.boundary_s:
                _add_problem(
                    report,
                    ProblemKind.CLOCK_WENT_BACKWARDS,
                    meter_id,
                    f"boundary {boundary} is before the baseline at {previous.boundary_s}",
                )
            return
        sample = self._sample(device, report)
        if sample is None:
            return
        report.samples[meter_id] = sample
        current = Baseline.of(boundary, sample)
        self._baselines[meter_id] = current
        advance = None if previous is None else register_advance(previous, current, self.interval_s)
        if isinstance(advance, Rebaseline):
            _add_problem(report, advance.kind, meter_id, advance.detail)
        if advance is None or isinstance(advance, Rebaseline):
            report.baselined.append(meter_id)
            return
        bundle = sign_reading(device, self._next_seq(meter_id), advance, sample)
        try:
            self.submit(bundle)
        except Exception as exc:  # the caller's transport; report and go on
            logger.exception("%s: submit failed", meter_id)
            _add_problem(
                report, ProblemKind.SUBMIT_FAILED, meter_id, f"{type(exc).__name__}: {exc}"
            )
            return
        report.submitted.append(bundle)

    def _sample(self, device: SunSpecDevice, report: BoundaryReport) -> Sample | None:
        """``device`` polled now; None (and the problem reported) when it cannot be read."""
        try:
            return self.poll(device)
        except SunSpecError as exc:
            _add_problem(report, ProblemKind.DEVICE_FAILED, device.meter_id, str(exc), exc.fault)
        except Exception as exc:  # a decoding bug for one device must not stop the others
            logger.exception("%s: unexpected error polling", device.meter_id)
            _add_problem(
                report,
                ProblemKind.DEVICE_FAILED,
                device.meter_id,
                f"unexpected {type(exc).__name__}: {exc}",
            )
        return None

    def _next_seq(self, meter_id: str) -> int:
        """Spend and return ``meter_id``'s next sequence number."""
        seq = self._seq.get(meter_id, 0) + 1
        self._seq[meter_id] = seq
        return seq
