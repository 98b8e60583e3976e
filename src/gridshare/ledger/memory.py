"""In-memory twins of the chain ports the steps use: they keep what was sent, in order,
so tests can check it without a chain (``MeteringChain``, ``MarketChain``,
``BalancingChain`` with its demand-response calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gridshare.balancing.demand_response import DemandResponseEvent, EventSettlement
from gridshare.certificates.issuance import Issue
from gridshare.market.orders import domain_separator
from gridshare.market.session import IntervalClearing
from gridshare.market.settlement import DayBatch, Settlement
from gridshare.metering.commitment import IntervalCommitment

LOCAL_CHAIN_ID = 31337
"""The chain id a development node (anvil, the embedded chain) reports."""


@dataclass
class InMemoryMeteringChain:
    """The monitoring and certificate contracts: commitments by interval, issues minted."""

    committed: dict[int, IntervalCommitment] = field(default_factory=dict)
    minted: list[Issue] = field(default_factory=list)
    transactions: int = 0

    def commit(self, commitments: Sequence[IntervalCommitment]) -> Sequence[object]:
        for commitment in commitments:
            self.committed[commitment.start_s] = commitment
        self.transactions += 1
        return [len(commitments)]

    def mint(self, issues: Sequence[Issue]) -> Sequence[object]:
        self.minted.extend(issues)
        self.transactions += 1
        return [len(issues)]

    def commitments(self, starts: Sequence[int]) -> list[IntervalCommitment | None]:
        return [self.committed.get(start) for start in starts]

    def minted_in_intervals(self, starts: Sequence[int]) -> list[int]:
        return [sum(1 for issue in self.minted if issue.start_s == start) for start in starts]


@dataclass
class InMemoryMarketChain:
    """The P2PTrading contract: each settled interval, day batch and release."""

    domain: bytes = field(default_factory=lambda: domain_separator(LOCAL_CHAIN_ID, bytes(20)))
    settled: list[tuple[IntervalClearing, Settlement, bytes]] = field(default_factory=list)
    days: list[tuple[DayBatch, bytes]] = field(default_factory=list)
    released: list[tuple[tuple[bytes, ...], int]] = field(default_factory=list)
    deposits: dict[bytes, int] = field(default_factory=dict)
    """What each account deposited (escrow as the contract holds it, before settlement)."""

    def settle(self, settled: Sequence[tuple[IntervalClearing, Settlement, bytes]]) -> int:
        """Keep the intervals with trades (as the contract settles only those)."""
        traded = [item for item in settled if item[0].volume_wh > 0]
        self.settled.extend(traded)
        return len(traded)

    def settle_day(self, batch: DayBatch, fills_root: bytes) -> int:
        self.days.append((batch, fills_root))
        return 1

    def release(self, accounts: Sequence[bytes], epoch: int) -> int:
        self.released.append((tuple(accounts), epoch))
        return 1

    def escrow(self, account: bytes) -> int:
        return self.deposits.get(account, 0)


@dataclass
class InMemoryBalancingChain:
    """The GridBalancing contract: schedule hashes, islands and demand-response events."""

    schedules: list[tuple[int, int, bytes, int, int]] = field(default_factory=list)
    islands: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    events: list[DemandResponseEvent] = field(default_factory=list)
    responses: list[tuple[DemandResponseEvent, EventSettlement]] = field(default_factory=list)

    def record_schedules(self, schedules: Sequence[tuple[int, int, bytes, int, int]]) -> int:
        self.schedules.extend(schedules)
        return 1

    def record_island(
        self, start_s: int, end_s: int, shed_wh: int, unserved_critical_wh: int, served_wh: int
    ) -> int:
        self.islands.append((start_s, end_s, shed_wh, unserved_critical_wh, served_wh))
        return 1

    def open_event(self, event: DemandResponseEvent) -> int:
        self.events.append(event)
        return 1

    def record_responses(self, event: DemandResponseEvent, settlement: EventSettlement) -> int:
        self.responses.append((event, settlement))
        return 1
