"""The HTTP ingest API: meters and gateways POST signed reading bundles.

Routes::

    POST /v1/readings       body {"bundles": [bundle, ...]}, each bundle the wire JSON of
                            :mod:`gridshare.metering.wire`; answers what became of every
                            reading once the accepted ones are durably stored
    GET  /v1/ingest/stats   the service's cumulative counts since it started
    GET  /healthz           liveness

A day's load profile of a thousand meters is about 100 000 readings, so the body is parsed
with orjson straight into column arrays (no pydantic model per reading), and parsing,
validation and the store transaction run in the thread pool, leaving the event loop free.

Status codes of ``POST /v1/readings``:

- 200: every bundle was processed, even if some readings were refused; the body counts
  the outcomes (``received`` = ``inserted`` + ``duplicates`` + ``conflicts`` + refused) and
  lists the first :data:`MAX_REJECTIONS_LISTED` refusals with their reasons. A bundle that
  is not a well-formed bundle is quarantined as ``malformed`` and the others are processed.
  Sending the same body again is safe: stored readings count as duplicates.
- 400: the body is not JSON of that shape; nothing was processed.
- 401: an API token is configured and the request lacks ``Authorization: Bearer <token>``.
- 413: the body is larger than ``max_body_bytes``.

Every refusal answers ``{"error": <what to do>, "reason": <machine-readable>}``. The
``Server-Timing`` header gives the server's parse and submit (validate and store) time.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from gridshare.errors import GridshareError
from gridshare.ingest.service import IngestCounts, IngestService, Offered
from gridshare.metering.wire import MalformedBundle, bundle_from_json
from gridshare.model.summary import JsonValue
from gridshare.units import MS_PER_S

MIB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 64 * MIB
"""Largest request body accepted (a day of 96 readings from ~10 000 meters)."""
MAX_REJECTIONS_LISTED = 100
"""Refusals listed in a reply; ``rejected`` counts them all."""
TRANSPORT = "http"
JSON = "application/json"


class RequestRefused(GridshareError):
    """A request refused as a whole (nothing processed): an HTTP status and a reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type=JSON)


@dataclass(frozen=True, slots=True)
class IngestReply:
    """What a ``POST /v1/readings`` did, and how long the server took (seconds)."""

    counts: IngestCounts
    parse_s: float
    submit_s: float

    def as_json(self) -> dict[str, JsonValue]:
        body = self.counts.as_json()
        body["rejections"] = [
            {
                "meter": r.meter_id,
                "start": r.start,
                "seq": r.seq,
                "reason": r.reason.value,
                "detail": r.detail,
            }
            for r in self.counts.rejections[:MAX_REJECTIONS_LISTED]
        ]
        return body

    def server_timing(self) -> str:
        return f"parse;dur={self.parse_s * MS_PER_S:.1f}, submit;dur={self.submit_s * MS_PER_S:.1f}"


def parse_body(body: bytes) -> list[Offered]:
    """The bundles of a request body; a malformed one becomes an ``Offered`` saying why.

    Raises :class:`RequestRefused` (400) when the body is not ``{"bundles": [...]}``.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, "malformed", f"the body is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.keys() != {"bundles"}:
        raise RequestRefused(
            400, "malformed", 'the body must be a JSON object {"bundles": [bundle, ...]}'
        )
    items = data["bundles"]
    if not isinstance(items, list):
        raise RequestRefused(400, "malformed", '"bundles" must be a list of bundles')
    offered = []
    for item in items:
        payload = orjson.dumps(item)  # kept with the readings if they are refused
        try:
            offered.append(Offered(bundle_from_json(item), payload))
        except MalformedBundle as exc:
            offered.append(Offered(None, payload, exc))
        except (TypeError, ValueError) as exc:  # defensive: never a 500 for bad input
            offered.append(Offered(None, payload, MalformedBundle(f"unreadable bundle: {exc}")))
    return offered


def ingest_body(service: IngestService, body: bytes) -> IngestReply:
    """Parse, validate and durably store one request body (blocking: run it in a thread)."""
    started = time.perf_counter()
    offered = parse_body(body)
    parsed = time.perf_counter()
    counts = service.submit(offered, TRANSPORT)
    return IngestReply(counts, parsed - started, time.perf_counter() - parsed)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``max_bytes``."""
    too_large = RequestRefused(
        413,
        "too_large",
        f"the body exceeds {max_bytes} bytes: send the bundles in smaller requests",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def bearer_auth(api_token: str | None) -> Callable[[Request], None]:
    """A dependency refusing requests without ``Authorization: Bearer <api_token>``."""
    expected = None if api_token is None else api_token.encode()

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise RequestRefused(
                401, "unauthorized", "send the API token as 'Authorization: Bearer <token>'"
            )

    return check


async def _refused(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestRefused):  # registered for this type only
        raise exc
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return json_response({"error": exc.message, "reason": exc.reason}, exc.status, headers)


def create_app(
    service: IngestService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    api_token: str | None = None,
) -> FastAPI:
    """The API for one ingest service; ``api_token`` None leaves it open (trusted network)."""
    app = FastAPI(title="gridshare", summary="Community microgrid: signed meter readings")
    refused: Callable[[Request, Exception], Awaitable[Response]] = _refused
    app.add_exception_handler(RequestRefused, refused)
    authorised = [Depends(bearer_auth(api_token))]

    @app.post("/v1/readings", dependencies=authorised, response_class=Response)
    async def post_readings(request: Request) -> Response:
        """Validate and store signed bundles; the reply says what became of each reading."""
        body = await read_body(request, max_body_bytes)
        reply = await run_in_threadpool(ingest_body, service, body)
        return json_response(reply.as_json(), headers={"Server-Timing": reply.server_timing()})

    @app.get("/v1/ingest/stats", dependencies=authorised, response_class=Response)
    async def ingest_stats() -> Response:
        """Readings received since the service started, per outcome and refusal reason."""
        return json_response(service.counts.as_json())

    @app.get("/healthz", response_class=Response)
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    return app


def build_server(
    service: IngestService,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    api_token: str | None = None,
    log_level: str = "info",
) -> uvicorn.Server:
    """A uvicorn server for the API (``.run()`` blocks; set ``.should_exit`` to stop)."""
    app = create_app(service, max_body_bytes=max_body_bytes, api_token=api_token)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    return uvicorn.Server(config)
