"""``/v1/auth``: Sign-In with Ethereum (EIP-4361) for a short-lived session token."""

from __future__ import annotations

from fastapi import APIRouter

from gridshare.api.auth import Role
from gridshare.api.context import Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.schemas import LoginIn, NonceOut, SessionOut
from gridshare.api.siwe import SiweError, verify_siwe

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_MALFORMED = frozenset(("malformed_message", "malformed_signature"))


@router.post("/nonce", responses=refusals(429))
def issue_nonce(context: Context) -> NonceOut:
    """A single-use nonce, and the domain, URI and chain id the message must name."""
    nonce, expires_at = context.nonces.issue(context.now())
    return NonceOut(
        nonce=nonce,
        expires_at=expires_at,
        domain=context.domain,
        uri=context.uri,
        chain_id=context.chain_id,
    )


@router.post("/login", responses=refusals(401, 403, 413, 422, 429))
def login(body: LoginIn, context: Context) -> SessionOut:
    """Verify a signed EIP-4361 message and open a session for the account that signed it:
    an operator's or auditor's account (from the settings), a registered member's, or, for
    any other account, an applicant's (which may only register: POST
    /v1/communities/{community_id}/registrations)."""
    now = context.now()
    try:
        message = verify_siwe(
            body.message,
            body.signature,
            domain=context.domain,
            uri=context.uri,
            chain_id=context.chain_id,
            now=now,
        )
    except SiweError as exc:
        raise Refused(422 if exc.code in _MALFORMED else 401, exc.code, str(exc)) from None
    context.nonces.consume(message.nonce, now)
    address = message.address
    participant_id = community_id = None
    if address in context.operators:
        role = Role.OPERATOR
    elif address in context.auditors:
        role = Role.AUDITOR
    else:
        member = context.store.member_by_account(address)
        if member is None:
            role = Role.APPLICANT  # may register, nothing else
        else:
            role = Role.MEMBER
            participant_id, community_id = member.participant_id, member.community_id
    token, session = context.tokens.issue(address, role, participant_id, community_id, now)
    return SessionOut(
        token=token,
        expires_at=session.expires_at,
        address=address,
        role=role,
        participant_id=participant_id,
        community_id=community_id,
    )
