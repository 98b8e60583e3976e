"""Indexing chain events into the store, and verifying the store against the chain.

The indexer copies every event of the community's contracts into the store, a batch of
blocks at a time; each batch and the cursor move in one transaction, so a restart
resumes where the last committed batch ended and nothing is stored twice.

``verify`` is the auditor's tool: it re-reads the chain and reports every difference
between what the store holds and what the chain holds: events missing, extra or altered
in the store, and balances, supply and roles recomputed from the stored events that the
contracts do not confirm.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gridshare.errors import GridshareError
from gridshare.model.chain import ChainEvent

ZERO_ADDRESS = "0x" + "00" * 20
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ChainSyncError(GridshareError):
    """The store's index and the chain disagree about the chain itself (reset, reorg)."""


class EventSource(Protocol):
    def read(self, from_block: int, to_block: int) -> list[ChainEvent]:
        """Decoded events of blocks ``from_block..to_block``, in chain order."""
        ...

    def block_hash(self, number: int) -> str:
        """0x-hash of block ``number`` of the chain."""
        ...


class ChainEventStore(Protocol):
    def last_indexed_block(self, chain_id: int) -> tuple[int, str] | None: ...

    def write_chain_events(
        self, chain_id: int, events: Sequence[ChainEvent], up_to_block: int, block_hash: str
    ) -> int: ...

    def chain_events(self, chain_id: int) -> list[ChainEvent]: ...


class ChainState(Protocol):
    def at(self, block: int) -> ChainState:
        """The same views, pinned to ``block``."""
        ...

    def role_of(self, account: str) -> int: ...

    def balance_of(self, account: str) -> int: ...

    def total_supply(self) -> int: ...


@dataclass(frozen=True, slots=True)
class IndexReport:
    from_block: int
    to_block: int
    new_events: int


def index_chain(
    source: EventSource,
    store: ChainEventStore,
    chain_id: int,
    head_block: int,
    *,
    start_block: int = 0,
    blocks_per_batch: int = 2_000,
) -> IndexReport:
    """Store the events of every block up to ``head_block`` not yet indexed.

    The cursor remembers the hash of the last indexed block; if the chain no longer has
    that block (a reset chain, a reorg, or another chain with the same id) indexing stops
    with an error instead of mixing two histories.
    """
    position = store.last_indexed_block(chain_id)
    first = start_block
    if position is not None:
        last, last_hash = position
        _require_same_chain(source, chain_id, last, last_hash, head_block)
        first = last + 1
    new = 0
    block = first
    while block <= head_block:
        end = min(block + blocks_per_batch - 1, head_block)
        events = source.read(block, end)
        new += store.write_chain_events(chain_id, events, end, source.block_hash(end))
        block = end + 1
    return IndexReport(first, head_block, new)


def _require_same_chain(
    source: EventSource, chain_id: int, last: int, last_hash: str, head_block: int
) -> None:
    if last > head_block or source.block_hash(last) != last_hash:
        raise ChainSyncError(
            f"the store indexed chain {chain_id} up to block {last} ({last_hash[:10]}...), "
            f"which this chain does not have (its head is block {head_block}): the chain was "
            "reset or reorganised, or another chain uses the same id. Use a fresh database "
            "(GRIDSHARE_DATABASE_URL) for a new chain."
        )


@dataclass
class VerifyReport:
    """What ``verify`` compared, and every mismatch it found."""

    events_checked: int = 0
    accounts_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def balances_from_events(events: Sequence[ChainEvent]) -> dict[str, int]:
    """Credit balances implied by the stored Transfer events (mints and burns included)."""
    balances: dict[str, int] = defaultdict(int)
    for event in events:
        if event.contract == "CommunityCredit" and event.event == "Transfer":
            value = int(event.arg("value"))
            sender, receiver = str(event.arg("sender")), str(event.arg("receiver"))
            if sender != ZERO_ADDRESS:
                balances[sender] -= value
            if receiver != ZERO_ADDRESS:
                balances[receiver] += value
    return dict(balances)


