"""Sessions without the app: the node's secret file, nonces used once, tokens that expire
or are forged, the token bucket."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from gridshare.api.auth import (
    NonceBook,
    Role,
    SessionTokens,
    load_or_create_secret,
    parse_accounts,
)
from gridshare.api.guard import RateLimiter
from gridshare.api.refusals import Refused
from gridshare.errors import ConfigurationError
from gridshare.settings import Settings

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_the_secret_is_made_once_with_mode_0600_and_kept(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / "api" / "session_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_or_create_secret(tmp_path) == first
    assert load_or_create_secret(tmp_path / "other") != first


def test_a_secret_others_can_read_is_refused(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path)
    path = tmp_path / "api" / "session_secret"
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_or_create_secret(tmp_path)


def test_a_nonce_is_good_once_and_until_it_expires() -> None:
    book = NonceBook(timedelta(minutes=5))
    nonce, expires_at = book.issue(NOW)
    assert expires_at == NOW + timedelta(minutes=5)
    assert book.outstanding() == 1
    book.consume(nonce, NOW)
    with pytest.raises(Refused) as again:
        book.consume(nonce, NOW)
    assert (again.value.status, again.value.code) == (401, "nonce_unknown")
    late, _ = book.issue(NOW)
    with pytest.raises(Refused):
        book.consume(late, NOW + timedelta(minutes=5))
    with pytest.raises(Refused):
        book.consume("never-issued", NOW)


def test_a_token_speaks_for_its_account_until_it_expires() -> None:
    tokens = SessionTokens(bytes(range(32)), timedelta(minutes=15))
    token, issued = tokens.issue(ADDRESS, Role.MEMBER, "c:m1", "c", NOW)
    principal = tokens.verify(token, NOW + timedelta(minutes=14))
    assert principal == issued
    assert (principal.address, principal.role, principal.participant_id) == (
        ADDRESS,
        Role.MEMBER,
        "c:m1",
    )
    assert tokens.subject(token) == ADDRESS
    with pytest.raises(Refused) as expired:
        tokens.verify(token, NOW + timedelta(minutes=15))
    assert (expired.value.status, expired.value.code) == (401, "token_expired")


def test_a_token_from_another_secret_or_altered_is_refused() -> None:
    ours = SessionTokens(bytes(range(32)), timedelta(minutes=15))
    theirs = SessionTokens(bytes(range(1, 33)), timedelta(minutes=15))
    forged, _ = theirs.issue(ADDRESS, Role.OPERATOR, None, None, NOW)
    token, _ = ours.issue(ADDRESS, Role.MEMBER, "c:m1", "c", NOW)
    claims, _, mac = token.partition(".")
    promoted, _ = ours.issue(ADDRESS, Role.OPERATOR, None, None, NOW)
    spliced = promoted.partition(".")[0] + "." + mac  # an operator's claims, a member's MAC
    for bad in (forged, spliced, claims, token + "x", "", "a.b"):
        with pytest.raises(Refused) as refused:
            ours.verify(bad, NOW)
        assert (refused.value.status, refused.value.code) == (401, "token_invalid")
        assert ours.subject(bad) is None


def test_configured_accounts_are_checksummed_and_a_bad_one_refused() -> None:
    assert parse_accounts([ADDRESS.lower()], "api_operators") == frozenset({ADDRESS})
    with pytest.raises(ConfigurationError, match="GRIDSHARE_API_OPERATORS"):
        parse_accounts(["0x1234"], "api_operators")


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=lambda: clock[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # buckets are per key
    clock[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock[0] = 100.0  # refilled, never above the burst
    assert [limiter.take("a") for _ in range(4)][-1] > 0


def test_api_settings_come_from_the_environment_and_refuse_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDSHARE_API_OPERATORS", f'["{ADDRESS}"]')
    monkeypatch.setenv("GRIDSHARE_API_RATE_BURST", "7")
    settings = Settings()
    assert (settings.api_operators, settings.api_rate_burst) == ([ADDRESS], 7)
    monkeypatch.setenv("GRIDSHARE_API_RATE_BURST", "0")
    with pytest.raises(ValidationError, match="api_rate_burst"):
        Settings()
