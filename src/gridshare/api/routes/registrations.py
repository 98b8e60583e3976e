"""Joining the community: a would-be member registers with their own key, the operator
approves or rejects, and every operator action is logged.

- ``POST /v1/communities/{community_id}/registrations``: an applicant (an account that
  signed in but is not a member) sends the member, their meters' device addresses and
  their location. Checked at once against the community file (422 with the part at
  fault), stored ``pending`` (202).
- ``GET /v1/registrations/mine``: the caller's own registrations.
- ``GET /v1/communities/{community_id}/registrations``: the approval queue (operator,
  auditor).
- ``POST .../registrations/{handle}/approve`` and ``.../reject``: the operator decides;
  the decision and the action log row are one transaction. An approved member joins at
  the end of the interval the node is processing (:mod:`gridshare.app.registrations`):
  registered on chain, their devices known to ingest. Until then their readings are
  refused as from an unknown meter.
- ``GET /v1/communities/{community_id}/operator-actions``: the log of every operator
  action (operator, auditor).
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from gridshare.api.auth import Principal, Role
from gridshare.api.context import AnyCaller, ApiContext, Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import (
    DecisionIn,
    LocationIn,
    OperatorActionOut,
    OperatorActionsOut,
    RegistrationIn,
    RegistrationOut,
    RegistrationsOut,
)
from gridshare.app.registrations import CommunityFile, RegistrationError, joined_participant_id
from gridshare.model.records import OperatorActionRecord, RegistrationRecord, RegistrationStatus
from gridshare.units import from_unix_seconds, to_unix_seconds

router = APIRouter(prefix="/v1", tags=["registrations"])

_OPEN = (RegistrationStatus.PENDING, RegistrationStatus.APPROVED)


def community_file_of(community_id: str, context: ApiContext) -> CommunityFile:
    """The community file of the node's community ``community_id``: what registrations
    and configuration changes are checked against; :class:`Refused` 404 for another."""
    community_file = context.community_file
    if community_file is None or community_file.community_id != community_id:
        raise Refused(
            404,
            "unknown_community",
            f"this node takes no registrations or changes for community {community_id!r}",
        )
    return community_file


def _out(record: RegistrationRecord) -> RegistrationOut:
    has_location = record.latitude_deg is not None and record.longitude_deg is not None
    return RegistrationOut(
        community_id=record.community_id,
        handle=record.handle,
        participant_id=joined_participant_id(record.community_id, record.handle),
        applicant=record.applicant,
        member=orjson.loads(record.member_json),
        devices=orjson.loads(record.devices_json),
        location=LocationIn(
            latitude_deg=record.latitude_deg or 0.0, longitude_deg=record.longitude_deg or 0.0
        )
        if has_location
        else None,
        status=RegistrationStatus(record.status),
        submitted_at=from_unix_seconds(record.submitted_at_s),
        decided_at=None if record.decided_at_s is None else from_unix_seconds(record.decided_at_s),
        decided_by=record.decided_by,
        reason=record.reason,
    )


def _operator_or_auditor(caller: Principal, what: str) -> None:
    if not caller.reads_everything:
        raise Refused(
            403, "wrong_role", f"{what} are for the community's operator and auditor only"
        )


@router.post(
    "/communities/{community_id}/registrations",
    status_code=202,
    responses=refusals(401, 403, 404, 409, 413, 422, 429),
)
def register(
    community_id: str, body: RegistrationIn, caller: AnyCaller, context: Context
) -> RegistrationOut:
    """Register the signed-in account as a member of the community. 202: stored
    ``pending`` for the operator to approve; nothing of it meters, trades or goes on chain
    before that."""
    community_file = community_file_of(community_id, context)
    if caller.role is not Role.APPLICANT:
        raise Refused(
            409,
            "already_member",
            f"{caller.address} signs in as {caller.role.value}: a member, operator or "
            "auditor account cannot register again; use a new key for a new member",
        )
    account = caller.address.lower()
    if context.store.registrations(applicant=account, statuses=_OPEN):
        raise Refused(
            409,
            "registration_open",
            f"{caller.address} has a registration pending or approved already: follow it at "
            "GET /v1/registrations/mine",
        )
    try:
        admission = community_file.check(body.handle, body.member, body.devices)
    except RegistrationError as exc:
        raise Refused(422, exc.code, str(exc)) from None
    for meter, device in admission.devices.items():
        if context.store.device_in_use(device):
            raise Refused(
                409,
                "device_taken",
                f"devices.{meter}: {device} is another meter's device (or another "
                "registration's): each meter has its own key",
            )
    record = RegistrationRecord(
        community_id=community_id,
        handle=body.handle,
        applicant=account,
        member_json=admission.member_json,
        devices_json=orjson.dumps(admission.devices, option=orjson.OPT_SORT_KEYS).decode(),
        latitude_deg=None if body.location is None else body.location.latitude_deg,
        longitude_deg=None if body.location is None else body.location.longitude_deg,
        submitted_at_s=to_unix_seconds(context.now()),
        status=RegistrationStatus.PENDING.value,
    )
    if context.store.member(admission.participant_id) is not None or not (
        context.store.submit_registration(record)
    ):
        raise Refused(
            409,
            "handle_taken",
            f"handle {body.handle!r} is taken in community {community_id!r}: choose another",
        )
    return _out(record)


@router.get("/registrations/mine", responses=refusals(401, 429))
def my_registrations(caller: AnyCaller, context: Context) -> RegistrationsOut:
    """The signed-in account's registrations, oldest first."""
    records = context.store.registrations(applicant=caller.address.lower())
    return RegistrationsOut(registrations=[_out(r) for r in records])


