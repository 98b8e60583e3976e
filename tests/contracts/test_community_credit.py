"""CommunityCredit: a 6-decimal ERC-20 held only by active participants and trusted
contracts, minted by the operator against deposits and burnt on withdrawal."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import ROLE_CONSUMER, ROLE_PROSUMER

REF = b"\x22" * 32
UNIT = 1_000_000  # micros per currency unit


@pytest.fixture
def members(registry: Any, operator: str, accounts: list[str]) -> list[str]:
    """Four active members; accounts[4] and accounts[5] stay unregistered."""
    registry.register_batch(accounts[:4], [ROLE_PROSUMER, ROLE_CONSUMER] * 2, sender=operator)
    return accounts[:4]


def test_token_metadata(credit: Any, registry: Any) -> None:
    assert credit.decimals() == 6
    assert credit.symbol() == "GSCC"
    assert credit.registry() == registry.address
    assert credit.totalSupply() == 0


def test_operator_mints_against_deposits(credit: Any, operator: str, members: list[str]) -> None:
    credit.mint(members[0], 25 * UNIT, REF, sender=operator)
    transfer, deposit = credit.get_logs()
    assert (type(deposit).__name__, deposit.amount, deposit.reference) == (
        "Deposit",
        25 * UNIT,
        REF,
    )
    assert type(transfer).__name__ == "Transfer"
    assert credit.balanceOf(members[0]) == 25 * UNIT
    assert credit.totalSupply() == 25 * UNIT


def test_minting_is_refused_to_others_and_for_inactive_accounts(
    credit: Any, registry: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    with boa.reverts("CommunityCredit: caller is not the operator"):
        credit.mint(members[0], UNIT, REF, sender=members[0])
    with boa.reverts("CommunityCredit: account is not an active participant"):
        credit.mint(accounts[5], UNIT, REF, sender=operator)
    registry.set_suspended(members[1], True, sender=operator)
    with boa.reverts("CommunityCredit: account is not an active participant"):
        credit.mint(members[1], UNIT, REF, sender=operator)
    with boa.reverts("CommunityCredit: zero amount"):
        credit.mint(members[0], 0, REF, sender=operator)
    assert credit.totalSupply() == 0


def test_transfers_between_active_members(
    credit: Any, registry: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    credit.mint(members[0], 10 * UNIT, REF, sender=operator)
    credit.transfer(members[1], 3 * UNIT, sender=members[0])
    assert (credit.balanceOf(members[0]), credit.balanceOf(members[1])) == (7 * UNIT, 3 * UNIT)
    with boa.reverts("CommunityCredit: insufficient balance"):
        credit.transfer(members[1], 8 * UNIT, sender=members[0])
    with boa.reverts("CommunityCredit: receiver is not an active participant"):
        credit.transfer(accounts[5], UNIT, sender=members[0])
    registry.set_suspended(members[0], True, sender=operator)
    with boa.reverts("CommunityCredit: sender is not an active participant"):
        credit.transfer(members[1], UNIT, sender=members[0])
    with boa.reverts("CommunityCredit: receiver is not an active participant"):
        credit.transfer(members[0], UNIT, sender=members[1])


def test_batch_transfer_pays_many_in_one_transaction(
    credit: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    credit.mint(members[0], 100, REF, sender=operator)
    credit.transfer_batch(members[1:4], [10, 20, 30], sender=members[0])
    assert [credit.balanceOf(m) for m in members] == [40, 10, 20, 30]
    with boa.reverts("CommunityCredit: receiver is not an active participant"):
        credit.transfer_batch([members[1], accounts[5]], [1, 1], sender=members[0])
    assert credit.balanceOf(members[1]) == 10  # the whole batch reverted
    with boa.reverts("CommunityCredit: length mismatch"):
        credit.transfer_batch([members[1]], [1, 2], sender=members[0])


def test_allowances(credit: Any, operator: str, members: list[str]) -> None:
    credit.mint(members[0], 100, REF, sender=operator)
    credit.approve(members[1], 30, sender=members[0])
    credit.transferFrom(members[0], members[2], 20, sender=members[1])
    assert credit.allowance(members[0], members[1]) == 10
    with boa.reverts("CommunityCredit: allowance exceeded"):
        credit.transferFrom(members[0], members[2], 11, sender=members[1])
    credit.approve(members[1], 2**256 - 1, sender=members[0])
    credit.transferFrom(members[0], members[2], 5, sender=members[1])
    assert credit.allowance(members[0], members[1]) == 2**256 - 1
    assert credit.balanceOf(members[2]) == 25


def test_withdrawal_burns_credit(credit: Any, operator: str, members: list[str]) -> None:
    credit.mint(members[0], 50, REF, sender=operator)
    credit.withdraw(20, REF, sender=members[0])
    assert (credit.balanceOf(members[0]), credit.totalSupply()) == (30, 30)
    with boa.reverts("CommunityCredit: insufficient balance"):
        credit.withdraw(31, REF, sender=members[0])


def test_trusted_contracts_may_hold_credit(
    credit: Any, operator: str, members: list[str], accounts: list[str]
) -> None:
    escrow = accounts[5]
    credit.mint(members[0], 50, REF, sender=operator)
    with boa.reverts("CommunityCredit: caller is not the operator"):
        credit.set_trusted(escrow, True, sender=members[0])
    credit.set_trusted(escrow, True, sender=operator)
    credit.transfer(escrow, 50, sender=members[0])
    credit.transfer(members[1], 50, sender=escrow)
    assert credit.balanceOf(members[1]) == 50


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 60)), max_size=25)
)
def test_fuzz_transfers_conserve_supply(
    credit: Any, operator: str, members: list[str], moves: list[tuple[int, int, int]]
) -> None:
    """Whatever members send each other, no credit is created or lost."""
    with boa.env.anchor():
        for i, member in enumerate(members):
            credit.mint(member, 50, bytes([i + 1]) * 32, sender=operator)
        model = dict.fromkeys(members, 50)
        for source, target, amount in moves:
            sender, receiver = members[source], members[target]
            if amount > model[sender]:
                with boa.reverts("CommunityCredit: insufficient balance"):
                    credit.transfer(receiver, amount, sender=sender)
                continue
            credit.transfer(receiver, amount, sender=sender)
            model[sender] -= amount
            model[receiver] += amount
        assert [credit.balanceOf(m) for m in members] == [model[m] for m in members]
        assert credit.totalSupply() == sum(model.values()) == 200


def test_a_deposit_reference_mints_once(credit: Any, operator: str, members: list[str]) -> None:
    credit.mint(members[0], 100, REF, sender=operator)
    with boa.reverts("CommunityCredit: deposit already minted"):
        credit.mint(members[0], 100, REF, sender=operator)
    assert credit.totalSupply() == 100
    assert credit.deposit_used(REF)


def test_suspended_members_cannot_withdraw_or_spend_allowances(
    credit: Any, registry: Any, operator: str, members: list[str]
) -> None:
    credit.mint(members[0], 100, REF, sender=operator)
    credit.approve(members[1], 50, sender=members[0])
    registry.set_suspended(members[0], True, sender=operator)
    with boa.reverts("CommunityCredit: sender is not an active participant"):
        credit.withdraw(10, REF, sender=members[0])
    registry.set_suspended(members[0], False, sender=operator)
    registry.set_suspended(members[1], True, sender=operator)
    with boa.reverts("CommunityCredit: spender is not an active participant"):
        credit.transferFrom(members[0], members[2], 10, sender=members[1])
    assert credit.balanceOf(members[0]) == 100
