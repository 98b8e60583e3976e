"""Putting a simulated community on its chain: accounts, devices, generators.

Simulated members get deterministic accounts (derived like the simulated device keys,
:func:`participant_accounts`); a node's members bring their own (``gridshare serve
--registry``). The scenario's operator is the chain's operator (the key that deployed the
contracts). Every meter's device is registered to its owner; every production meter is
registered as a generator with its source, rated capacity and location, so its
certificates carry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridshare.certificates.issuance import DEFAULT_AVOIDED_G_PER_KWH, source_code
from gridshare.ledger.metering import Generator, MeteringLedger
from gridshare.metering.validation import capacity_w
from gridshare.metering.wire import device_address
from gridshare.model import Community, MeterKind, Role
from gridshare.simulator.meters import simulated_device_key

ROLE_CODES = {Role.OPERATOR: 1, Role.PRODUCER: 2, Role.CONSUMER: 3, Role.PROSUMER: 4}


def participant_accounts(community: Community, seed: int, operator: str) -> dict[str, str]:
    """Chain account of each participant (the operator's is the chain operator's)."""
    accounts = {}
    for p in community.participants:
        if p.role is Role.OPERATOR:
            accounts[p.participant_id] = operator
        else:
            key = simulated_device_key(
                community.community_id, seed, f"participant:{p.participant_id}"
            )
            accounts[p.participant_id] = "0x" + device_address(key).hex()
    return {pid: _checksum(a) for pid, a in accounts.items()}


def _checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def onboard(
    community: Community,
    devices: Sequence[bytes],
    accounts: Mapping[str, str],
    ledger: MeteringLedger,
    *,
    avoided_g_per_kwh: int = DEFAULT_AVOIDED_G_PER_KWH,
) -> dict[str, str]:
    """Register members (``accounts``: participant id -> account), each meter's device
    (``devices``, in meter order) and the generators on chain, skipping what the chain
    holds; returns the participant accounts, checksummed."""
    accounts = {pid: _checksum(a) for pid, a in accounts.items()}
    roles = {p.participant_id: p.role for p in community.participants}
    participants = [
        (accounts[pid], ROLE_CODES[roles[pid]])
        for pid in accounts
        if roles[pid] is not Role.OPERATOR
    ]
    registered = []
    generators = []
    catalogue = community.catalogue
    locations = {p.participant_id: p.location for p in community.participants}
    for i, meter in enumerate(community.meters):
        device = devices[i]
        registered.append((device, accounts[meter.participant_id], meter.meter_id))
        if meter.kind is MeterKind.PRODUCTION:
            asset = community.asset(meter.asset_id or "")
            where = locations[meter.participant_id]
            generators.append(
                Generator(
                    device,
                    source_code(int(catalogue.source_code[i])),
                    capacity_w(asset.rated_power_kw),  # the same bound ingest applies
                    round(where.latitude_deg * 1e6),
                    round(where.longitude_deg * 1e6),
                    avoided_g_per_kwh,
                )
            )
    ledger.register(participants, registered, generators)
    return accounts
