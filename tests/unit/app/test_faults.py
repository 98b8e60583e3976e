"""Fault injection: GRIDSHARE_FAULT_KILL_AFTER=<point>:<n> kills after the n-th confirmed
transaction of that point, and does nothing when unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridshare.app.faults import (
    KILL_AFTER_ENV,
    KillAfter,
    install_from_environment,
    parse_kill_after,
)
from gridshare.errors import ConfigurationError
from gridshare.ledger.calls import calldata
from gridshare.ledger.chain import open_chain
from gridshare.ledger.keys import LocalSigner, TransactionRequest
from gridshare.ledger.transactions import SentTransaction

SENT = SentTransaction("0x" + "00" * 32, 1, 21_000)
ROOT = b"\x01" * 32


def _commit() -> TransactionRequest:
    data = calldata(
        "EnergyMonitoring", "commit_batch", [900], [ROOT], [ROOT], [1], [2], [3], [4], [5]
    )
    return {"to": "0x" + "11" * 20, "data": data}


def _register() -> TransactionRequest:
    data = calldata("ParticipantRegistry", "register_batch", ["0x" + "22" * 20], [1])
    return {"to": "0x" + "11" * 20, "data": data}


def test_the_kill_comes_after_the_nth_transaction_of_its_point_and_only_then() -> None:
    kills: list[int] = []
    fault = parse_kill_after("commit:2")
    fault.kill = lambda: kills.append(fault.seen)
    fault(_register(), SENT)  # another function: not counted
    fault({"to": "0x" + "11" * 20, "value": 1}, SENT)  # no calldata at all
    fault(_commit(), SENT)
    assert kills == []
    fault(_commit(), SENT)
    assert kills == [2]
    fault(_commit(), SENT)
    assert kills == [2]  # once


@pytest.mark.parametrize("value", ["commit", "commit:0", "commit:x", "mint:1", ":1", "settle:-1"])
def test_a_malformed_setting_is_refused_with_the_points_named(value: str) -> None:
    with pytest.raises(ConfigurationError, match="commit, settle"):
        parse_kill_after(value)


def test_settle_is_a_point() -> None:
    assert parse_kill_after(" settle:3".strip()) == KillAfter("settle", 3)


def test_the_transaction_manager_calls_the_installed_hook_after_each_confirmation(
    tmp_path: Path,
) -> None:
    signer = LocalSigner.generate()
    connection = open_chain(tmp_path, signer)
    try:
        tm = connection.transactions
        assert install_from_environment(tm, {}) is None  # unset: nothing installed
        assert install_from_environment(tm, {KILL_AFTER_ENV: " "}) is None
        assert tm.on_confirmed is None
        fault = install_from_environment(tm, {KILL_AFTER_ENV: "commit:1"})
        assert fault is not None
        assert tm.on_confirmed is fault
        seen: list[tuple[TransactionRequest, SentTransaction]] = []
        tm.on_confirmed = lambda request, sent: seen.append((request, sent))
        request: TransactionRequest = {"to": "0x" + "33" * 20, "value": 5}
        sent = tm.send(request, gas=21_000)
        assert seen == [(request, sent)]
        assert connection.web3.eth.get_balance(request["to"]) == 5  # type: ignore[arg-type]
    finally:
        connection.close()
