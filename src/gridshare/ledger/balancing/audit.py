"""Reading GridBalancing's events back: :func:`decode_balancing_events` turns chain events
(from the chain or the store's index) into a :class:`BalancingHistory`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from eth_utils.address import to_checksum_address

from gridshare.ledger.balancing.records import (
    CONTRACT,
    NOT_MEASURED,
    BalancingError,
    BalancingHistory,
    BudgetMove,
    DemandResponseEvent,
    DemandResponseKind,
    IslandReason,
    IslandRecord,
    OptOut,
    ResponseRecord,
    ScheduleRecord,
)
from gridshare.model.chain import ChainEvent, JsonScalar


def _where(event: ChainEvent) -> str:
    return f"block {event.block_number} log {event.log_index}: {event.event}"


def _int(event: ChainEvent, name: str) -> int:
    value = event.arg(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not an integer")
    return value


def _bytes32(event: ChainEvent, name: str) -> bytes:
    value = str(event.arg(name))
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not 32 bytes")
    return bytes.fromhex(value[2:])


def _address(event: ChainEvent, name: str) -> str:
    value = str(event.arg(name))
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise BalancingError(f"{_where(event)}.{name} is {value!r}, not an address")
    return str(to_checksum_address(value))


def _addresses(value: JsonScalar) -> tuple[str, ...]:
    """An address array argument: the indexer stores arrays as their text."""
    return tuple(str(to_checksum_address(a)) for a in re.findall(r"0x[0-9a-fA-F]{40}", str(value)))


def _uints(value: JsonScalar) -> tuple[int, ...]:
    """A uint array argument, from its text (e.g. ``(4000, 2500)`` or ``[4000, 2500]``)."""
    return tuple(int(v) for v in re.findall(r"\d+", str(value)))


def decode_balancing_events(events: Iterable[ChainEvent]) -> BalancingHistory:
    """The GridBalancing events among ``events`` (from the chain or the store's index),
    decoded into typed records."""
    history = BalancingHistory()
    for e in events:
        if e.contract != CONTRACT:
            continue
        if e.event == "ScheduleRecorded":
            history.schedules.append(
                ScheduleRecord(
                    _int(e, "interval_start"),
                    _int(e, "horizon_intervals"),
                    _bytes32(e, "schedule_hash"),
                    _int(e, "cost_micros"),
                    _int(e, "baseline_cost_micros"),
                )
            )
        elif e.event == "EventOpened":
            history.events.append(
                DemandResponseEvent(
                    _bytes32(e, "event_id"),
                    DemandResponseKind(_int(e, "kind")),
                    _int(e, "start"),
                    _int(e, "end"),
                    _int(e, "target_wh"),
                    _int(e, "rate_micros_per_kwh"),
                    _addresses(e.arg("participants")),
                    _uints(e.arg("requested_wh")),
                )
            )
        elif e.event == "OptedOut":
            off_chain = e.arg("off_chain")
            history.opt_outs.append(
                OptOut(
                    _bytes32(e, "event_id"),
                    _address(e, "participant"),
                    off_chain is True or str(off_chain).lower() == "true",
                    _int(e, "received_at"),
                )
            )
        elif e.event == "ResponseRecorded":
            measured = _int(e, "measured_wh")
            history.responses.append(
                ResponseRecord(
                    _bytes32(e, "event_id"),
                    _address(e, "participant"),
                    _int(e, "baseline_wh"),
                    None if measured == NOT_MEASURED else measured,
                    _int(e, "delivered_wh"),
                    _int(e, "payment_micros"),
                )
            )
        elif e.event == "IslandRecorded":
            history.islands.append(
                IslandRecord(
                    _int(e, "start"),
                    _int(e, "end"),
                    IslandReason(_int(e, "reason")),
                    _int(e, "shed_wh"),
                    _int(e, "unserved_critical_wh"),
                    _int(e, "served_critical_wh"),
                )
            )
        elif e.event == "BudgetFunded":
            history.budget.append(
                BudgetMove(_address(e, "payer"), _int(e, "amount"), _int(e, "pool"))
            )
        elif e.event == "BudgetWithdrawn":
            history.budget.append(
                BudgetMove(_address(e, "receiver"), -_int(e, "amount"), _int(e, "pool"))
            )
    return history
