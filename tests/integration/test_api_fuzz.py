"""Property-based fuzzing of the REST API from its own OpenAPI document (schemathesis):
for requests generated from the schema, valid and invalid, signed in as a member and as
nobody, the API never answers 5xx, answers only the status codes it documents, with the
documented content type and a body that matches the documented schema.

The live stream (GET /v1/stream) is fuzzed too, but it runs until it is told to end: every
generated request to it that would last longer is bounded by its own ``max_duration_s``
query parameter (at most :data:`STREAM_S`), since the test client reads a response whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gridshare.api.app import create_app
from gridshare.app.registrations import CommunityFile
from gridshare.market.orders import MarketVenue
from gridshare.simulator.run import prepare
from tests.integration.test_api import (  # noqa: F401 - the store fixture, re-used
    NOW,
    Populated,
    TestClient,
    populated,
    settings_for,
    sign_in,
)
from tests.integration.test_api_market import CONTRACT, RULES
from tests.integration.test_api_registrations import TINY
from tests.siwe import CHAIN_ID

IN_CI = os.environ.get("CI") == "true"
EXAMPLES = 40
"""Generated requests per operation (each sent twice: anonymous and signed in)."""

STREAM_S = 0.3
"""The longest a fuzzed request to the live stream may last (s)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    populated: Populated,  # noqa: F811
    tmp_path: Path,
) -> None:
    # generous rate limits: the fuzzer's requests, not the limiter, are under test here
    app = create_app(
        populated.store,
        settings_for(populated, tmp_path, api_rate_per_s=1e6, api_rate_burst=1_000_000),
        chain_id=CHAIN_ID,
        market=MarketVenue(populated.community.community_id, CHAIN_ID, CONTRACT, RULES),
        now=lambda: NOW,
        community_file=CommunityFile(prepare(TINY)),
    )
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    # signed in without the app's lifespan: its end would end every live stream
    member = sign_in(TestClient(app), populated.members[0])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every route of the API, not an empty document

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=IN_CI,  # CI replays the same requests; elsewhere each run explores
            suppress_health_check=list(HealthCheck),
        )
        def holds(case: schemathesis.Case) -> None:
            if case.path == "/v1/stream":
                _bounded(case)
            case.call_and_validate(checks=CHECKS)  # as nobody
            case.call_and_validate(headers=member, checks=CHECKS)  # as a signed-in member

        holds()


def _bounded(case: schemathesis.Case) -> None:
    """Cap a generated stream request's duration (a malformed value is left: it is refused
    with 422 before the stream starts)."""
    query: dict[str, Any] = dict(case.query or {})
    given = query.get("max_duration_s")
    if given is None or (isinstance(given, int | float) and given > STREAM_S):
        query["max_duration_s"] = STREAM_S
    case.query = query
