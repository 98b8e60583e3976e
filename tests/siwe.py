"""Sign-in messages signed as a wallet signs them (eth-account's ``personal_sign``), for the
API's unit and integration tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from gridshare.api.siwe import SiweMessage, format_siwe_message

DOMAIN = "node.example:8443"
URI = "https://node.example:8443"
CHAIN_ID = 1337


def new_account() -> LocalAccount:
    """A fresh key, generated in the test."""
    account: LocalAccount = Account.create()
    return account


def siwe_text(
    account: LocalAccount,
    nonce: str,
    now: datetime,
    *,
    domain: str = DOMAIN,
    uri: str = URI,
    chain_id: int = CHAIN_ID,
    lifetime: timedelta = timedelta(minutes=5),
    statement: str | None = "Sign in to gridshare.",
) -> str:
    return format_siwe_message(
        SiweMessage(
            domain=domain,
            address=account.address,
            statement=statement,
            uri=uri,
            version="1",
            chain_id=chain_id,
            nonce=nonce,
            issued_at=now,
            expiration_time=now + lifetime,
        )
    )


def personal_sign(account: LocalAccount, text: str) -> str:
    """The wallet's ``personal_sign`` of ``text``: 0x, r ++ s ++ v (v = 27 or 28)."""
    signed = Account.sign_message(encode_defunct(text=text), account.key)
    return "0x" + bytes(signed.signature).hex()
