"""The committed OpenAPI document (docs/openapi.json) is the app's."""

from __future__ import annotations

from pathlib import Path

from gridshare.api.openapi import REFRESH_COMMAND, openapi_document, render

COMMITTED = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_the_apps() -> None:
    generated = render(openapi_document())
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    assert committed == generated, (
        f"{COMMITTED} differs from the API's OpenAPI document; refresh it with: {REFRESH_COMMAND}"
    )


def test_every_route_documents_its_refusals_with_the_error_body() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        assert path.startswith("/v1/")
        for method, operation in operations.items():
            refusals = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
            assert "429" in refusals, f"{method} {path} does not document the rate limit"
            for status, response in refusals.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
