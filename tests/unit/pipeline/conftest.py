from __future__ import annotations

import pytest
from tests.unit.pipeline.memory_run import MemoryRun, run_tiny

from gridshare.storage.memory import InMemoryStore

PLANNED = 6
"""Intervals after the first day: the plan needs a day of history before it runs."""


@pytest.fixture(scope="package")
def day_run() -> tuple[InMemoryStore, MemoryRun]:
    """The tiny scenario's first day and a few intervals more, on in-memory adapters."""
    store = InMemoryStore()
    return store, run_tiny(store, intervals=96 + PLANNED, first_hour=0, days=2)
