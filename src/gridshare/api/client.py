"""A client of the node's API for people with a key file: sign in with the key (EIP-4361,
signed here, so the key never leaves the machine), then call the API with the session.
The CLI's ``register`` and ``registrations`` commands use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from gridshare.api.siwe import SiweMessage, format_siwe_message
from gridshare.errors import GridshareError

__all__ = ["MessageSigner", "NodeClient", "NodeRefused"]

SIGN_IN_LIFETIME = timedelta(minutes=5)


class MessageSigner(Protocol):
    """A key that signs messages as a wallet does (``personal_sign``)."""

    @property
    def address(self) -> str: ...

    def sign_message(self, text: str) -> bytes: ...


class NodeRefused(GridshareError):
    """The node answered with a refusal: its status, code and reason."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"the node refused ({status} {code}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class NodeClient:
    """Calls to one node, signed in as ``signer`` (``http`` is injectable: tests pass an
    in-process client)."""

    def __init__(
        self, base_url: str, signer: MessageSigner, *, http: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.http = http or httpx.Client(base_url=self.base_url, timeout=30)
        self._token: str | None = None
        self.role: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GridshareError(f"cannot reach the node at {self.base_url}: {exc}") from None
        if reply.status_code >= 400:
            try:
                body = reply.json()
                code, detail = str(body["error"]), str(body["detail"])
            except (ValueError, KeyError, TypeError):
                code, detail = "http_error", reply.text[:300]
            raise NodeRefused(reply.status_code, code, detail)
        return reply.json()

    def sign_in(self) -> str:
        """Open a session: the node's nonce, the message signed with the key, a token.
        Returns the role the node gives the key."""
        offered = self._call("POST", "/v1/auth/nonce")
        now = datetime.now(UTC).replace(microsecond=0)
        text = format_siwe_message(
            SiweMessage(
                domain=str(offered["domain"]),
                address=self.signer.address,
                statement="Sign in to gridshare.",
                uri=str(offered["uri"]),
                version="1",
                chain_id=int(offered["chain_id"]),
                nonce=str(offered["nonce"]),
                issued_at=now,
                expiration_time=now + SIGN_IN_LIFETIME,
            )
        )
        signature = "0x" + self.signer.sign_message(text).hex()
        session = self._call(
            "POST", "/v1/auth/login", json={"message": text, "signature": signature}
        )
        self._token = str(session["token"])
        self.role = str(session["role"])
        return self.role

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call in the session (signed in first if need be)."""
        if self._token is None:
            self.sign_in()
        headers = {"Authorization": f"Bearer {self._token}"}
        return self._call(method, path, headers=headers, **kwargs)
