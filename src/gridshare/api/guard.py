"""The API's outer guard, one ASGI middleware around every route: the rate limit (429), the
request size limit (413) and the last-resort handler (500 with an error id, never a
traceback). Its refusals are counted like the routes' (:mod:`gridshare.api.refusals`).

A streaming response (``GET /v1/stream``) passes through it as any other: it counts once
against the rate limit when it opens, and after the request body the route reads the
server's own ``receive``, so the stream learns of the client's disconnect when it happens.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridshare.api.auth import SessionTokens, bearer_token
from gridshare.api.refusals import RefusalCounter, refusal_response

log = logging.getLogger("gridshare.api")
MAX_BUCKETS = 100_000


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``rate_per_s``."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when ``key`` may make a request now (one token taken), else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate_per_s
            if len(self._buckets) >= MAX_BUCKETS:  # forget the idle (full) buckets
                full = now - self.burst / self.rate_per_s
                self._buckets = {k: v for k, v in self._buckets.items() if v[1] > full}
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0


class Guard:
    """Rate limit, size limit and error handler around the API (pure ASGI)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        counter: RefusalCounter,
        limiter: RateLimiter,
        tokens: SessionTokens,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.counter = counter
        self.limiter = limiter
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    def _key(self, scope: Scope) -> str:
        headers = dict(scope.get("headers") or [])
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        subject = None if token is None else self.tokens.subject(token)
        if subject is not None:
            return "account:" + subject
        client = scope.get("client")
        return "ip:" + (str(client[0]) if client else "unknown")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait_s = self.limiter.take(self._key(scope))
        if wait_s > 0:
            retry = str(max(1, math.ceil(wait_s)))
            response = refusal_response(
                self.counter,
                429,
                "rate_limited",
                f"too many requests: at most {self.limiter.rate_per_s:g}/s on average "
                f"and {self.limiter.burst} at once; retry after {retry} s",
                {"Retry-After": retry},
            )
            await response(scope, receive, send)
            return
        body = await self._bounded_body(scope, receive)
        if body is None:
            response = refusal_response(
                self.counter,
                413,
                "body_too_large",
                f"the request body exceeds {self.max_body_bytes} bytes",
            )
            await response(scope, receive, send)
            return
        await self._run(scope, _replay(body, receive), send)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> list[Message] | None:
        """The request's body messages, or None when they exceed the limit."""
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # the last resort: logged with an id, answered 500, no traceback
            error_id = uuid.uuid4().hex[:12]
            log.exception("%s %s failed (error id %s)", scope["method"], scope["path"], error_id)
            if started:
                return
            response = refusal_response(
                self.counter,
                500,
                "internal_error",
                f"the node failed to answer; its log has the cause under error id {error_id}",
                error_id=error_id,
            )
            await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """The body messages read already, then the server's own ``receive``: a streaming
    response waits on it for the client's disconnect, so it must not be told one early."""
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


__all__ = ["Guard", "RateLimiter"]
