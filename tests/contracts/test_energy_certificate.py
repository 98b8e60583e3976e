"""EnergyCertificate: ERC-1155 granular certificates, 1 unit = 1 Wh, one id per generator
and interval; minted against EnergyMonitoring's commitments, traded, and retired."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.metering.merkle import MerkleTree, leaf_hash
from tests.contracts.conftest import (
    CERTIFICATE_URI,
    INTERVAL_S,
    ROLE_CONSUMER,
    ROLE_PRODUCER,
    ROLE_PROSUMER,
    deploy,
    transaction_gas,
)

START = 1_735_689_600  # 2025-01-01T00:00:00Z
LATER = START + INTERVAL_S
SOLAR, WIND, HYDRO, BIOMASS = 1, 2, 3, 4
METER = b"\x11" * 32
ZERO = "0x" + "00" * 20
PV_MAX_WH = 10_000 * INTERVAL_S // 3600  # 10 kW for 15 minutes: 2500 Wh
WIND_MAX_WH = 4_000 * INTERVAL_S // 3600  # 1000 Wh

RECEIVER = """
# pragma version ~=0.4.3
accept: public(bool)
received: public(uint256)
calls: public(uint256)

@deploy
def __init__(accept: bool):
    self.accept = accept

@external
def onERC1155Received(
    operator: address, sender: address, id: uint256, amount: uint256, data: Bytes[1024]
) -> bytes4:
    self.received += amount
    self.calls += 1
    return 0xf23a6e61 if self.accept else 0x00000000

@external
def onERC1155BatchReceived(
    operator: address,
    sender: address,
    ids: DynArray[uint256, 256],
    amounts: DynArray[uint256, 256],
    data: Bytes[1024],
) -> bytes4:
    for amount: uint256 in amounts:
        self.received += amount
    self.calls += 1
    return 0xbc197c81 if self.accept else 0x00000000
