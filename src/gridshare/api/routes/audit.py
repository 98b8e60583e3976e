"""``/v1/audit/verify``: ``gridshare verify`` as a background job, for the operator and the
auditor. A year's verify takes long, so ``POST`` starts a job (202) and the ``GET``
routes follow it: state, progress, start and end, and the findings once finished.

One job runs at a time (409 ``verify_running`` while it does); only the latest job is
kept, in memory (a restart forgets it). A node that gave the API no verifier answers 503
``verify_unavailable``."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.auth import Principal
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import AuditFindingsOut, VerifyJobOut
from gridshare.api.verify import VerifyJob, VerifyJobs

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _jobs(caller: Principal, context: ApiContext) -> VerifyJobs:
    if not caller.reads_everything:
        raise Refused(
            403,
            "wrong_role",
            "verifying the store against the chain is for the operator and the auditor",
        )
    if context.verify is None:
        raise Refused(
            503,
            "verify_unavailable",
            "this node runs no verify jobs (it gave the API no verifier; a node on its "
            "embedded chain holds the chain itself): run `gridshare verify` on the data "
            "directory instead",
        )
    return context.verify


def _out(job: VerifyJob) -> VerifyJobOut:
    return VerifyJobOut(
        job_id=job.job_id,
        state=job.state.value,
        started_at=job.started_at,
        ended_at=job.ended_at,
        phase=job.phase,
        done=job.done,
        total=job.total,
        findings=None if job.report is None else AuditFindingsOut.model_validate(job.report),
        error=job.error,
        error_id=job.error_id,
    )


@router.post(
    "/verify",
    status_code=202,
    responses=refusals(401, 403, 409, 429, 503),
)
def start_verify(caller: Caller, context: Context) -> VerifyJobOut:
    """Start verifying the store against the chain (every check of ``gridshare verify``)
    in the background; follow the job at ``/v1/audit/verify/{job_id}``. 409
    ``verify_running`` while a job runs."""
    return _out(_jobs(caller, context).start())


@router.get("/verify/latest", responses=refusals(401, 403, 404, 429, 503))
def latest_verify(caller: Caller, context: Context) -> VerifyJobOut:
    """The latest verify job (running or finished); 404 ``no_verify_job`` before the
    first since the node started."""
    job = _jobs(caller, context).latest()
    if job is None:
        raise Refused(
            404, "no_verify_job", "no verify job since the node started: POST /v1/audit/verify"
        )
    return _out(job)


@router.get("/verify/{job_id}", responses=refusals(401, 403, 404, 422, 429, 503))
def verify_job(job_id: str, caller: Caller, context: Context) -> VerifyJobOut:
    """A verify job: its state (running, passed, failed, error), progress, start and end,
    and its findings once finished. Only the latest job is kept."""
    job = _jobs(caller, context).get(job_id)
    if job is None:
        raise Refused(
            404,
            "unknown_job",
            f"no verify job {job_id!r}: only the latest job is kept, and only until the "
            "node restarts (see /v1/audit/verify/latest)",
        )
    return _out(job)