def roles_from_events(events: Sequence[ChainEvent]) -> dict[str, int]:
    """Registry roles implied by the stored registry events."""
    roles: dict[str, int] = {}
    for event in events:
        if event.contract != "ParticipantRegistry":
            continue
        if event.event == "ParticipantRegistered":
            roles[str(event.arg("account"))] = int(event.arg("role"))
        elif event.event == "OperatorChanged":
            roles.pop(str(event.arg("previous")), None)
            roles[str(event.arg("current"))] = 1
    return roles


def _is_account(account: str, events: str, report: VerifyReport) -> bool:
    if _ADDRESS.match(account):
        return True
    report.mismatches.append(f"the store's {events} events name an invalid account {account!r}")
    return False


def verify(
    store: ChainEventStore,
    source: EventSource,
    state: ChainState,
    chain_id: int,
    *,
    blocks_per_batch: int = 2_000,
) -> VerifyReport:
    """Compare the store's copy of the chain with the chain itself."""
    report = VerifyReport()
    stored = store.chain_events(chain_id)
    position = store.last_indexed_block(chain_id)
    if position is None:
        report.mismatches.append(f"chain {chain_id} has not been indexed into the store")
        return report
    last, last_hash = position
    if source.block_hash(last) != last_hash:
        report.mismatches.append(
            f"block {last}: the store indexed hash {last_hash}, the chain has "
            f"{source.block_hash(last)} (a reset or reorganised chain)"
        )
        return report
    on_chain = _events_on_chain(source, last, blocks_per_batch)
    _compare_events({e.key: e for e in stored}, on_chain, report)
    state = state.at(last)  # the chain as of the last indexed block, like the store
    _compare_credits(balances_from_events(stored), state, report)
    _compare_accounts(roles_from_events(stored), state.role_of, "role", "registry", report)
    return report


def _events_on_chain(
    source: EventSource, last: int, blocks_per_batch: int
) -> dict[tuple[int, int, int], ChainEvent]:
    """Every event of blocks ``0..last`` by its key, read a batch of blocks at a time."""
    on_chain: dict[tuple[int, int, int], ChainEvent] = {}
    for start in range(0, last + 1, blocks_per_batch):
        for event in source.read(start, min(start + blocks_per_batch - 1, last)):
            on_chain[event.key] = event
    return on_chain


def _compare_events(
    in_store: dict[tuple[int, int, int], ChainEvent],
    on_chain: dict[tuple[int, int, int], ChainEvent],
    report: VerifyReport,
) -> None:
    """Events the store holds that the chain lacks or has otherwise, then events on chain
    missing from the store."""
    for key, event in in_store.items():
        report.events_checked += 1
        chain_event = on_chain.get(key)
        where = f"block {key[1]} log {key[2]}"
        if chain_event is None:
            report.mismatches.append(f"{where}: the store holds {event.event} the chain lacks")
        elif chain_event != event:
            report.mismatches.append(
                f"{where}: stored {event.event}{dict(event.args)} but the chain has "
                f"{chain_event.event}{dict(chain_event.args)}"
            )
    for key, event in on_chain.items():
        if key not in in_store:
            report.mismatches.append(
                f"block {key[1]} log {key[2]}: {event.event} on chain is missing from the store"
            )


def _compare_accounts(
    implied: dict[str, int],
    held: Callable[[str], int],
    what: str,
    events: str,
    report: VerifyReport,
) -> None:
    """Each account's ``what`` as the store's ``events`` imply it, against ``held(account)``
    on chain."""
    for account, value in sorted(implied.items()):
        if not _is_account(account, events, report):
            continue
        actual = held(account)
        if actual != value:
            report.mismatches.append(
                f"{what} of {account}: store implies {value}, chain holds {actual}"
            )


def _compare_credits(balances: dict[str, int], state: ChainState, report: VerifyReport) -> None:
    """Each account's credit balance, and the supply, as the stored events imply them."""
    report.accounts_checked += len(balances)
    _compare_accounts(balances, state.balance_of, "credit balance", "Transfer", report)
    supply = sum(balances.values())
    if state.total_supply() != supply:
        report.mismatches.append(
            f"credit supply: store implies {supply}, chain holds {state.total_supply()}"
        )