"""


@dataclass(frozen=True)
class Community:
    """Two generators (pv of members[0], wind of members[1]) and a plain meter."""

    members: list[str]
    pv: str
    wind: str
    meter: str
    outsider: str


@pytest.fixture
def community(registry: Any, certificate: Any, operator: str, accounts: list[str]) -> Community:
    members = accounts[:3]
    registry.register_batch(members, [ROLE_PRODUCER, ROLE_PROSUMER, ROLE_CONSUMER], sender=operator)
    pv, wind, meter = (str(boa.env.generate_address(n)) for n in ("pv", "wind", "meter"))
    for device, owner in ((pv, members[0]), (wind, members[1]), (meter, members[2])):
        registry.register_device(device, owner, METER, sender=operator)
    certificate.register_generator(pv, SOLAR, 10_000, 52_520_000, 13_405_000, 380, sender=operator)
    certificate.register_generator(wind, WIND, 4_000, 53_000_000, 8_800_000, 380, sender=operator)
    return Community(members, pv, wind, meter, accounts[5])


def commit(
    monitoring: Any,
    operator: str,
    start: int,
    production: dict[str, tuple[int, int]],
    production_wh: int | None = None,
    consumption: dict[str, tuple[int, int]] | None = None,
) -> tuple[MerkleTree, MerkleTree]:
    """Commit an interval whose trees hold these (import_wh, export_wh) readings."""
    trees = [
        MerkleTree.build([leaf_hash(d, start, i, e) for d, (i, e) in readings.items()])
        for readings in (production, consumption or {})
    ]
    if production_wh is None:
        production_wh = sum(e for _, e in production.values())
    readings = len(production) + len(consumption or {})
    monitoring.commit(
        start, trees[0].root, trees[1].root, production_wh, 0, 0, 0, readings, sender=operator
    )
    return trees[0], trees[1]


def commit_totals(monitoring: Any, operator: str, production_wh: dict[int, int]) -> None:
    """Commit intervals by their production alone (enough for the operator's batch mints)."""
    n = len(production_wh)
    monitoring.commit_batch(
        list(production_wh),
        [b"\x01" * 32] * n,
        [b"\x02" * 32] * n,
        list(production_wh.values()),
        *([[0] * n] * 3),
        [2] * n,
        sender=operator,
    )


def mint(
    certificate: Any,
    tree: MerkleTree,
    device: str,
    start: int,
    reading: tuple[int, int],
    sender: str,
) -> None:
    """mint_with_proof of a reading with its proof in ``tree``."""
    proof = tree.proof(leaf_hash(device, start, *reading))
    certificate.mint_with_proof(device, start, *reading, proof, sender=sender)


def test_metadata_and_interfaces(certificate: Any, registry: Any, monitoring: Any) -> None:
    assert certificate.registry() == registry.address
    assert certificate.monitoring() == monitoring.address
    assert certificate.interval_length_s() == INTERVAL_S
    assert certificate.uri(12345) == CERTIFICATE_URI
    for interface_id in (b"\x01\xff\xc9\xa7", b"\xd9\xb6\x7a\x26", b"\x0e\x89\x34\x1c"):
        assert certificate.supportsInterface(interface_id)
    for interface_id in (b"\xff\xff\xff\xff", b"\x80\xac\x58\xcd", b"\x00\x00\x00\x00"):
        assert not certificate.supportsInterface(interface_id)
    assert (certificate.total_minted(), certificate.total_retired()) == (0, 0)


@pytest.mark.parametrize(
    ("device", "start"),
    [("0x" + "00" * 19 + "01", 0), ("0x" + "ff" * 20, 2**64 - 1), ("0x" + "ab" * 20, START)],
)
def test_token_ids_encode_device_and_interval(certificate: Any, device: str, start: int) -> None:
    token = certificate.token_id(device, start)
    assert token == (int(device, 16) << 64) | start
    assert certificate.device_of(token).lower() == device
    assert certificate.interval_of(token) == start


def test_operator_registers_generators(
    certificate: Any, registry: Any, operator: str, community: Community
) -> None:
    pv = community.pv
    assert certificate.generators(pv) == (SOLAR, 10_000, 52_520_000, 13_405_000, 380)
    certificate.register_generator(pv, HYDRO, 12_000, -33_900_000, -70_600_000, 0, sender=operator)
    (event,) = certificate.get_logs()
    assert type(event).__name__ == "GeneratorRegistered"
    assert (event.device, event.participant, event.source) == (pv, community.members[0], HYDRO)
    assert (event.latitude_e6, event.longitude_e6) == (-33_900_000, -70_600_000)
    assert certificate.generators(pv) == (HYDRO, 12_000, -33_900_000, -70_600_000, 0)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((0, 1, 0, 0, 0), "unknown source"),
        ((5, 1, 0, 0, 0), "unknown source"),
        ((BIOMASS, 0, 0, 0, 0), "zero capacity"),
        ((BIOMASS, 10**12 + 1, 0, 0, 0), "capacity above 1 TW"),
        ((WIND, 1, 90_000_001, 0, 0), "latitude out of range"),
        ((WIND, 1, -90_000_001, 0, 0), "latitude out of range"),
        ((WIND, 1, 0, 180_000_001, 0), "longitude out of range"),
        ((WIND, 1, 0, -180_000_001, 0), "longitude out of range"),
    ],
)
def test_generator_metadata_is_checked(
    certificate: Any, operator: str, community: Community, args: tuple[int, ...], reason: str
) -> None:
    with boa.reverts(f"EnergyCertificate: {reason}"):
        certificate.register_generator(community.meter, *args, sender=operator)


def test_only_the_operator_registers_generators_of_registered_devices(
    certificate: Any, operator: str, community: Community
) -> None:
    with boa.reverts("EnergyCertificate: caller is not the operator"):
        certificate.register_generator(
            community.meter, SOLAR, 1, 0, 0, 0, sender=community.members[2]
        )
    with boa.reverts("EnergyCertificate: device is not registered"):
        certificate.register_generator(community.outsider, SOLAR, 1, 0, 0, 0, sender=operator)
    certificate.register_generator(
        community.meter, SOLAR, 1, 90_000_000, -180_000_000, 0, sender=operator
    )


