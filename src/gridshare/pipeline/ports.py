"""Ports: what the pipeline needs from the outside world, as Protocols.

Adapters implement them structurally (no inheritance): :mod:`gridshare.storage` the
store, :mod:`gridshare.simulator` a simulated clock and reading source, issue 3 the
ledger and issue 4 the live reading sources.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.model import Community, ReadingBatch, WriteReport
from gridshare.units import Interval


class Clock(Protocol):
    """Tells the pipeline which interval to close next (waits, in live operation)."""

    def intervals(self) -> Iterator[Interval]:
        """The intervals to process, in order; ends when the run ends."""
        ...


class ReadingSource(Protocol):
    """Delivers the readings of an interval once it may be closed."""

    def collect(self, interval: Interval) -> ReadingBatch:
        """Every reading of ``interval`` received so far."""
        ...


class StoreTransaction(Protocol):
    """Writes of one interval, committed together or not at all."""

    def write_readings(self, batch: ReadingBatch) -> WriteReport:
        """Store readings idempotently."""
        ...

    def read_readings(self, interval: Interval) -> ReadingBatch:
        """The readings the store holds for ``interval`` (the first value of a conflict)."""
        ...

    def write_balance(
        self, interval: Interval, balance: IntervalBalance, received: int, expected: int
    ) -> None:
        """Store the community balance of ``interval`` (replacing an earlier one)."""
        ...

    def write_participant_totals(self, run_id: str, totals: ParticipantFlows) -> None:
        """Store per-participant totals of a run (aligned with the community's participants)."""
        ...

    def write_market_interval(
        self,
        interval: dict[str, Any],
        fills: Sequence[dict[str, Any]],
        trades: Sequence[dict[str, Any]],
    ) -> None:
        """Record one settled market interval: totals, per-order fills, trades."""
        ...

    def write_market_rejections(self, rejections: Sequence[dict[str, Any]]) -> None:
        """Record refused orders with their reasons."""
        ...

    def write_market_member_totals(self, rows: Sequence[dict[str, Any]]) -> None:
        """Per-member market results of a run."""
        ...

    def write_commitment(self, commitment: dict[str, Any]) -> None:
        """Record what was committed on chain for an interval (replacing an earlier row)."""
        ...


class Store(Protocol):
    """Durable storage of the community, its readings and the pipeline's results."""

    def register_community(self, community: Community) -> None:
        """Record (or check) the community's participants, assets and meters."""
        ...

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A unit of work; leaving it with an exception rolls everything back."""
        ...


@dataclass(frozen=True, slots=True)
class ContractCall:
    """One call of a contract function, to be sent (possibly batched) by the ledger."""

    contract: str
    function: str
    args: tuple[object, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A confirmed transaction."""

    tx_hash: str
    block_number: int
    succeeded: bool
    gas_used: int


class Ledger(Protocol):
    """The EVM ledger (issue 3): embedded py-evm or any JSON-RPC node."""

    @property
    def chain_id(self) -> int:
        """EIP-155 chain id of the connected chain."""
        ...

    def submit(self, calls: Sequence[ContractCall]) -> Receipt:
        """Send ``calls`` (batched where the contract allows) and wait for confirmation."""
        ...
