"""Sign-In with Ethereum (EIP-4361): the message a wallet signs, parsed and verified.

A client asks the node for a nonce, builds the message below, has the member's wallet sign
it with ``personal_sign`` (EIP-191) and sends both; the node checks the message was meant
for it (domain, URI, chain id), is within its validity window, and was signed by the
account it names. The nonce is checked last (:class:`gridshare.api.auth.NonceBook`), so a
forged message cannot use up someone else's nonce::

    localhost:8000 wants you to sign in with your Ethereum account:
    0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed

    Sign in to gridshare.

    URI: http://localhost:8000
    Version: 1
    Chain ID: 1337
    Nonce: 9f3c5a1e2b7d4c60
    Issued At: 2025-06-02T12:00:00Z
    Expiration Time: 2025-06-02T12:05:00Z

Pure functions: the caller passes the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from gridshare.errors import GridshareError
from gridshare.evm import EvmEncodingError, checksum_address, parse_address, recover_personal_signer
from gridshare.units import UnitError, from_unix_seconds, parse_utc_seconds

__all__ = ["SiweError", "SiweMessage", "format_siwe_message", "parse_siwe_message", "verify_siwe"]

HEADER = " wants you to sign in with your Ethereum account:"
CLOCK_SKEW = timedelta(seconds=60)
"""How far a client's clock may run ahead of the node's (issued-at, not-before)."""
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_FIELDS = (
    "URI",
    "Version",
    "Chain ID",
    "Nonce",
    "Issued At",
    "Expiration Time",
    "Not Before",
    "Request ID",
)
_REQUIRED = frozenset(("URI", "Version", "Chain ID", "Nonce", "Issued At"))


class SiweError(GridshareError):
    """A sign-in refused: ``code`` is machine-readable, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SiweMessage:
    """The fields of an EIP-4361 message (times as aware UTC datetimes)."""

    domain: str
    address: str
    """EIP-55 checksummed, as the message must write it."""
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def _time(name: str, text: str) -> datetime:
    try:
        return from_unix_seconds(parse_utc_seconds(text))
    except UnitError as exc:
        raise SiweError("malformed_message", f"{name}: {exc}") from None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def format_siwe_message(message: SiweMessage) -> str:
    """The text of ``message`` as EIP-4361 writes it (what the wallet signs)."""
    lines = [message.domain + HEADER, message.address, ""]
    if message.statement is not None:
        lines += [message.statement, ""]
    else:
        lines.append("")
    lines += [
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {_iso(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {_iso(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {_iso(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources:
        lines += ["Resources:", *(f"- {r}" for r in message.resources)]
    return "\n".join(lines)


def _header(lines: list[str]) -> tuple[str, str]:
    if len(lines) < 3 or not lines[0].endswith(HEADER):
        raise SiweError(
            "malformed_message",
            f"the first line must be '<domain>{HEADER}' (EIP-4361)",
        )
    domain = lines[0].removesuffix(HEADER)
    domain = domain.split("://", 1)[1] if "://" in domain else domain
    try:
        address = checksum_address(parse_address(lines[1]))
    except EvmEncodingError as exc:
        raise SiweError(
            "malformed_message", f"the second line must be the EIP-55 account address: {exc}"
        ) from None
    if not domain or lines[2] != "":
        raise SiweError("malformed_message", "a domain and an empty line after the address")
    return domain, address


def _fields(lines: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    values: dict[str, str] = {}
    position = 0
    for index, line in enumerate(lines):
        if line == "Resources:":
            resources = tuple(item.removeprefix("- ") for item in lines[index + 1 :])
            if not all(item.startswith("- ") for item in lines[index + 1 :]):
                raise SiweError("malformed_message", "each resource line starts with '- '")
            return values, resources
        name, sep, value = line.partition(": ")
        if not sep or name not in _FIELDS[position:]:
            raise SiweError(
                "malformed_message",
                f"unexpected line {line[:60]!r}: fields come in the order {', '.join(_FIELDS)}",
            )
        position = _FIELDS.index(name) + 1
        values[name] = value
    return values, ()


def parse_siwe_message(text: str) -> SiweMessage:
    """The fields of an EIP-4361 message; :class:`SiweError` ``malformed_message`` if the
    text is not one."""
    lines = text.split("\n")
    domain, address = _header(lines)
    rest = lines[3:]
    statement = None
    if rest and rest[0] != "" and not rest[0].startswith("URI: "):
        statement = rest[0]
        rest = rest[1:]
    while rest and rest[0] == "":
        rest = rest[1:]
    values, resources = _fields(rest)
    missing = sorted(_REQUIRED - values.keys())
    if missing:
        raise SiweError("malformed_message", f"the message lacks {', '.join(missing)}")
    if values["Version"] != "1":
        raise SiweError("malformed_message", "Version must be 1 (EIP-4361)")
    if not values["Chain ID"].isdigit():
        raise SiweError("malformed_message", "Chain ID must be a decimal integer")
    if not _NONCE.fullmatch(values["Nonce"]):
        raise SiweError("malformed_message", "the nonce is at least 8 letters and digits")
    expiration = values.get("Expiration Time")
    not_before = values.get("Not Before")
    return SiweMessage(
        domain=domain,
        address=address,
        statement=statement,
        uri=values["URI"],
        version=values["Version"],
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=_time("Issued At", values["Issued At"]),
        expiration_time=None if expiration is None else _time("Expiration Time", expiration),
        not_before=None if not_before is None else _time("Not Before", not_before),
        request_id=values.get("Request ID"),
        resources=resources,
    )


def _parse_signature(signature: str) -> bytes:
    text = signature.removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 65:
        raise SiweError("malformed_signature", "the signature is 0x and 130 hex digits (r, s, v)")
    return raw


def verify_siwe(
    text: str,
    signature: str,
    *,
    domain: str,
    uri: str,
    chain_id: int,
    now: datetime,
) -> SiweMessage:
    """The message, once it is shown to be meant for this node and signed by the account
    it names; otherwise :class:`SiweError`. The caller still checks the nonce."""
    message = parse_siwe_message(text)
    raw = _parse_signature(signature)
    if message.domain != domain:
        raise SiweError(
            "wrong_domain", f"the message is for {message.domain!r}; sign in to {domain!r}"
        )
    if message.uri != uri:
        raise SiweError("wrong_uri", f"the message names URI {message.uri!r}; use {uri!r}")
    if message.chain_id != chain_id:
        raise SiweError(
            "wrong_chain",
            f"the message is for chain {message.chain_id}; this node is on {chain_id}",
        )
    if message.issued_at > now + CLOCK_SKEW:
        raise SiweError("not_yet_valid", "Issued At is in the future: check the client's clock")
    if message.not_before is not None and message.not_before > now + CLOCK_SKEW:
        raise SiweError("not_yet_valid", "the message is not valid before its Not Before time")
    if message.expiration_time is not None and message.expiration_time <= now:
        raise SiweError("expired", "the message has expired: ask for a new nonce and sign again")
    signer = recover_personal_signer(text.encode(), raw)
    if signer is None or checksum_address(signer) != message.address:
        raise SiweError(
            "bad_signature",
            f"the signature is not {message.address}'s personal_sign of this exact message",
        )
    return message
