"""``gridshare verify`` as a background job of the API: one at a time, in a thread of its
own, the last one kept in memory (a restart forgets it; the store keeps nothing of it).

The node hands :func:`gridshare.api.app.create_app` a :data:`Verifier` (the app layer
opens its own store and chain connection for each job); without one the verify routes
answer 503 ``verify_unavailable``. An exception in a job ends it in state ``error`` with
a message and an error id that is in the node's log (never a traceback).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from gridshare.api.refusals import Refused
from gridshare.errors import GridshareError

if TYPE_CHECKING:
    from gridshare.model.summary import JsonValue
    from gridshare.pipeline.audit import AuditReport, Progress

    Verifier = Callable[[Progress], AuditReport]
    """Runs every check of ``gridshare verify``, reporting ``(phase, done, total)``."""

__all__ = ["JobState", "VerifyJob", "VerifyJobs"]

log = logging.getLogger("gridshare.api")


class JobState(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    """Finished: the store matches the chain."""
    FAILED = "failed"
    """Finished: the findings list mismatches (``problems``)."""
    ERROR = "error"
    """The job could not finish (the chain or database unreachable, ...): see ``error``."""


@dataclass(frozen=True, slots=True)
class VerifyJob:
    """A verify job as it stands (a snapshot)."""

    job_id: str
    state: JobState
    started_at: datetime
    ended_at: datetime | None = None
    phase: str | None = None
    done: int = 0
    total: int = 0
    report: dict[str, JsonValue] | None = None
    """The audit report (:meth:`AuditReport.as_json`) once passed or failed."""
    error: str | None = None
    error_id: str | None = None


class VerifyJobs:
    """Starts verify jobs, one at a time, and keeps the latest (thread-safe)."""

    def __init__(self, verifier: Verifier, now: Callable[[], datetime]) -> None:
        self._verifier = verifier
        self._now = now
        self._lock = threading.Lock()
        self._latest: VerifyJob | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> VerifyJob:
        """Start a job; :class:`Refused` 409 ``verify_running`` while one runs."""
        with self._lock:
            if self._latest is not None and self._latest.state is JobState.RUNNING:
                raise Refused(
                    409,
                    "verify_running",
                    f"verify job {self._latest.job_id} is running: follow it at "
                    f"/v1/audit/verify/{self._latest.job_id}",
                )
            job = VerifyJob(uuid.uuid4().hex, JobState.RUNNING, self._now())
            self._latest = job
            self._thread = threading.Thread(
                target=self._run, args=(job.job_id,), name=f"verify-{job.job_id[:8]}", daemon=True
            )
            self._thread.start()
        return job

    def latest(self) -> VerifyJob | None:
        with self._lock:
            return self._latest

    def get(self, job_id: str) -> VerifyJob | None:
        with self._lock:
            latest = self._latest
        return latest if latest is not None and latest.job_id == job_id else None

    def wait(self, timeout_s: float | None = None) -> None:
        """Until the running job's thread ends (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            if self._latest is not None and self._latest.job_id == job_id:
                self._latest = replace(self._latest, **changes)  # type: ignore[arg-type]

    def _run(self, job_id: str) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            self._update(job_id, phase=phase, done=done, total=total)

        try:
            report = self._verifier(progress)
        except Exception as exc:  # every failure becomes the job's state, not a traceback
            error_id = uuid.uuid4().hex[:12]
            log.exception("verify job %s failed (error id %s)", job_id, error_id)
            reason = str(exc) if isinstance(exc, GridshareError) else "an unexpected failure"
            self._update(
                job_id,
                state=JobState.ERROR,
                ended_at=self._now(),
                error=f"the verification could not finish: {reason} (the node's log has "
                f"error id {error_id})",
                error_id=error_id,
            )
            return
        self._update(
            job_id,
            state=JobState.PASSED if report.ok else JobState.FAILED,
            ended_at=self._now(),
            report=report.as_json(),
        )
