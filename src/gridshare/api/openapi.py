"""The API's OpenAPI document, as committed in ``docs/openapi.json``.

Refresh it after changing a route or a schema::

    PYTHONPATH=src python -m gridshare.api.openapi docs/openapi.json

``tests/unit/api/test_openapi.py`` fails when the committed document differs from the
app's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from gridshare.api.app import create_app
from gridshare.api.ports import ApiStore
from gridshare.settings import Settings

REFRESH_COMMAND = "PYTHONPATH=src python -m gridshare.api.openapi docs/openapi.json"


def openapi_document() -> dict[str, Any]:
    """The document of the app as :func:`create_app` builds it (no route is run, so no
    store is needed; the session secret is a throwaway one in a temporary directory)."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(cast(ApiStore, object()), Settings(data_dir=Path(data_dir)), chain_id=1)
        return app.openapi()


def render(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indents, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(f"usage: {REFRESH_COMMAND}\n")
        return 2
    Path(argv[0]).write_text(render(openapi_document()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
