"""Refusals: every one an HTTP status and a JSON body ``{"error": <code>, "detail": <what
to do>}``, counted per code (``GET /v1/status``), and nothing stored.

=====  =====================================================================
401    ``unauthenticated``, ``token_invalid``, ``token_expired`` and the sign-in
       refusals (``wrong_domain``, ``wrong_uri``, ``wrong_chain``, ``expired``,
       ``not_yet_valid``, ``bad_signature``, ``nonce_unknown``)
403    ``not_yours``, ``wrong_role``, ``not_registered``, ``group_too_small``
404    ``not_found``, ``unknown_participant``, ``unknown_community``,
       ``no_configuration``, ``no_verify_job``, ``unknown_job``
409    ``not_open``, ``verify_running``
413    ``body_too_large``
422    ``invalid_request``, ``malformed_message``, ``malformed_signature``,
       ``invalid_range``, ``range_too_large``, ``resolution_too_fine``,
       ``too_many_rows``, ``invalid_cursor``
429    ``rate_limited``, ``too_many_nonces``, ``too_many_streams``
500    ``internal_error`` (with an ``error_id`` that is in the node's log)
503    ``verify_unavailable`` (the node gave the API no verifier)
=====  =====================================================================
"""

from __future__ import annotations

import threading
from collections import Counter

import orjson
from starlette.responses import Response

from gridshare.errors import GridshareError

JSON = "application/json"


class Refused(GridshareError):
    """A request refused: ``status``, a machine-readable ``code`` and what to do."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


class RefusalCounter:
    """Refusals per code since the node started (thread-safe: sync routes run in threads)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, code: str) -> None:
        with self._lock:
            self._counts[code] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def refusal_response(
    counter: RefusalCounter,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Response:
    """The refusal's response, counted."""
    counter.count(code)
    body = {"error": code, "detail": detail, **extra}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return Response(orjson.dumps(body), status, headers, media_type=JSON)
