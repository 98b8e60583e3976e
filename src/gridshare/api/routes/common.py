"""What the routes share: the refusals each documents, the query parameters of a range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from gridshare.api.ranges import Resolution
from gridshare.api.schemas import ErrorOut


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusals a route may answer (the body is always ErrorOut)."""
    what = {
        401: "no session token, or an expired or foreign one",
        403: "signed in, but not allowed to read this",
        404: "no such participant or community",
        409: "the request conflicts with the resource's state: the detail says which",
        413: "the request body is too large",
        422: "the request is malformed: the detail says which part",
        429: "rate limited: retry after the Retry-After header's seconds",
        503: "this node does not offer the service the route needs: the detail says why",
    }
    return {status: {"model": ErrorOut, "description": what[status]} for status in statuses}


READ_REFUSALS = refusals(401, 403, 404, 422, 429)

Start = Annotated[
    str,
    Query(
        description="first instant, included: aware ISO-8601 (2025-06-02T00:00:00Z), "
        "aligned to the resolution",
        examples=["2025-06-02T00:00:00Z"],
    ),
]
End = Annotated[
    str,
    Query(
        description="end instant, excluded: aware ISO-8601, aligned to the resolution",
        examples=["2025-06-03T00:00:00Z"],
    ),
]
ResolutionQuery = Annotated[Resolution, Query(description="bucket: 15min, hour or day (UTC days)")]
