"""The per-interval context: how steps hand each other typed values.

The loop makes one :class:`IntervalContext` per closed interval and passes it to every
step in order. A step reads the typed outputs of the steps before it (``require``) and
adds its own (``provide``); what a step needs from the *previous* interval (the market
reads the plan the balancing step made one interval earlier) it reads with
``previous``. Steps never hold references to each other.

Each step declares what it requires and provides, so the loop checks the step order
once, when the pipeline is built (:func:`check_step_order`), not by failing mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.errors import ConfigurationError
from gridshare.pipeline.closing import ClosedInterval

__all__ = [
    "Accounted",
    "Cleared",
    "IntervalContext",
    "MissingOutput",
    "Planned",
    "StepContract",
    "check_step_order",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Accounted:
    """The accounting step's result for the interval (int Wh)."""

    balance: IntervalBalance
    flows: ParticipantFlows
    stored_wh: NDArray[np.int64]
    """Energy stored per meter at the end of the interval (a copy: never mutated)."""


@dataclass(frozen=True, slots=True)
class Cleared:
    """The market's clearing of the next interval: what each participant sold in it."""

    start_s: int
    """The cleared interval (the one after the interval being closed)."""
    sold_wh: NDArray[np.int64]
    """Per participant, int Wh sold (balancing keeps each seller's export at least that)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """The balancing plan's expected net exchange per member (> 0 import) for one interval,
    at full resolution (the trading agents order from it)."""

    start_s: int
    net_wh: NDArray[np.int64]


class MissingOutput(ConfigurationError):
    """A step asked for a value that no earlier step provided."""


@dataclass(slots=True)
class IntervalContext:
    """What the steps know about one closed interval, growing as they run."""

    closed: ClosedInterval
    _previous: Mapping[type, object] = field(default_factory=dict)
    _values: dict[type, object] = field(default_factory=dict)

    @property
    def start_s(self) -> int:
        return self.closed.interval.start_s

    def provide(self, value: object) -> None:
        """Add a step's output; each type is provided once per interval."""
        kind = type(value)
        if kind in self._values:
            raise ConfigurationError(f"{kind.__name__} was already provided for this interval")
        self._values[kind] = value

    def require(self, kind: type[T]) -> T:
        """The output of an earlier step of this interval."""
        value = self._values.get(kind)
        if not isinstance(value, kind):
            raise MissingOutput(f"no step before this one provided {kind.__name__}")
        return value

    def find(self, kind: type[T]) -> T | None:
        """The output of an earlier step of this interval, if any step provided it."""
        value = self._values.get(kind)
        return value if isinstance(value, kind) else None

    def previous(self, kind: type[T]) -> T | None:
        """What a step provided in the previous interval (None in the first one)."""
        value = self._previous.get(kind)
        return value if isinstance(value, kind) else None

    def outputs(self) -> Mapping[type, object]:
        """Everything provided in this interval (carried to the next as ``previous``)."""
        return dict(self._values)


class StepContract(Protocol):
    """What a step declares about the values it reads and writes."""

    @property
    def name(self) -> str: ...

    @property
    def requires(self) -> tuple[type, ...]:
        """Types an earlier step must provide in the same interval."""
        ...

    @property
    def provides(self) -> tuple[type, ...]:
        """Types this step adds to the context."""
        ...


def check_step_order(steps: Sequence[StepContract]) -> None:
    """Refuse a step list in which a step requires what no earlier step provides."""
    available: dict[type, str] = {}
    for step in steps:
        for kind in step.requires:
            if kind not in available:
                later = [s.name for s in steps if kind in s.provides]
                where = f" ({', '.join(later)} provides it, but runs later)" if later else ""
                raise ConfigurationError(
                    f"step {step.name!r} requires {kind.__name__}, which no earlier step "
                    f"provides{where}"
                )
        for kind in step.provides:
            if kind in available:
                raise ConfigurationError(
                    f"steps {available[kind]!r} and {step.name!r} both provide {kind.__name__}"
                )
            available[kind] = step.name
