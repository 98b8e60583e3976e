"""The per-interval context and the step-order contract: a step reads only what an earlier
step provided, each type once per interval, and the previous interval's outputs carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gridshare.errors import ConfigurationError
from gridshare.model import QualityFlag, ReadingBatch
from gridshare.pipeline.closing import close_interval
from gridshare.pipeline.context import (
    Cleared,
    IntervalContext,
    MissingOutput,
    Planned,
    check_step_order,
)
from gridshare.units import Interval

INTERVAL = Interval(datetime(2025, 6, 2, tzinfo=UTC), timedelta(minutes=15))


@dataclass
class Declared:
    name: str
    requires: tuple[type, ...] = ()
    provides: tuple[type, ...] = ()


def _context(previous: dict[type, object] | None = None) -> IntervalContext:
    closed = close_interval(
        ReadingBatch.empty(INTERVAL), np.arange(0, dtype=np.int64), QualityFlag.OK
    )
    return IntervalContext(closed, previous or {})


def test_a_step_reads_what_an_earlier_step_provided() -> None:
    ctx = _context()
    cleared = Cleared(INTERVAL.start_s + 900, np.array([5, 0], dtype=np.int64))
    ctx.provide(cleared)
    assert ctx.require(Cleared) is cleared
    assert ctx.find(Cleared) is cleared
    assert ctx.find(Planned) is None
    with pytest.raises(MissingOutput, match="no step before this one provided Planned"):
        ctx.require(Planned)


def test_each_type_is_provided_once_per_interval() -> None:
    ctx = _context()
    ctx.provide(Planned(0, np.zeros(1, dtype=np.int64)))
    with pytest.raises(ConfigurationError, match="Planned was already provided"):
        ctx.provide(Planned(0, np.zeros(1, dtype=np.int64)))


def test_the_previous_intervals_outputs_carry_to_the_next() -> None:
    first = _context()
    plan = Planned(INTERVAL.start_s + 1800, np.array([1, -2], dtype=np.int64))
    first.provide(plan)
    second = _context(dict(first.outputs()))
    assert second.previous(Planned) is plan
    assert second.find(Planned) is None  # not provided in this interval yet
    assert _context().previous(Planned) is None


def test_step_order_is_checked_when_the_pipeline_is_built() -> None:
    accounting = Declared("accounting", provides=(Cleared,))
    market = Declared("market", requires=(Cleared,), provides=(Planned,))
    check_step_order([accounting, market])
    with pytest.raises(ConfigurationError, match=r"'market' requires Cleared.*runs later"):
        check_step_order([market, accounting])
    with pytest.raises(ConfigurationError, match="which no earlier step provides$"):
        check_step_order([market])
    with pytest.raises(ConfigurationError, match="both provide Cleared"):
        check_step_order([accounting, Declared("again", provides=(Cleared,))])
