"""Members on the chain through the node: their own signed transactions relayed, gas for
them, their escrow.

- ``POST /v1/chain/transactions``: a transaction the member signed in their wallet,
  calling one of the member functions of the community's contracts (escrow deposit,
  withdrawal request and withdrawal, nonce cancelling, disputes and fill challenges;
  certificate transfer, approval and retirement with beneficiary and purpose; credit
  approve and transfer). Refused (422, with the code) otherwise, or 403 when the signed-in
  member did not sign it. The node relays it between two intervals and answers with its
  receipt when the chain mined it at once.
- ``GET /v1/chain/transactions/{tx_hash}``: its receipt.
- ``POST /v1/chain/gas``: the member's account topped up with gas money by the operator.
- ``GET /v1/members/{participant_id}/escrow``: escrow and withdrawal request on chain.

Nothing here moves a member's money or certificates without that member's signature: the
node only passes on what they signed.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from gridshare.api.auth import Principal, Role
from gridshare.api.context import ApiContext, Caller, Context
from gridshare.api.refusals import Refused
from gridshare.api.routes.common import refusals
from gridshare.api.routes.members import readable_member
from gridshare.api.schemas import EscrowOut, GasOut, TransactionIn, TransactionOut
from gridshare.app.members_chain import MembersChain, Receipt
from gridshare.errors import GridshareError
from gridshare.ledger.relay import RelayRefused
from gridshare.units import from_unix_seconds

router = APIRouter(prefix="/v1", tags=["chain"])
CHAIN_REFUSALS = refusals(401, 403, 404, 409, 413, 422, 429, 503)


def _chain(context: ApiContext) -> MembersChain:
    if context.chain is None:
        raise Refused(
            404, "no_relay", "this node relays no member transactions (it runs no market)"
        )
    return context.chain


def _member(caller: Principal) -> None:
    if caller.role is not Role.MEMBER:
        raise Refused(
            403, "wrong_role", "members send their own transactions; the operator has its own key"
        )


def _out(
    receipt: Receipt, contract: str | None = None, function: str | None = None
) -> TransactionOut:
    status: Literal["done", "reverted", "pending"] = "pending"
    if receipt.status is not None:
        status = "done" if receipt.status == 1 else "reverted"
    return TransactionOut(
        tx_hash=receipt.tx_hash,
        contract=contract,
        function=function,
        status=status,
        block=receipt.block,
        gas_used=receipt.gas_used,
    )


def _busy(exc: GridshareError) -> Refused:
    return Refused(503, "chain_unavailable", str(exc))


@router.post("/chain/transactions", status_code=202, responses=CHAIN_REFUSALS)
def relay(body: TransactionIn, caller: Caller, context: Context) -> TransactionOut:
    """Relay a transaction the signed-in member signed (one of the member functions of the
    community's contracts). 202 with its receipt: ``done``, ``reverted`` (the contract
    refused it; the member paid its gas) or ``pending``."""
    _member(caller)
    chain = _chain(context)
    try:
        call = chain.check(bytes.fromhex(body.raw[2:]))
    except (RelayRefused, ValueError) as exc:
        code = exc.code if isinstance(exc, RelayRefused) else "malformed_transaction"
        raise Refused(422, code, str(exc)) from None
    if call.sender != caller.address.lower():
        raise Refused(
            403, "not_yours", f"the transaction is signed by {call.sender}, not by {caller.address}"
        )
    try:
        receipt = chain.send(call)
    except RelayRefused as exc:
        raise Refused(422, exc.code, str(exc)) from None
    except GridshareError as exc:
        raise _busy(exc) from None
    return _out(receipt, call.contract, call.function)


@router.get("/chain/transactions/{tx_hash}", responses=CHAIN_REFUSALS)
def transaction(tx_hash: str, caller: Caller, context: Context) -> TransactionOut:
    """A relayed (or any) transaction's receipt: ``pending`` until mined."""
    chain = _chain(context)
    if len(tx_hash) != 66 or not tx_hash.startswith("0x"):
        raise Refused(422, "bad_hash", "a transaction hash is 0x and 64 hex digits")
    try:
        int(tx_hash, 16)
        return _out(chain.receipt(tx_hash.lower()))
    except ValueError:
        raise Refused(422, "bad_hash", "a transaction hash is 0x and 64 hex digits") from None
    except GridshareError as exc:
        raise _busy(exc) from None


@router.post("/chain/gas", responses=CHAIN_REFUSALS)
def gas(caller: Caller, context: Context) -> GasOut:
    """Top the signed-in member's account up with gas money (from the operator), so that
    they can send their own transactions; nothing when it holds enough."""
    _member(caller)
    chain = _chain(context)
    try:
        sent = chain.fund_gas(caller.address)
    except GridshareError as exc:
        raise _busy(exc) from None
    return GasOut(account=caller.address, sent_wei=sent)


@router.get("/members/{participant_id}/escrow", responses=CHAIN_REFUSALS)
def escrow(participant_id: str, caller: Caller, context: Context) -> EscrowOut:
    """The member's escrow in the P2PTrading contract and their withdrawal request, as the
    chain holds them (the member, the operator, the auditor)."""
    member = readable_member(caller, participant_id, context)
    chain = _chain(context)
    if member.account_address is None:
        raise Refused(409, "no_account", f"{participant_id} has no account on chain")
    try:
        view = chain.escrow(member.account_address)
    except GridshareError as exc:
        raise _busy(exc) from None
    return EscrowOut(
        participant_id=participant_id,
        account=member.account_address,
        escrow_micros=view.escrow_micros,
        withdrawal_micros=view.withdrawal_micros,
        withdrawal_due_at=from_unix_seconds(view.withdrawal_due_s)
        if view.withdrawal_due_s
        else None,
    )
