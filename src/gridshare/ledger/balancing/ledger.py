"""The GridBalancing contract from Python: :class:`BalancingLedger`, with the schedules,
the flexibility budget and islands here and demand response from
:class:`~gridshare.ledger.balancing.demand_response.DemandResponseLedger`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from gridshare.balancing.schedule import schedule_hash
from gridshare.ledger.balancing.audit import decode_balancing_events
from gridshare.ledger.balancing.contract import batches
from gridshare.ledger.balancing.demand_response import DemandResponseLedger
from gridshare.ledger.balancing.records import (
    CONTRACT,
    FUND_GAS,
    ISLAND_GAS,
    MAX_SCHEDULES_PER_TX,
    SCHEDULE_BASE_GAS,
    SCHEDULE_GAS_PER_ENTRY,
    BalancingError,
    BalancingHistory,
    BalancingMismatch,
    IslandReason,
    IslandRecord,
    ScheduleRecord,
)
from gridshare.ledger.calls import not_on_chain
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.events import EventReader


def _schedule(start_s: int, row: Sequence[Any]) -> ScheduleRecord | None:
    """A schedule from the contract's struct (None where the hash is empty: none made)."""
    if bytes(row[0]) == bytes(32):
        return None
    return ScheduleRecord(start_s, int(row[1]), bytes(row[0]), int(row[2]), int(row[3]))


class BalancingLedger(DemandResponseLedger):
    """The community's GridBalancing contract, driven by the operator's key."""

    schedule_hash = staticmethod(schedule_hash)

    # -- schedules --------------------------------------------------------------------
    def record_schedules(
        self, schedules: Sequence[ScheduleRecord | tuple[int, int, bytes, int, int]]
    ) -> int:
        """Record schedules the chain does not hold yet, up to 256 per transaction;
        returns the transactions sent. A schedule is a :class:`ScheduleRecord` or its
        tuple (interval start, horizon intervals, hash, planned cost, baseline cost)."""
        records = [s if isinstance(s, ScheduleRecord) else ScheduleRecord(*s) for s in schedules]
        fresh = not_on_chain(
            records,
            self.schedules([s.interval_start_s for s in records]),
            lambda ours, theirs: BalancingMismatch(
                f"interval {ours.interval_start_s}: the chain holds the schedule {theirs}, "
                f"not {ours}; a recorded schedule is never rewritten"
            ),
        )
        return self._send_batches(
            "record_schedules",
            fresh,
            MAX_SCHEDULES_PER_TX,
            lambda part: ([s.as_tuple() for s in part],),
            base_gas=SCHEDULE_BASE_GAS,
            gas_per_item=SCHEDULE_GAS_PER_ENTRY,
        )

    def schedule(self, interval_start_s: int) -> ScheduleRecord | None:
        """The schedule recorded for an interval, or None."""
        row = self.balancing.functions.schedules(interval_start_s).call()
        return _schedule(interval_start_s, row)

    def schedules(self, starts: Sequence[int]) -> list[ScheduleRecord | None]:
        """The schedules of many intervals (one call per 256)."""
        found: list[ScheduleRecord | None] = []
        for batch in batches(starts, MAX_SCHEDULES_PER_TX):
            part = list(batch)
            rows = self.balancing.functions.schedules_of(part).call()
            found += [_schedule(s, row) for s, row in zip(part, rows, strict=True)]
        return found

    # -- the flexibility budget -------------------------------------------------------
    def fund(self, amount_micros: int, *, reference: str | None = None) -> None:
        """Move ``amount_micros`` of the operator's credit into the budget pool.

        With ``reference``, the operator first mints the amount to itself against that
        deposit reference (money the community fund received off-chain); a reference
        minted before means the whole top-up was done, and nothing is sent.
        """
        if amount_micros <= 0:
            raise BalancingError(f"fund a positive amount of micro-units, not {amount_micros}")
        credit = to_checksum_address(self.deployment.address("CommunityCredit"))
        operator = self.tm.signer.address
        if reference is not None:
            ref = keccak(text=reference)
            if self.credit.functions.deposit_used(ref).call():
                return
            self._send("CommunityCredit", credit, "mint", operator, amount_micros, ref, gas=150_000)
        self._send("CommunityCredit", credit, "approve", self.address, amount_micros, gas=80_000)
        self._send(CONTRACT, self.address, "fund", amount_micros, gas=FUND_GAS)

    def withdraw_budget(self, amount_micros: int, receiver: str | None = None) -> None:
        """Return unspent budget to ``receiver`` (the operator by default)."""
        to = to_checksum_address(receiver or self.tm.signer.address)
        self._send(CONTRACT, self.address, "withdraw_budget", to, amount_micros, gas=FUND_GAS)

    def pool_micros(self) -> int:
        return int(self.balancing.functions.pool_micros().call())

    def total_paid_micros(self) -> int:
        return int(self.balancing.functions.total_paid_micros().call())

    def paid_to(self, account: str) -> int:
        """Everything demand response paid ``account`` so far, micro-units."""
        return int(self.balancing.functions.paid_to(to_checksum_address(account)).call())

    # -- islanding --------------------------------------------------------------------
    def record_island(
        self,
        start_s: int,
        end_s: int,
        shed_wh: int,
        unserved_critical_wh: int,
        served_critical_wh: int,
        *,
        reason: IslandReason = IslandReason.GRID_OUTAGE,
    ) -> int:
        """Record an islanding episode over the intervals ``start_s..end_s`` (interval
        starts, end inclusive); returns the transactions sent: 0 when it is the last
        episode the chain holds already."""
        island = IslandRecord(
            start_s, end_s, reason, shed_wh, unserved_critical_wh, served_critical_wh
        )
        count = int(self.balancing.functions.island_count().call())
        if count:
            last = self.island(count - 1)
            if last == island:
                return 0
            if island.start_s <= last.end_s:
                raise BalancingMismatch(
                    f"the island {island} does not follow the last one recorded, {last}"
                )
        self._send(CONTRACT, self.address, "record_island", *island.as_tuple(), gas=ISLAND_GAS)
        return 1

    def island(self, index: int) -> IslandRecord:
        row = self.balancing.functions.islands(index).call()
        return IslandRecord(
            int(row[0]), int(row[1]), IslandReason(int(row[2])), *(int(v) for v in row[3:])
        )

    # -- audit ------------------------------------------------------------------------
    def history(
        self, from_block: int | None = None, to_block: int | None = None
    ) -> BalancingHistory:
        """Every GridBalancing event of blocks ``from_block..to_block`` (by default from
        the contract's deployment to the latest block), decoded. ``gridshare verify``
        decodes the store's indexed copy instead: :func:`decode_balancing_events`."""
        entry = self.deployment.contracts[CONTRACT]
        only = Deployment(self.deployment.chain_id, self.deployment.deployer, {CONTRACT: entry})
        first = entry.block_number if from_block is None else from_block
        last = int(self.web3.eth.block_number) if to_block is None else to_block
        return decode_balancing_events(EventReader(self.web3, only).read(first, last))
