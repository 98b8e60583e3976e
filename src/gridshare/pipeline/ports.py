"""Ports: what the pipeline needs from the outside world, as Protocols.

Adapters implement them structurally (no inheritance): :mod:`gridshare.storage` the
store, :mod:`gridshare.simulator` a simulated clock and reading source, issue 3 the
ledger and issue 4 the live reading sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.model import Community, ReadingBatch, WriteReport
from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    CommitmentRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    IslandEventRecord,
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketOrderRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    OrderStatus,
)
from gridshare.units import Interval


class Clock(Protocol):
    """Tells the pipeline which interval to close next (waits, in live operation)."""

    def intervals(self) -> Iterator[Interval]:
        """The intervals to process, in order; ends when the run ends."""
        ...


class ReadingSource(Protocol):
    """Delivers the readings of an interval once it may be closed."""

    @property
    def durable(self) -> bool:
        """True when readings are stored (and counted) on arrival, before their interval
        closes (live ingest): the loop then reads them back from the store instead of
        writing them."""
        ...

    def collect(self, interval: Interval) -> ReadingBatch:
        """Every reading of ``interval`` received so far."""
        ...


class MarketStore(Protocol):
    """What the market step writes (``pipeline.market_step.MarketStep``)."""

    def write_market_interval(
        self,
        interval: MarketIntervalRecord,
        fills: Sequence[MarketFillRecord],
        trades: Sequence[MarketTradeRecord],
    ) -> None:
        """Record one settled market interval: totals, per-order fills, trades."""
        ...

    def write_market_rejections(self, rejections: Sequence[MarketRejectionRecord]) -> None:
        """Record refused orders with their reasons."""
        ...

    def write_market_member_totals(self, rows: Sequence[MarketMemberTotalsRecord]) -> None:
        """Per-member market results of a run."""
        ...

    def market_orders_to_process(self, community_id: str) -> list[MarketOrderRecord]:
        """Members' submitted orders waiting for the gate: pending, or cancel requested."""
        ...

    def booked_market_orders(self, community_id: str) -> list[MarketOrderRecord]:
        """Members' orders in the book (the book is rebuilt from them after a restart)."""
        ...

    def set_market_order_status(
        self, community_id: str, changes: Iterable[tuple[str, OrderStatus, OrderStatus, str]]
    ) -> int:
        """Apply (order hash, status read, new status, detail), each only while the order
        still has the status read; returns how many applied."""
        ...


class DemandResponseStore(Protocol):
    """What the demand-response desk writes (``pipeline.demand_response``)."""

    def write_dr_event(self, event: DemandResponseEventRecord) -> None:
        """A demand-response event as called."""
        ...

    def write_dr_responses(self, rows: Sequence[DemandResponseRecord]) -> None:
        """Measured responses and payments of a settled event."""
        ...


class BalancingStore(DemandResponseStore, Protocol):
    """What the balancing step writes (``pipeline.balancing_step.BalancingStep``, with its
    demand-response desk)."""

    def write_balancing_interval(self, row: BalancingIntervalRecord) -> None:
        """The balance monitor's figures of one interval."""
        ...

    def write_balancing_alerts(self, alerts: Sequence[BalancingAlertRecord]) -> None:
        """Alerts raised by the balance monitor."""
        ...

    def write_dispatch_setpoints(
        self, interval_start_s: int, meter_ids: Sequence[str], setpoints_wh: Sequence[int]
    ) -> None:
        """The setpoints sent to each device for an interval."""
        ...

    def write_island_events(self, events: Sequence[IslandEventRecord]) -> None:
        """Islanding events of a run."""
        ...


class CommitmentStore(Protocol):
    """What the commitment step writes (``pipeline.metering_steps.CommitmentStep``)."""

    def write_commitment(self, commitment: CommitmentRecord) -> None:
        """Record what was committed on chain for an interval (replacing an earlier row)."""
        ...


class StoreTransaction(MarketStore, BalancingStore, CommitmentStore, Protocol):
    """Writes of one interval, committed together or not at all: the readings and
    results the loop and the accounting step write, and every step's narrow port."""

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

    def roll_up_day(self, day_start_s: int) -> None:
        """Sum each of the community's meters' readings of the UTC day starting at
        ``day_start_s`` (its last interval just closed), for day-long queries."""
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


NOT_EXPECTED = -(2**62)
"""``Setpoints.expected_net_wh`` of a battery that follows its setpoint as given."""


@dataclass(frozen=True, slots=True)
class Setpoints:
    """What the balancing step commands for one interval (int Wh over the interval).

    One sign convention for every device, as at any meter: the net import at the
    device's meter over the interval (> 0 it takes energy from the community's network,
    < 0 it gives energy to it). ``battery_net_wh`` is each battery's (> 0 charging, < 0
    discharging), aligned with ``battery_ids``; ``plant_net_wh`` each load-following
    plant's (its output, as a value <= 0), aligned with ``plant_ids``; ``shed`` the
    members to disconnect (islanded
    operation), aligned with the community's participants. ``None`` leaves a device
    class to its local rule.
    """

    interval_start_s: int
    battery_ids: tuple[str, ...] = ()
    battery_net_wh: NDArray[np.int64] | None = None
    expected_net_wh: NDArray[np.int64] | None = None
    """Per battery: its owner's net load (consumption - production) the plan expects, or
    ``NOT_EXPECTED``. A battery with an expectation holds its owner's planned exchange
    with the grid: it adds the owner's forecast error to its setpoint (charges what
    surplus was not forecast, covers what deficit was not), as a local controller would."""
    planned_exchange_wh: int | None = None
    """The community's planned net exchange at the connection (> 0 import): the fast
    controller there moves batteries and load-following plants to hold it."""
    plant_ids: tuple[str, ...] = ()
    plant_net_wh: NDArray[np.int64] | None = None
    shed: NDArray[np.bool_] | None = None


class DeviceControl(Protocol):
    """Sends setpoints to devices: simulated ones, or MQTT/OpenADR in the field."""

    def apply(self, setpoints: Setpoints) -> None:
        """Command the devices for ``setpoints.interval_start_s``."""
        ...


class GridStatus(Protocol):
    """Whether the main grid is connected (a scenario's events, or a live signal)."""

    def is_connected(self, interval_start_s: int) -> bool:
        """True when the point of common coupling can exchange energy in the interval."""
        ...
