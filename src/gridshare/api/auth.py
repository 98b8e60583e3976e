"""Sessions: the node's token secret, sign-in nonces, session tokens and who holds them.

- The secret that signs session tokens is made by the node the first time it starts
  (32 random bytes) and kept in ``DATA_DIR/api/session_secret`` with mode 0600; a file
  others can read is refused. There is no built-in secret.
- A nonce (:class:`NonceBook`) is good for one sign-in, within ``api_nonce_s``.
- A session token is ``base64url(claims) "." base64url(HMAC-SHA256(secret, claims))``,
  valid for ``api_session_s``. It carries the role fixed at sign-in: changing the operator
  or auditor accounts takes effect at the next sign-in (at most one session later).
- Roles: ``operator`` and ``auditor`` are accounts listed in the settings; ``member`` is a
  participant whose own account (``participants.account_address``) signed in; any other
  account signs in as an ``applicant``, which may only register (and, once the operator
  approved it and the node took it in, signs in again as a member).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import orjson

from gridshare.api.refusals import Refused
from gridshare.errors import ConfigurationError
from gridshare.evm import EvmEncodingError, checksum_address, parse_address
from gridshare.units import from_unix_seconds, to_unix_seconds

SECRET_BYTES = 32
MAX_OUTSTANDING_NONCES = 10_000


class Role(StrEnum):
    """What a signed-in account may do."""

    MEMBER = "member"
    """Reads its own meters, balances and money, and its community's aggregates."""
    OPERATOR = "operator"
    """Runs the community: reads everything (and, later, changes configuration)."""
    AUDITOR = "auditor"
    """Reads everything, changes nothing."""
    APPLICANT = "applicant"
    """An account that is none of the above: it may register as a member and follow its
    registration, nothing else."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid session token speaks for."""

    address: str
    role: Role
    participant_id: str | None
    community_id: str | None
    expires_at: datetime

    @property
    def reads_everything(self) -> bool:
        return self.role in (Role.OPERATOR, Role.AUDITOR)


def load_or_create_secret(data_dir: Path) -> bytes:
    """The node's token secret, created (mode 0600) on first use."""
    folder = data_dir / "api"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "session_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{path} is readable by others (mode {mode:o}): run chmod 600 {path}"
            ) from None
        text = path.read_text().strip()
        if len(text) != 2 * SECRET_BYTES or any(c not in "0123456789abcdef" for c in text):
            raise ConfigurationError(
                f"{path} is not a session secret; delete it to make a new one "
                "(every session signs in again)"
            ) from None
        return bytes.fromhex(text)
    secret = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    return secret


def parse_accounts(addresses: list[str], setting: str) -> frozenset[str]:
    """Configured accounts, EIP-55; a malformed one is a configuration error."""
    accounts = set()
    for text in addresses:
        try:
            accounts.add(checksum_address(parse_address(text, checksummed=False)))
        except EvmEncodingError as exc:
            raise ConfigurationError(f"GRIDSHARE_{setting.upper()}: {exc}") from None
    return frozenset(accounts)


class NonceBook:
    """Outstanding sign-in nonces, each usable once before it expires (in memory: a
    restart asks clients for new ones)."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self._expiry: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def issue(self, now: datetime) -> tuple[str, datetime]:
        with self._lock:
            if len(self._expiry) >= MAX_OUTSTANDING_NONCES:
                self._expiry = {n: at for n, at in self._expiry.items() if at > now}
            if len(self._expiry) >= MAX_OUTSTANDING_NONCES:
                raise Refused(
                    429, "too_many_nonces", "too many sign-ins under way; try again in a minute"
                )
            nonce = secrets.token_hex(16)
            expires_at = now + self.lifetime
            self._expiry[nonce] = expires_at
        return nonce, expires_at

    def consume(self, nonce: str, now: datetime) -> None:
        """Use ``nonce`` up; :class:`Refused` 401 if it was never issued, is used or expired."""
        with self._lock:
            expires_at = self._expiry.pop(nonce, None)
        if expires_at is None or expires_at <= now:
            raise Refused(
                401,
                "nonce_unknown",
                "the nonce was not issued by this node, was used already or expired: "
                "POST /v1/auth/nonce and sign a new message",
            )

    def outstanding(self) -> int:
        with self._lock:
            return len(self._expiry)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionTokens:
    """Issues and checks session tokens with the node's secret."""

    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        if len(secret) < SECRET_BYTES:
            raise ConfigurationError(f"a session secret has at least {SECRET_BYTES} bytes")
        self._secret = secret
        self.lifetime = lifetime

    def _mac(self, claims: str) -> str:
        return _b64(hmac.new(self._secret, claims.encode(), hashlib.sha256).digest())

    def issue(
        self,
        address: str,
        role: Role,
        participant_id: str | None,
        community_id: str | None,
        now: datetime,
    ) -> tuple[str, Principal]:
        expires_at = now + self.lifetime
        claims = _b64(
            orjson.dumps(
                {
                    "sub": address,
                    "role": role.value,
                    "pid": participant_id,
                    "cid": community_id,
                    "iat": to_unix_seconds(now),
                    "exp": to_unix_seconds(expires_at),
                    "jti": secrets.token_hex(8),
                }
            )
        )
        principal = Principal(address, role, participant_id, community_id, expires_at)
        return f"{claims}.{self._mac(claims)}", principal

    def subject(self, token: str) -> str | None:
        """The account of a genuine token (expired or not), None for anything else: what
        the rate limiter keys on."""
        claims, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(claims)):
            return None
        try:
            return str(orjson.loads(_unb64(claims))["sub"])
        except (ValueError, KeyError, TypeError):
            return None

    def verify(self, token: str, now: datetime) -> Principal:
        """Who ``token`` speaks for; :class:`Refused` 401 when it is not genuine or expired."""
        claims, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(claims)):
            raise Refused(
                401, "token_invalid", "the token is not one this node issued: sign in again"
            )
        try:
            data = orjson.loads(_unb64(claims))
            principal = Principal(
                str(data["sub"]),
                Role(data["role"]),
                data["pid"],
                data["cid"],
                from_unix_seconds(int(data["exp"])),
            )
        except (ValueError, KeyError, TypeError):
            raise Refused(401, "token_invalid", "the token is unreadable: sign in again") from None
        if principal.expires_at <= now:
            raise Refused(
                401, "token_expired", "the session has expired: sign in again (POST /v1/auth/nonce)"
            )
        return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
