"""Sign-In with Ethereum: messages parsed as EIP-4361 writes them and verified against the
node's domain, URI, chain id and clock, with keys generated here and signed by eth-account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.siwe import (
    CHAIN_ID,
    DOMAIN,
    URI,
    new_account,
    personal_sign,
    siwe_text,
)

from gridshare.api.siwe import SiweError, parse_siwe_message, verify_siwe

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
NONCE = "a1b2c3d4e5f60718"

# EIP-4361's own example message (with the spec's example account).
SPEC_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def verify(text: str, signature: str, **overrides: object) -> object:
    options: dict[str, object] = {"domain": DOMAIN, "uri": URI, "chain_id": CHAIN_ID, "now": NOW}
    options.update(overrides)
    return verify_siwe(text, signature, **options)  # type: ignore[arg-type]


def test_the_specs_example_message_parses() -> None:
    message = parse_siwe_message(SPEC_EXAMPLE)
    assert message.domain == "service.org"
    assert message.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert message.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert (message.uri, message.version, message.chain_id) == ("https://service.org/login", "1", 1)
    assert message.nonce == "32891756"
    assert message.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert message.expiration_time is None
    assert message.resources == (
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    )


@pytest.mark.parametrize("statement", ["Sign in to gridshare.", None])
def test_a_wallet_signed_message_verifies_to_its_account(statement: str | None) -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW, statement=statement)
    message = verify(text, personal_sign(account, text))
    assert message == parse_siwe_message(text)
    assert parse_siwe_message(text).address == account.address
    assert parse_siwe_message(text).statement == statement
    assert parse_siwe_message(text).nonce == NONCE


def test_a_message_for_another_domain_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW, domain="evil.example")
    with pytest.raises(SiweError, match="sign in to 'node.example:8443'") as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "wrong_domain"


def test_a_message_for_another_uri_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW, uri="https://evil.example")
    with pytest.raises(SiweError) as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "wrong_uri"


def test_a_message_for_another_chain_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW, chain_id=1)
    with pytest.raises(SiweError, match="this node is on 1337") as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "wrong_chain"


def test_an_expired_message_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW - timedelta(minutes=10), lifetime=timedelta(minutes=5))
    with pytest.raises(SiweError) as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "expired"
    # the same message was good while it lasted
    verify(text, personal_sign(account, text), now=NOW - timedelta(minutes=6))


def test_a_message_issued_in_the_future_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW + timedelta(minutes=5))
    with pytest.raises(SiweError) as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "not_yet_valid"


def test_a_signature_by_another_key_is_refused() -> None:
    account, other = new_account(), new_account()
    text = siwe_text(account, NONCE, NOW)
    with pytest.raises(SiweError, match=account.address) as refused:
        verify(text, personal_sign(other, text))
    assert refused.value.code == "bad_signature"


def test_a_signature_of_another_message_is_refused() -> None:
    account = new_account()
    text = siwe_text(account, NONCE, NOW)
    signature = personal_sign(account, text.replace(NONCE, "ffffffffffffffff"))
    with pytest.raises(SiweError) as refused:
        verify(text, signature)
    assert refused.value.code == "bad_signature"


@pytest.mark.parametrize("signature", ["0x1234", "0x" + "zz" * 65, ""])
def test_a_malformed_signature_is_refused(signature: str) -> None:
    text = siwe_text(new_account(), NONCE, NOW)
    with pytest.raises(SiweError) as refused:
        verify(text, signature)
    assert refused.value.code == "malformed_signature"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.replace(" wants you to sign in", " wants you to log in"), "first line"),
        (lambda t: t.replace("Version: 1", "Version: 2"), "Version must be 1"),
        (lambda t: t.replace("Chain ID: 1337", "Chain ID: one"), "decimal"),
        (lambda t: t.replace("Nonce: a1b2c3d4e5f60718", "Nonce: short"), "nonce"),
        (lambda t: t.replace("\nNonce: a1b2c3d4e5f60718", ""), "lacks Nonce"),
        (lambda t: t.replace("Issued At: 2025-06-02T12:00:00Z", "Issued At: noon"), "ISO 8601"),
        (
            lambda t: t.replace(
                "Issued At: 2025-06-02T12:00:00Z", "Issued At: 2025-06-02T12:00:00"
            ),
            "no UTC offset",
        ),
        (lambda t: t.replace("URI: ", "Uri: "), "unexpected line"),
        (lambda t: t.replace(t.split("\n")[1], t.split("\n")[1].lower()), "EIP-55"),
    ],
)
def test_a_malformed_message_is_refused_saying_why(change: object, reason: str) -> None:
    account = new_account()
    text = change(siwe_text(account, NONCE, NOW))  # type: ignore[operator]
    with pytest.raises(SiweError, match=reason) as refused:
        verify(text, personal_sign(account, text))
    assert refused.value.code == "malformed_message"
