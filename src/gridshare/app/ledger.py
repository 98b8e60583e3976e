"""A community on its chain: contracts deployed or loaded, members, devices and
generators registered, escrow and the flexibility pool funded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gridshare.app.steps import Chains
from gridshare.ledger.balancing import BalancingLedger
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import deploy_or_load
from gridshare.ledger.keys import Signer
from gridshare.ledger.market import MarketLedger
from gridshare.ledger.metering import MeteringLedger
from gridshare.model import Community
from gridshare.simulator.balancing import CommunityBalancingChain, flexibility_budget
from gridshare.simulator.market import market_rules
from gridshare.simulator.onchain import onboard
from gridshare.simulator.scenario import Scenario

__all__ = ["CommunityLedger", "Registration", "connect_ledger"]


@dataclass(frozen=True)
class Registration:
    """Who the community's chain must know: each meter's device address (in meter order)
    and each participant's account (participant id -> address)."""

    devices: Sequence[bytes]
    accounts: Mapping[str, str]


@dataclass
class CommunityLedger:
    """The open chain and the community's contracts on it."""

    connection: ChainConnection
    metering: MeteringLedger
    chains: Chains
    market: MarketLedger | None = None

    def close(self) -> None:
        self.connection.close()


def connect_ledger(
    scenario: Scenario,
    community: Community,
    registration: Registration,
    directory: Path,
    operator: Signer,
    *,
    run_id: str,
    escrow_micros: Mapping[bytes, int] | None,
    balancing: bool = True,
    chain_url: str | None = None,
    joined: frozenset[bytes] = frozenset(),
) -> CommunityLedger:
    """Open the chain (the embedded one in ``directory``, or the JSON-RPC node at
    ``chain_url``), deploy or load the contracts, register the community's members and
    meters, and fund the members' escrow (``escrow_micros`` by account; None: no market)
    and the demand-response pool. Funding is keyed by ``run_id``: a deposit reference
    already minted is not minted again. The accounts in ``joined`` (members who joined
    through a registration) are funded each against a reference of their own, so that
    one who joins later is funded when they join."""
    connection = open_chain(directory, operator, chain_url)
    try:
        interval_s = int(community.interval_length.total_seconds())
        deployment = deploy_or_load(
            connection.transactions, directory, interval_length_s=interval_s
        )
        metering = MeteringLedger(connection.transactions, deployment)
        accounts = onboard(community, registration.devices, registration.accounts, metering)
        market = None
        if escrow_micros is not None:
            market = MarketLedger(connection.transactions, deployment)
            # simulated days pass in seconds: nobody could dispute in between
            market.configure(
                market_rules(scenario.market, interval_s),
                dispute_window_s=0,
                withdrawal_delay_s=86_400,
            )
            market.fund(
                {
                    "0x" + maker.hex(): amount
                    for maker, amount in escrow_micros.items()
                    if maker not in joined
                },
                reference=f"{run_id}/escrow",
            )
            for maker in sorted(joined & set(escrow_micros)):
                account = "0x" + maker.hex()
                market.fund({account: escrow_micros[maker]}, reference=f"{run_id}/escrow/{account}")
        balancing_chain = None
        if balancing:
            balancing_ledger = BalancingLedger(connection.transactions, deployment)
            balancing_ledger.fund(flexibility_budget(scenario), reference=f"{run_id}/flexibility")
            balancing_chain = CommunityBalancingChain(
                balancing_ledger,
                {i: accounts[p.participant_id] for i, p in enumerate(community.participants)},
            )
        devices: list[bytes | None] = list(registration.devices)
        chains = Chains(devices, metering, market, balancing_chain)
        return CommunityLedger(connection, metering, chains, market)
    except BaseException:
        connection.close()
        raise
