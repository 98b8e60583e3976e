"""Everything ``gridshare verify`` checks, as one function the simulator uses too.

1. Registry and credit: events indexed into the store, recomputed balances, supply and
   roles compared with the chain (issue 3, :func:`chain_sync.verify`).
2. Metering: every interval the *chain* holds a commitment for must have a store record
   and vice versa; each one's roots and aggregates are recomputed from the readings the
   store holds now; certificates minted per interval must equal metered production, and
   each certificate token (device, interval) must equal that device's reading.
3. Device signatures: every stored signed bundle must recover its meter's registered
   device, and every stored reading must be what its device signed. In a community fed
   by signed meters, a stored reading no signature attests is a problem too.
4. Market: stored orders, fills, trades and settlements against their signatures, the
   meters and the P2PTrading contract's ``Settled`` events (:mod:`.market_audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from web3 import Web3

from gridshare.balancing.schedule import meter_key
from gridshare.certificates.issuance import split_token_id
from gridshare.certificates.report import Mint, decode_certificate_events
from gridshare.ledger.balancing import decode_balancing_events
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.events import EventReader
from gridshare.ledger.metering import MeteringLedger
from gridshare.ledger.state import CommunityState
from gridshare.market.orders import MarketRules, domain_separator
from gridshare.metering.evidence import audit_signed_readings
from gridshare.model.chain import ChainEvent
from gridshare.model.summary import JsonValue
from gridshare.pipeline.balancing_audit import audit_balancing
from gridshare.pipeline.chain_sync import index_chain, verify
from gridshare.pipeline.market_audit import audit_market
from gridshare.pipeline.metering_steps import audit_metering
from gridshare.storage.store import SqlStore

Progress = Callable[[str, int, int], None]


@dataclass
class AuditReport:
    findings: list[str] = field(default_factory=list)
    """What was checked, one line each."""
    problems: list[str] = field(default_factory=list)
    intervals_checked: int = 0
    production_wh: int = 0
    certified_wh: int = 0
    readings_proven: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "intervals_checked": self.intervals_checked,
            "production_wh": self.production_wh,
            "certified_wh": self.certified_wh,
            "readings_proven_by_signature": self.readings_proven,
            "findings": list(self.findings),
            "problems": list(self.problems),
        }


def audit_all(
    web3: Web3,
    deployment: Deployment,
    ledger: MeteringLedger,
    store: SqlStore,
    community_ids: list[str],
    progress: Progress | None = None,
    *,
    recheck_events: bool = True,
) -> AuditReport:
    """Run every check; ``community_ids``: the communities of this chain in the store.

    New chain events are indexed first. ``recheck_events`` then reads every event from
    the chain again and compares it with the store's copy (issue 3's check); a
    simulation that indexed them a moment ago skips that second full read.
    """
    report = AuditReport()
    reader = EventReader(web3, deployment)
    index_chain(reader, store, deployment.chain_id, int(web3.eth.block_number))
    if recheck_events:
        chain = verify(store, reader, CommunityState(web3, deployment), deployment.chain_id)
        report.findings.append(
            f"Registry and credit: {chain.events_checked} events and "
            f"{chain.accounts_checked} credit balances checked on chain {deployment.chain_id}"
        )
        report.problems += chain.mismatches
    events = store.chain_events(deployment.chain_id)
    on_chain = sorted(
        int(str(e.arg("start")))
        for e in events
        if e.contract == "EnergyMonitoring" and e.event == "IntervalCommitted"
    )
    for community_id in community_ids:
        recorded = {int(s) for s in store.commitments(community_id)["interval_start_s"]}
        for start in sorted(recorded - set(on_chain)):
            report.problems.append(
                f"interval {start}: the store records a commitment the chain does not hold"
            )
        for start in sorted(set(on_chain) - recorded):
            report.problems.append(
                f"interval {start}: committed on chain, but the store has no record of it"
            )

        def step(done: int, total: int) -> None:
            if progress:
                progress("verify", done, total)

        metering = audit_metering(on_chain, partial(store.leaf_rows, community_id), ledger, step)
        report.intervals_checked += metering.intervals_checked
        report.production_wh += metering.production_wh
        report.certified_wh += metering.certified_wh
        report.problems += metering.problems
        report.findings.append(
            f"Metering of {community_id}: {metering.intervals_checked} committed intervals "
            f"recomputed from the store; certificates {metering.certified_wh:,} Wh for "
            f"{metering.production_wh:,} Wh of production"
        )

        # every certificate, one by one: the amount minted for a device and interval must
        # be exactly that device's stored production reading
        metered = store.production_exports(community_id)
        committed = set(on_chain)
        minted: dict[tuple[bytes, int], int] = {}
        for event in decode_certificate_events(events):
            if isinstance(event, Mint):
                minted[split_token_id(event.token_id)] = event.amount_wh
        for (device, start), amount in sorted(minted.items()):
            if metered.get((device, start)) != amount:
                report.problems.append(
                    f"certificate of device 0x{device.hex()} for interval {start}: {amount} Wh "
                    f"minted, the store holds {metered.get((device, start))} Wh of production"
                )
        missing = [k for k in metered if k[1] in committed and metered[k] and k not in minted]
        for device, start in sorted(missing):
            report.problems.append(
                f"device 0x{device.hex()} produced {metered[(device, start)]} Wh in committed "
                f"interval {start}, but no certificate was minted"
            )
        report.findings.append(
            f"Certificates of {community_id}: {len(minted)} tokens compared one by one with "
            "the production readings"
        )

        bundles = list(store.signed_bundles(community_id))
        stored = store.stored_energy(community_id)
        evidence = audit_signed_readings(bundles, stored, require_all=bool(bundles))
        report.readings_proven += evidence.readings_proven
        report.problems += evidence.problems
        report.findings.append(
            f"Device signatures of {community_id}: {evidence.bundles_checked} signed bundles "
            f"checked, {evidence.readings_proven} of {len(stored)} stored readings proven by "
            "their device's signature"
            + ("" if bundles else " (a simulated community: its meters sign nothing)")
        )
        _audit_market(report, web3, deployment, store, community_id, events)
        _audit_balancing(report, deployment, store, community_id, events)
    return report


def _audit_balancing(
    report: AuditReport,
    deployment: Deployment,
    store: SqlStore,
    community_id: str,
    events: list[ChainEvent],
) -> None:
    if "GridBalancing" not in deployment.contracts:
        return
    history = decode_balancing_events(e for e in events if e.contract == "GridBalancing")
    setpoints = store.dispatch_setpoints(community_id)
    islands = store.island_events(community_id)
    responses = store.dr_responses(community_id)
    if not (len(setpoints) or len(islands) or len(responses) or history.schedules):
        return
    # members' accounts from the registry: each of their meters' device names its owner
    owner_of_key = {
        str(e.arg("meter_id")): str(e.arg("participant"))
        for e in events
        if e.contract == "ParticipantRegistry" and e.event == "DeviceRegistered"
    }
    accounts = {}
    for meter_id, participant_id in store.meter_owners(community_id).items():
        account = owner_of_key.get("0x" + meter_key(meter_id).hex())
        if account is not None:
            accounts[participant_id] = account
    audit = audit_balancing(
        setpoints,
        store.balancing_intervals(community_id),
        islands,
        responses,
        history,
        accounts,
        store.interval_length_s(community_id),
    )
    report.problems += audit.problems
    report.findings.append(
        f"Balancing of {community_id}: {audit.schedules} dispatched schedules recomputed "
        f"from the stored setpoints, {audit.islands} islands and {audit.responses} "
        "demand-response payments compared with the GridBalancing contract"
    )


def _audit_market(
    report: AuditReport,
    web3: Web3,
    deployment: Deployment,
    store: SqlStore,
    community_id: str,
    events: list[ChainEvent],
) -> None:
    intervals = store.market_intervals(community_id)
    if "P2PTrading" not in deployment.contracts:
        return
    p2p = contract(web3, deployment, "P2PTrading")
    address = bytes.fromhex(deployment.address("P2PTrading")[2:])
    rules = MarketRules(
        interval_s=int(p2p.functions.interval_length_s().call()),
        fee_per_kwh=int(p2p.functions.fee_per_kwh().call()),
        fee_bps=int(p2p.functions.fee_bps().call()),
    )
    settled = {
        int(str(e.arg("start"))): dict(e.args)
        for e in events
        if e.contract == "P2PTrading" and e.event == "Settled"
    }
    day_settled = {
        int(str(e.arg("day"))): dict(e.args)
        for e in events
        if e.contract == "P2PTrading" and e.event == "DaySettled"
    }
    if not len(intervals) and not settled and not day_settled:
        return
    market = audit_market(
        intervals,
        store.market_fills(community_id),
        store.market_trades(community_id),
        store.grid_exports(community_id),
        settled,
        domain_separator(deployment.chain_id, address),
        rules,
        day_settled,
    )
    report.problems += market.problems
    report.findings.append(
        f"Market of {community_id}: {market.intervals} intervals and {market.orders} orders "
        f"checked against their signatures and the meters; {market.settled_on_chain} "
        "settlements compared with the chain"
    )
