"""ParticipantRegistry: roles, suspension and devices, only through the operator."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import ROLE_CONSUMER, ROLE_OPERATOR, ROLE_PRODUCER, ROLE_PROSUMER

METER = b"\x11" * 32


def test_deployer_is_the_active_operator(registry: Any, operator: str) -> None:
    assert registry.operator() == operator
    assert registry.role_of(operator) == ROLE_OPERATOR
    assert registry.is_active(operator)
    assert registry.participant_count() == 1


def test_operator_registers_participants(registry: Any, operator: str, accounts: list[str]) -> None:
    registry.register(accounts[0], ROLE_PROSUMER, sender=operator)
    (event,) = registry.get_logs()
    assert type(event).__name__ == "ParticipantRegistered"
    assert (event.account, event.role) == (accounts[0], ROLE_PROSUMER)
    assert registry.role_of(accounts[0]) == ROLE_PROSUMER
    assert registry.is_active(accounts[0])
    assert registry.participant_count() == 2


def test_only_the_operator_registers(registry: Any, accounts: list[str]) -> None:
    with boa.reverts("ParticipantRegistry: caller is not the operator"):
        registry.register(accounts[1], ROLE_CONSUMER, sender=accounts[0])
    assert registry.role_of(accounts[1]) == 0


@pytest.mark.parametrize("role", [0, ROLE_OPERATOR, 5, 255])
def test_unknown_roles_are_refused(
    registry: Any, operator: str, accounts: list[str], role: int
) -> None:
    with boa.reverts("ParticipantRegistry: unknown role"):
        registry.register(accounts[0], role, sender=operator)


def test_registering_twice_or_the_zero_address_is_refused(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    registry.register(accounts[0], ROLE_PRODUCER, sender=operator)
    with boa.reverts("ParticipantRegistry: already registered"):
        registry.register(accounts[0], ROLE_CONSUMER, sender=operator)
    with boa.reverts("ParticipantRegistry: zero address"):
        registry.register("0x" + "00" * 20, ROLE_CONSUMER, sender=operator)


def test_batch_registration_is_all_or_nothing(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    registry.register_batch(
        accounts[:3], [ROLE_PRODUCER, ROLE_CONSUMER, ROLE_PROSUMER], sender=operator
    )
    assert [registry.role_of(a) for a in accounts[:3]] == [2, 3, 4]
    with boa.reverts("ParticipantRegistry: already registered"):
        registry.register_batch([accounts[3], accounts[0]], [2, 2], sender=operator)
    assert registry.role_of(accounts[3]) == 0  # the whole batch reverted
    with boa.reverts("ParticipantRegistry: length mismatch"):
        registry.register_batch([accounts[4]], [2, 3], sender=operator)


def test_suspension_deactivates_participant_and_devices(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    member, device = accounts[0], accounts[1]
    registry.register(member, ROLE_PROSUMER, sender=operator)
    registry.register_device(device, member, METER, sender=operator)
    assert registry.is_active_device(device)
    registry.set_suspended(member, True, sender=operator)
    assert not registry.is_active(member)
    assert not registry.is_active_device(device)
    registry.set_suspended(member, False, sender=operator)
    assert registry.is_active_device(device)
    registry.set_device_suspended(device, True, sender=operator)
    assert not registry.is_active_device(device)
    assert registry.is_active(member)


def test_the_operator_cannot_be_suspended(registry: Any, operator: str) -> None:
    with boa.reverts("ParticipantRegistry: the operator cannot be suspended"):
        registry.set_suspended(operator, True, sender=operator)


def test_devices_need_a_registered_owner_and_a_new_address(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    with boa.reverts("ParticipantRegistry: not registered"):
        registry.register_device(accounts[1], accounts[0], METER, sender=operator)
    registry.register(accounts[0], ROLE_PRODUCER, sender=operator)
    registry.register_device(accounts[1], accounts[0], METER, sender=operator)
    with boa.reverts("ParticipantRegistry: device exists"):
        registry.register_device(accounts[1], accounts[0], METER, sender=operator)
    participant, meter_id, suspended = registry.devices(accounts[1])
    assert (participant, meter_id, suspended) == (accounts[0], METER, False)
    assert not registry.is_active_device(accounts[2])


def test_operator_role_can_be_handed_over(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    registry.set_operator(accounts[5], sender=operator)
    assert registry.operator() == accounts[5]
    assert registry.role_of(accounts[5]) == ROLE_OPERATOR
    assert registry.role_of(operator) == 0
    with boa.reverts("ParticipantRegistry: caller is not the operator"):
        registry.register(accounts[0], ROLE_CONSUMER, sender=operator)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["register", "suspend", "reinstate"]), st.integers(0, 5)),
        max_size=20,
    )
)
def test_fuzz_registry_matches_a_simple_model(
    registry: Any, operator: str, accounts: list[str], ops: list[tuple[str, int]]
) -> None:
    """Any sequence of operator actions leaves the registry as a dictionary would."""
    with boa.env.anchor():
        model: dict[str, bool] = {}
        for op, index in ops:
            account = accounts[index]
            if op == "register":
                if account in model:
                    with boa.reverts("ParticipantRegistry: already registered"):
                        registry.register(account, ROLE_CONSUMER, sender=operator)
                else:
                    registry.register(account, ROLE_CONSUMER, sender=operator)
                    model[account] = True
            elif account not in model:
                with boa.reverts("ParticipantRegistry: not registered"):
                    registry.set_suspended(account, op == "suspend", sender=operator)
            else:
                registry.set_suspended(account, op == "suspend", sender=operator)
                model[account] = op == "reinstate"
        assert registry.participant_count() == len(model) + 1
        for account in accounts:
            assert registry.is_active(account) == model.get(account, False)


def test_devices_of_a_former_operator_are_inactive(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    """Handing over the operator role unregisters the old operator, and its devices."""
    registry.register_device(accounts[1], operator, METER, sender=operator)
    assert registry.is_active_device(accounts[1])
    registry.set_operator(accounts[5], sender=operator)
    assert not registry.is_active_device(accounts[1])


def test_a_removed_device_can_be_bound_again(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    registry.register(accounts[0], ROLE_PROSUMER, sender=operator)
    registry.register(accounts[2], ROLE_PRODUCER, sender=operator)
    registry.register_device(accounts[1], accounts[0], METER, sender=operator)
    registry.remove_device(accounts[1], sender=operator)
    assert not registry.is_active_device(accounts[1])
    assert registry.device_count() == 0
    registry.register_device(accounts[1], accounts[2], METER, sender=operator)
    assert registry.devices(accounts[1])[0] == accounts[2]
    with boa.reverts("ParticipantRegistry: no such device"):
        registry.remove_device(accounts[3], sender=operator)


def test_device_owner_names_the_bound_participant(
    registry: Any, operator: str, accounts: list[str]
) -> None:
    member, device = accounts[0], accounts[1]
    assert registry.device_owner(device) == "0x" + "00" * 20
    registry.register(member, ROLE_PRODUCER, sender=operator)
    registry.register_device(device, member, METER, sender=operator)
    assert registry.device_owner(device) == member
    registry.set_device_suspended(device, True, sender=operator)
    assert registry.device_owner(device) == member  # ownership outlives suspension
    registry.remove_device(device, sender=operator)
    assert registry.device_owner(device) == "0x" + "00" * 20