def test_anyone_mints_with_a_proof_to_the_generators_owner(
    certificate: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    production, _ = commit(monitoring, operator, START, {c.pv: (3, 2_000), c.wind: (0, 700)})
    submitter = c.outsider  # not even a participant
    mint(certificate, production, c.pv, START, (3, 2_000), sender=submitter)
    (event,) = certificate.get_logs()
    token = certificate.token_id(c.pv, START)
    assert type(event).__name__ == "TransferSingle"
    assert (event.operator, event.sender, event.receiver) == (submitter, ZERO, c.members[0])
    assert (event.id, event.value) == (token, 2_000)
    assert certificate.balanceOf(c.members[0], token) == 2_000
    assert certificate.minted(token) == 2_000
    assert certificate.total_supply(token) == 2_000
    assert certificate.minted_in_interval(START) == 2_000
    mint(certificate, production, c.wind, START, (0, 700), sender=c.members[1])
    assert certificate.minted_in_interval(START) == 2_700
    assert certificate.total_minted() == 2_700
    assert certificate.balanceOf(c.members[1], certificate.token_id(c.wind, START)) == 700


def test_minting_needs_a_committed_interval_and_a_valid_production_proof(
    certificate: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    readings = {c.pv: (0, 2_000), c.wind: (0, 700)}
    production, _ = commit(monitoring, operator, START, readings)
    pv_proof = production.proof(leaf_hash(c.pv, START, 0, 2_000))
    wind_proof = production.proof(leaf_hash(c.wind, START, 0, 700))
    with boa.reverts("EnergyCertificate: interval not committed"):
        certificate.mint_with_proof(c.pv, LATER, 0, 2_000, pv_proof, sender=c.outsider)
    with boa.reverts("EnergyCertificate: invalid proof"):  # more than the meter read
        certificate.mint_with_proof(c.pv, START, 0, 2_001, pv_proof, sender=c.outsider)
    with boa.reverts("EnergyCertificate: invalid proof"):  # another device's reading
        certificate.mint_with_proof(c.pv, START, 0, 700, wind_proof, sender=c.outsider)
    with boa.reverts("EnergyCertificate: invalid proof"):
        certificate.mint_with_proof(c.pv, START, 0, 2_000, [], sender=c.outsider)
    # a reading committed as consumption is not production
    _, consumption = commit(monitoring, operator, LATER, {c.wind: (0, 10)}, 5_000, readings)
    with boa.reverts("EnergyCertificate: invalid proof"):
        mint(certificate, consumption, c.pv, LATER, (0, 2_000), c.outsider)
    assert certificate.total_minted() == 0


def test_minting_needs_an_active_registered_generator(
    certificate: Any, registry: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    production, _ = commit(monitoring, operator, START, {c.pv: (0, 100), c.meter: (0, 50)})
    with boa.reverts("EnergyCertificate: not a registered generator"):
        mint(certificate, production, c.meter, START, (0, 50), c.outsider)
    registry.set_device_suspended(c.pv, True, sender=operator)
    with boa.reverts("EnergyCertificate: device is not active"):
        mint(certificate, production, c.pv, START, (0, 100), c.outsider)
    registry.set_device_suspended(c.pv, False, sender=operator)
    registry.set_suspended(c.members[0], True, sender=operator)
    with boa.reverts("EnergyCertificate: device is not active"):
        mint(certificate, production, c.pv, START, (0, 100), c.outsider)
    registry.set_suspended(c.members[0], False, sender=operator)
    mint(certificate, production, c.pv, START, (0, 100), c.outsider)


def test_each_id_mints_once_and_never_for_zero(
    certificate: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    production, _ = commit(monitoring, operator, START, {c.pv: (0, 100), c.wind: (5, 0)})
    mint(certificate, production, c.pv, START, (0, 100), c.outsider)
    with boa.reverts("EnergyCertificate: already minted"):
        mint(certificate, production, c.pv, START, (0, 100), c.members[0])
    with boa.reverts("EnergyCertificate: zero amount"):
        mint(certificate, production, c.wind, START, (5, 0), c.outsider)
    assert certificate.total_minted() == 100


def test_minting_is_bounded_by_capacity_and_the_intervals_production(
    certificate: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    over = {c.pv: (0, PV_MAX_WH + 1)}
    production, _ = commit(monitoring, operator, START, over)
    with boa.reverts("EnergyCertificate: amount exceeds the generator's capacity"):
        mint(certificate, production, c.pv, START, (0, PV_MAX_WH + 1), c.outsider)
    # the readings add up to more than the committed production: the first come is served
    readings = {c.pv: (0, PV_MAX_WH), c.wind: (0, WIND_MAX_WH)}
    production, _ = commit(monitoring, operator, LATER, readings, PV_MAX_WH + WIND_MAX_WH - 1)
    mint(certificate, production, c.pv, LATER, (0, PV_MAX_WH), c.outsider)  # capacity: exact
    with boa.reverts("EnergyCertificate: amount exceeds the interval's committed production"):
        mint(certificate, production, c.wind, LATER, (0, WIND_MAX_WH), c.outsider)
    assert certificate.minted_in_interval(LATER) == PV_MAX_WH


def test_operator_mints_batches_under_audit(
    certificate: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    commit_totals(monitoring, operator, {START: 3_000, LATER: 1_000})
    with boa.reverts("EnergyCertificate: caller is not the operator"):
        certificate.mint_batch([c.pv], [START], [10], sender=c.members[0])
    certificate.mint_batch(
        [c.pv, c.wind, c.pv, c.wind],
        [START, START, LATER, LATER],
        [2_000, 900, 600, 400],
        sender=operator,
    )
    events = certificate.get_logs()
    assert [type(e).__name__ for e in events] == ["TransferSingle"] * 4
    assert [(e.operator, e.sender) for e in events] == [(operator, ZERO)] * 4
    assert [e.receiver for e in events] == [c.members[0], c.members[1]] * 2
    ids = [certificate.token_id(d, s) for d, s in ((c.pv, START), (c.wind, START), (c.pv, LATER))]
    assert certificate.balanceOfBatch([c.members[0], c.members[1], c.members[0]], ids) == [
        2_000,
        900,
        600,
    ]
    assert (certificate.minted_in_interval(START), certificate.minted_in_interval(LATER)) == (
        2_900,
        1_000,
    )
    assert certificate.total_minted() == 3_900


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([("pv", START + 2 * INTERVAL_S, 10)], "interval not committed"),
        ([("meter", START, 10)], "not a registered generator"),
        ([("pv", START, 10), ("pv", START, 10)], "already minted"),
        ([("pv", START, 0)], "zero amount"),
        ([("wind", START, WIND_MAX_WH + 1)], "amount exceeds the generator's capacity"),
        (
            [("pv", START, PV_MAX_WH), ("wind", START, WIND_MAX_WH), ("pv", LATER, 1)],
            "amount exceeds the interval's committed production",
        ),
    ],
)
def test_batch_mints_are_bounded_and_all_or_nothing(
    certificate: Any,
    monitoring: Any,
    operator: str,
    community: Community,
    items: list[tuple[str, int, int]],
    reason: str,
) -> None:
    c = community
    commit_totals(monitoring, operator, {START: PV_MAX_WH + WIND_MAX_WH - 1, LATER: 10})
    devices = [getattr(c, name) for name, _, _ in items]
    starts = [start for _, start, _ in items]
    amounts = [amount for _, _, amount in items]
    with boa.reverts(f"EnergyCertificate: {reason}"):
        certificate.mint_batch(devices, starts, amounts, sender=operator)
    assert certificate.total_minted() == 0


def test_batch_mints_check_devices_lengths_and_earlier_mints(
    certificate: Any, registry: Any, monitoring: Any, operator: str, community: Community
) -> None:
    c = community
    production, _ = commit(monitoring, operator, START, {c.pv: (0, 100)}, 2_000)
    mint(certificate, production, c.pv, START, (0, 100), c.outsider)
    with boa.reverts("EnergyCertificate: already minted"):
        certificate.mint_batch([c.wind, c.pv], [START, START], [10, 100], sender=operator)
    with boa.reverts("EnergyCertificate: length mismatch"):
        certificate.mint_batch([c.wind], [START, START], [10], sender=operator)
    with boa.reverts("EnergyCertificate: length mismatch"):
        certificate.mint_batch([c.wind], [START], [10, 10], sender=operator)
    registry.set_device_suspended(c.wind, True, sender=operator)
    with boa.reverts("EnergyCertificate: device is not active"):
        certificate.mint_batch([c.wind], [START], [10], sender=operator)
    registry.set_device_suspended(c.wind, False, sender=operator)
    # the proof path and the batch path share the interval's cap
    certificate.mint_batch([c.wind], [START], [WIND_MAX_WH], sender=operator)
    assert certificate.minted_in_interval(START) == 100 + WIND_MAX_WH
    certificate.mint_batch([], [], [], sender=operator)


@pytest.fixture
def minted(certificate: Any, monitoring: Any, operator: str, community: Community) -> list[int]:
    """members[0] holds 2000 Wh of pv at START and 600 at LATER; members[1] 900 of wind."""
    c = community
    commit_totals(monitoring, operator, {START: 3_000, LATER: 1_000})
    certificate.mint_batch(
        [c.pv, c.wind, c.pv], [START, START, LATER], [2_000, 900, 600], sender=operator
    )
    return [certificate.token_id(d, s) for d, s in ((c.pv, START), (c.wind, START), (c.pv, LATER))]


def test_holders_transfer_certificates(
    certificate: Any, community: Community, minted: list[int]
) -> None:
    a, b, _ = community.members
    certificate.safeTransferFrom(a, b, minted[0], 500, b"", sender=a)
    (event,) = certificate.get_logs()
    assert (event.operator, event.sender, event.receiver, event.id, event.value) == (
        a,
        a,
        b,
        minted[0],
        500,
    )
    assert certificate.balanceOfBatch([a, b], [minted[0], minted[0]]) == [1_500, 500]
    certificate.safeTransferFrom(a, a, minted[0], 1_500, b"", sender=a)  # to oneself
    assert certificate.balanceOf(a, minted[0]) == 1_500
    with boa.reverts("EnergyCertificate: insufficient balance"):
        certificate.safeTransferFrom(a, b, minted[0], 1_501, b"", sender=a)
    with boa.reverts("EnergyCertificate: transfer to the zero address"):
        certificate.safeTransferFrom(a, ZERO, minted[0], 1, b"", sender=a)
    with boa.reverts("EnergyCertificate: caller is not the holder or an approved operator"):
        certificate.safeTransferFrom(a, b, minted[0], 1, b"", sender=b)
    # certificates are not restricted to participants
    certificate.safeTransferFrom(a, community.outsider, minted[0], 1, b"", sender=a)
    assert certificate.balanceOf(community.outsider, minted[0]) == 1


def test_approved_operators_move_all_of_a_holders_certificates(
    certificate: Any, community: Community, minted: list[int]
) -> None:
    a, b, market = community.members[0], community.members[1], community.outsider
    certificate.setApprovalForAll(market, True, sender=a)
    (event,) = certificate.get_logs()
    assert (type(event).__name__, event.owner, event.operator, event.approved) == (
        "ApprovalForAll",
        a,
        market,
        True,
    )
    assert certificate.isApprovedForAll(a, market)
    certificate.safeTransferFrom(a, b, minted[0], 100, b"", sender=market)
    certificate.safeBatchTransferFrom(a, b, [minted[0], minted[2]], [1, 2], b"", sender=market)
    assert certificate.balanceOf(b, minted[0]) == 101
    certificate.setApprovalForAll(market, False, sender=a)
    with boa.reverts("EnergyCertificate: caller is not the holder or an approved operator"):
        certificate.safeTransferFrom(a, b, minted[0], 1, b"", sender=market)
    with boa.reverts("EnergyCertificate: caller is not the holder or an approved operator"):
        certificate.safeBatchTransferFrom(a, b, [minted[0]], [1], b"", sender=market)
    with boa.reverts("EnergyCertificate: zero address"):
        certificate.setApprovalForAll(ZERO, True, sender=a)


def test_batch_transfers(certificate: Any, community: Community, minted: list[int]) -> None:
    a, b, _ = community.members
    certificate.safeBatchTransferFrom(a, b, [minted[0], minted[2]], [2_000, 100], b"", sender=a)
    (event,) = certificate.get_logs()
    assert type(event).__name__ == "TransferBatch"
    assert (event.operator, event.sender, event.receiver) == (a, a, b)
    assert (list(event.ids), list(event.values)) == ([minted[0], minted[2]], [2_000, 100])
    assert certificate.balanceOfBatch([a, a, b, b], [minted[0], minted[2]] * 2) == [
        0,
        500,
        2_000,
        100,
    ]
    with boa.reverts("EnergyCertificate: insufficient balance"):
        certificate.safeBatchTransferFrom(a, b, [minted[2], minted[2]], [300, 300], b"", sender=a)
    with boa.reverts("EnergyCertificate: length mismatch"):
        certificate.safeBatchTransferFrom(a, b, [minted[2]], [1, 1], b"", sender=a)
    with boa.reverts("EnergyCertificate: transfer to the zero address"):
        certificate.safeBatchTransferFrom(a, ZERO, [minted[2]], [1], b"", sender=a)
    with boa.reverts("EnergyCertificate: length mismatch"):
        certificate.balanceOfBatch([a], [minted[0], minted[1]])


def test_contract_receivers_must_accept(
    certificate: Any, registry: Any, community: Community, minted: list[int]
) -> None:
    a = community.members[0]
    accepting, rejecting = boa.loads(RECEIVER, True), boa.loads(RECEIVER, False)
    certificate.safeTransferFrom(a, accepting.address, minted[0], 10, b"hello", sender=a)
    certificate.safeBatchTransferFrom(
        a, accepting.address, [minted[0], minted[2]], [1, 2], b"", sender=a
    )
    assert (accepting.received(), accepting.calls()) == (13, 2)
    with boa.reverts("EnergyCertificate: receiver rejected the tokens"):
        certificate.safeTransferFrom(a, rejecting.address, minted[0], 10, b"", sender=a)
    with boa.reverts("EnergyCertificate: receiver rejected the tokens"):
        certificate.safeBatchTransferFrom(a, rejecting.address, [minted[0]], [1], b"", sender=a)
    with boa.reverts():  # a contract without the hook
        certificate.safeTransferFrom(a, registry.address, minted[0], 10, b"", sender=a)
    assert certificate.balanceOf(a, minted[0]) == 2_000 - 11


def test_mints_to_a_contract_owner_call_its_hook(
    certificate: Any, registry: Any, monitoring: Any, operator: str
) -> None:
    """A participant may be a contract (a multisig, a cooperative's treasury)."""
    accepting, rejecting = boa.loads(RECEIVER, True), boa.loads(RECEIVER, False)
    devices = [str(boa.env.generate_address(n)) for n in ("pv-a", "pv-r")]
    for device, owner in zip(devices, (accepting, rejecting), strict=True):
        registry.register(owner.address, ROLE_PRODUCER, sender=operator)
        registry.register_device(device, owner.address, METER, sender=operator)
        certificate.register_generator(device, SOLAR, 10_000, 0, 0, 0, sender=operator)
    readings = {devices[0]: (0, 100), devices[1]: (0, 200)}
    production, _ = commit(monitoring, operator, START, readings)
    mint(certificate, production, devices[0], START, (0, 100), operator)
    assert (accepting.received(), accepting.calls()) == (100, 1)
    with boa.reverts("EnergyCertificate: receiver rejected the tokens"):
        mint(certificate, production, devices[1], START, (0, 200), operator)
    commit(monitoring, operator, LATER, readings)
    with boa.reverts("EnergyCertificate: receiver rejected the tokens"):
        certificate.mint_batch(devices, [LATER, LATER], [100, 200], sender=operator)
    certificate.mint_batch(devices[:1], [LATER], [100], sender=operator)
    assert (accepting.received(), accepting.calls()) == (200, 2)


def test_retiring_burns_and_records_a_claim(
    certificate: Any, community: Community, minted: list[int]
) -> None:
    a, b, _ = community.members
    certificate.safeTransferFrom(a, b, minted[0], 300, b"", sender=a)
    claim_id = certificate.retire(minted[0], 1_200, "Bakery Miller", "Scope 2, 2025 Q1", sender=a)
    assert claim_id == 1
    burn, retired = certificate.get_logs()
    assert (type(burn).__name__, burn.sender, burn.receiver, burn.id, burn.value) == (
        "TransferSingle",
        a,
        ZERO,
        minted[0],
        1_200,
    )
    assert type(retired).__name__ == "Retired"
    assert (retired.holder, retired.id, retired.amount, retired.claim_id) == (
        a,
        minted[0],
        1_200,
        1,
    )
    assert (retired.beneficiary, retired.purpose) == ("Bakery Miller", "Scope 2, 2025 Q1")
    assert certificate.claims(1) == (
        a,
        minted[0],
        1_200,
        "Bakery Miller",
        "Scope 2, 2025 Q1",
        boa.env.evm.patch.block_number,
    )
    assert certificate.balanceOf(a, minted[0]) == 500
    assert certificate.retired(minted[0]) == 1_200
    assert certificate.total_supply(minted[0]) == 800
    assert certificate.minted(minted[0]) == 2_000
    assert certificate.retire(minted[0], 300, "", "", sender=b) == 2
    assert certificate.claim_count() == 2
    assert (certificate.total_minted(), certificate.total_retired()) == (3_500, 1_500)
    with boa.reverts("EnergyCertificate: insufficient balance"):
        certificate.retire(minted[0], 501, "x", "y", sender=a)
    with boa.reverts("EnergyCertificate: zero amount"):
        certificate.retire(minted[0], 0, "x", "y", sender=a)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["transfer", "batch", "retire"]),
            st.integers(0, 3),  # holder
            st.integers(0, 3),  # receiver
            st.integers(0, 2),  # token
            st.integers(0, 2_500),  # amount
        ),
        max_size=15,
    )
)
def test_fuzz_balances_add_up_to_minted_minus_retired(
    certificate: Any,
    community: Community,
    minted: list[int],
    ops: list[tuple[str, int, int, int, int]],
) -> None:
    holders = [*community.members, community.outsider]
    with boa.env.anchor():
        for op, i, j, k, amount in ops:
            holder, receiver, token = holders[i], holders[j], minted[k]
            funded = certificate.balanceOf(holder, token) >= amount
            if op == "retire" and funded and amount > 0:
                certificate.retire(token, amount, "b", "p", sender=holder)
            elif op == "transfer" and funded:
                certificate.safeTransferFrom(holder, receiver, token, amount, b"", sender=holder)
            elif op == "batch" and funded:
                certificate.safeBatchTransferFrom(
                    holder, receiver, [token], [amount], b"", sender=holder
                )
        total = 0
        for token in minted:
            held = sum(certificate.balanceOfBatch(holders, [token] * len(holders)))
            assert held == certificate.minted(token) - certificate.retired(token)
            assert held == certificate.total_supply(token)
            total += held
        assert total == certificate.total_minted() - certificate.total_retired()


