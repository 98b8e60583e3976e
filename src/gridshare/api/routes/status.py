"""``/v1/status``: the API's own figures, for the operator and the auditor."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.context import Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import StatusOut

router = APIRouter(prefix="/v1", tags=["status"])


@router.get("/status", responses=refusals(401, 403, 429))
def status(caller: Caller, context: Context) -> StatusOut:
    """Refusals per code since the node started, and sign-ins under way."""
    if not caller.reads_everything:
        raise Refused(403, "wrong_role", "the API's status is for the operator and the auditor")
    return StatusOut(
        started_at=context.started_at,
        refusals=context.counter.snapshot(),
        outstanding_nonces=context.nonces.outstanding(),
    )