@router.get(
    "/communities/{community_id}/registrations", responses=refusals(401, 403, 404, 422, 429)
)
def registration_queue(
    community_id: str,
    caller: Caller,
    context: Context,
    status: Annotated[
        RegistrationStatus | None, Query(description="only these (default: all)")
    ] = None,
) -> RegistrationsOut:
    """The community's registrations, oldest first: the approval queue with
    ``status=pending`` (operator and auditor)."""
    _operator_or_auditor(caller, "registrations")
    community_file_of(community_id, context)
    records = context.store.registrations(
        community_id, statuses=() if status is None else (status,), limit=context.max_rows
    )
    return RegistrationsOut(registrations=[_out(r) for r in records])


def _decide(
    community_id: str,
    handle: str,
    status: RegistrationStatus,
    body: DecisionIn,
    caller: Principal,
    context: ApiContext,
) -> RegistrationOut:
    if caller.role is not Role.OPERATOR:
        raise Refused(
            403, "wrong_role", "only the community's operator approves or rejects registrations"
        )
    community_file_of(community_id, context)
    verb = "approve" if status is RegistrationStatus.APPROVED else "reject"
    action = OperatorActionRecord(
        community_id=community_id,
        at_s=to_unix_seconds(context.now()),
        actor=caller.address.lower(),
        action=f"registration.{verb}",
        target=handle,
        detail=body.reason,
    )
    decided = context.store.decide_registration(community_id, handle, status, action)
    if decided is None:
        held = context.store.registration(community_id, handle)
        if held is None:
            raise Refused(404, "unknown_registration", f"no registration {handle!r}")
        raise Refused(
            409,
            "not_pending",
            f"registration {handle!r} is {held.status} already: only a pending one is decided",
        )
    return _out(decided)


@router.post(
    "/communities/{community_id}/registrations/{handle}/approve",
    responses=refusals(401, 403, 404, 409, 422, 429),
)
def approve(
    community_id: str, handle: str, body: DecisionIn, caller: Caller, context: Context
) -> RegistrationOut:
    """Approve a pending registration (operator). The member joins at the end of the
    interval the node is processing: on chain, and metering from then on."""
    return _decide(community_id, handle, RegistrationStatus.APPROVED, body, caller, context)


@router.post(
    "/communities/{community_id}/registrations/{handle}/reject",
    responses=refusals(401, 403, 404, 409, 422, 429),
)
def reject(
    community_id: str, handle: str, body: DecisionIn, caller: Caller, context: Context
) -> RegistrationOut:
    """Reject a pending registration (operator), with a reason the applicant reads."""
    return _decide(community_id, handle, RegistrationStatus.REJECTED, body, caller, context)


@router.get(
    "/communities/{community_id}/operator-actions", responses=refusals(401, 403, 404, 422, 429)
)
def operator_actions(
    community_id: str,
    caller: Caller,
    context: Context,
    after_id: Annotated[int, Query(ge=0, le=2**62, description="only actions after this")] = 0,
) -> OperatorActionsOut:
    """Every action the operator took through the API, oldest first (operator, auditor)."""
    _operator_or_auditor(caller, "the operator's actions")
    community_file_of(community_id, context)
    records = context.store.operator_actions(
        community_id, after_id=after_id, limit=context.max_rows
    )
    return OperatorActionsOut(
        community_id=community_id,
        actions=[
            OperatorActionOut(
                action_id=r.action_id or 0,
                at=from_unix_seconds(r.at_s),
                actor=r.actor,
                action=r.action,
                target=r.target,
                detail=r.detail,
            )
            for r in records
        ],
    )