def test_gas_of_mints() -> None:
    """Gas of one proven mint (16 generators in the tree) and of 256-item batches."""
    count = 16
    with boa.swap_env(boa.Env()):
        operator = str(boa.env.generate_address("operator"))
        registry = deploy("ParticipantRegistry", sender=operator)
        monitoring = deploy("EnergyMonitoring", registry.address, INTERVAL_S, sender=operator)
        certificate = deploy(
            "EnergyCertificate",
            registry.address,
            monitoring.address,
            CERTIFICATE_URI,
            sender=operator,
        )
        owners = [str(boa.env.generate_address(f"owner-{i}")) for i in range(count)]
        devices = [str(boa.env.generate_address(f"pv-{i}")) for i in range(count)]
        registry.register_batch(owners, [ROLE_PROSUMER] * count, sender=operator)
        for device, owner in zip(devices, owners, strict=True):
            registry.register_device(device, owner, METER, sender=operator)
            certificate.register_generator(device, SOLAR, 10_000, 0, 0, 0, sender=operator)
        starts = [START + i * INTERVAL_S for i in range(2 * count + 2)]
        trees = []
        for start in starts[:2]:
            readings = {d: (1, 1_000 + n) for n, d in enumerate(devices)}
            trees.append(commit(monitoring, operator, start, readings)[0])
        commit_totals(monitoring, operator, dict.fromkeys(starts[2:], 10**6))
        # a first mint, so the totals already hold a value as on a chain in use
        proof = trees[0].proof(leaf_hash(devices[0], starts[0], 1, 1_000))
        certificate.mint_with_proof(devices[0], starts[0], 1, 1_000, proof, sender=operator)
        proven = []  # the first mint of an interval, then another one
        for n in (3, 4):
            proof = trees[1].proof(leaf_hash(devices[n], starts[1], 1, 1_000 + n))
            proven.append(
                transaction_gas(
                    certificate.mint_with_proof,
                    *(devices[n], starts[1], 1, 1_000 + n, proof),
                    sender=owners[n],
                )
            )
        # 16 generators x 16 intervals, ordered by device, then by interval
        by_device = [(d, s) for d in devices for s in starts[2 : 2 + count]]
        by_interval = [(d, s) for s in starts[2 + count :] for d in devices]
        gas = [
            transaction_gas(
                certificate.mint_batch,
                [d for d, _ in items],
                [s for _, s in items],
                [1_000] * len(items),
                sender=operator,
            )
            for items in (by_device, by_interval)
        ]
        assert certificate.total_minted() == 1_000 + 1_003 + 1_004 + 2 * 256 * 1_000
    print(
        f"\ngas: mint_with_proof {proven[0]} first of its interval, {proven[1]} next (proofs "
        f"of {len(proof)}); mint_batch of 256 {gas[0]} by device ({gas[0] // 256}/item), "
        f"{gas[1]} by interval ({gas[1] // 256}/item)"
    )
    assert max(proven) < 200_000
    assert max(gas) < 256 * 80_000


def test_audit_views_answer_many_intervals_at_once(
    certificate: Any, monitoring: Any, registry: Any, community: Community, operator: str
) -> None:
    commit_totals(monitoring, operator, {START: 3_000, LATER: 500})
    certificate.mint_batch(
        [community.pv, community.wind, community.pv], [START, START, LATER], [2_000, 900, 400],
        sender=operator,
    )  # fmt: skip
    never = LATER + INTERVAL_S
    assert certificate.minted_in_intervals([START, LATER, never]) == [2_900, 400, 0]
    found = monitoring.commitments_of([START, never, LATER])
    assert [c[2] for c in found] == [3_000, 0, 500]  # production_wh
    assert [c[6] for c in found] == [2, 0, 2]  # readings (0: never committed)


def test_registry_lists_owners_of_active_devices_only(
    registry: Any, community: Community, operator: str
) -> None:
    stranger = str(boa.env.generate_address("stranger"))
    devices = [community.pv, community.wind, community.meter, stranger]
    assert registry.active_device_owners(devices) == [*community.members[:3], ZERO]
    registry.set_device_suspended(community.wind, True, sender=operator)
    registry.set_suspended(community.members[2], True, sender=operator)
    assert registry.active_device_owners(devices) == [community.members[0], ZERO, ZERO, ZERO]
