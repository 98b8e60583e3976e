"""``gridshare serve``: the community node, run until it is stopped.

One process: HTTP ingest always, MQTT ingest (and device commands, grid status) when a
broker is configured, the full interval pipeline on the real clock (accounting,
commitments, certificates, market, balancing) and the ledger. Embedded defaults: SQLite
and the embedded chain in the data directory; PostgreSQL and any EVM JSON-RPC node by
settings alone (``GRIDSHARE_DATABASE_URL``, ``GRIDSHARE_CHAIN_URL``).

The community (members, assets, meters, tariff, market and balancing rules) comes from a
community file in the scenario format; who holds which key comes from a registry file
of addresses only: each meter's device address and each member's account. The node
holds no key but the operator's (from the keystore); members trade by submitting signed
orders through the API (``POST /v1/market/orders``); the market books them at each gate
closure and settles what the meters delivered.

SIGTERM or SIGINT stops the node gracefully: the interval being processed commits (or,
if it fails, rolls back), the steps write their totals, ingest stops, the store and the
chain are closed, and the process exits 0. Restarting resumes from the store
(:mod:`gridshare.app.node`).
"""

from __future__ import annotations

import re
import signal
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from gridshare.app.ledger import Registration
from gridshare.app.node import Members, NodeOptions, NodeResult, run_node
from gridshare.app.registrations import approval_order, in_force, joined_participant_id
from gridshare.app.steps import Trading
from gridshare.errors import ConfigurationError
from gridshare.ledger.keys import Signer
from gridshare.model import Community, Role
from gridshare.model.records import RegistrationStatus
from gridshare.simulator.market import escrow_deposits
from gridshare.simulator.run import prepare, scenario_community
from gridshare.simulator.scenario import Scenario
from gridshare.storage import SqlStore, open_store

__all__ = ["read_registry", "serve", "stopping_on_signals"]

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _address(value: object, what: str, path: Path) -> bytes:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ConfigurationError(f"{path}: {what}: expected a 0x-prefixed 20-byte address")
    return bytes.fromhex(value[2:])


def read_registry(path: Path, community: Community, operator_address: str) -> Registration:
    """Each meter's device address and each participant's account from ``path``::

        [accounts]   # participant id -> account address (the operator: the operator key)
        "tiny:homes-001" = "0x..."
        [devices]    # meter id -> device address (the key stays in the meter)
        "tiny:homes-001/grid/meter" = "0x..."

    Every meter needs a device and every member but the operator an account.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the registry {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    unknown_tables = sorted(set(data) - {"accounts", "devices"})
    if unknown_tables:
        raise ConfigurationError(
            f"{path}: unknown table(s) {unknown_tables}: use [accounts] and [devices]"
        )
    accounts = data.get("accounts", {})
    devices = data.get("devices", {})
    if not isinstance(accounts, dict) or not isinstance(devices, dict):
        raise ConfigurationError(f"{path}: [accounts] and [devices] must be tables")
    participants = {p.participant_id: p for p in community.participants}
    meters = [m.meter_id for m in community.meters]
    for kind, given, known in (
        ("participant", accounts, participants),
        ("meter", devices, meters),
    ):
        strangers = sorted(set(given) - set(known))
        if strangers:
            raise ConfigurationError(
                f"{path}: no {kind} {strangers[0]!r} in community {community.community_id}"
            )
    chosen: dict[str, str] = {}
    for pid, participant in participants.items():
        if participant.role is Role.OPERATOR:
            claimed = accounts.get(pid, operator_address)
            if not isinstance(claimed, str) or claimed.lower() != operator_address.lower():
                raise ConfigurationError(
                    f"{path}: the operator {pid!r} holds the operator key {operator_address}; "
                    "leave it out of [accounts]"
                )
            chosen[pid] = operator_address
        elif pid in accounts:
            chosen[pid] = "0x" + _address(accounts[pid], f"account of {pid}", path).hex()
        else:
            raise ConfigurationError(f"{path}: [accounts] has no address for member {pid!r}")
    missing = [m for m in meters if m not in devices]
    if missing:
        raise ConfigurationError(
            f"{path}: [devices] has no address for meter {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    addresses = [_address(devices[m], f"device of {m}", path) for m in meters]
    if len(set(addresses)) != len(addresses):
        raise ConfigurationError(f"{path}: a device address is given to two meters")
    return Registration(addresses, chosen)


def members_trading(
    scenario: Scenario, community: Community, registration: Registration
) -> Trading:
    """The members trade with their own keys, through the API: each account's position,
    and the escrow the operator records as deposited for them on the first start (a
    week's deposit from the community file's market section; the chain's balance after)."""
    deposits = escrow_deposits(community, scenario.market, days=7)
    accounts: dict[bytes, int] = {}
    escrow: dict[bytes, int] = {}
    for i, participant in enumerate(community.participants):
        if participant.role is Role.OPERATOR:
            continue
        account = bytes.fromhex(registration.accounts[participant.participant_id][2:])
        accounts[account] = i
        escrow[account] = deposits[i]
    return Trading({}, escrow, accounts=accounts)


@contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set ``stop`` (the node then winds down) instead
    of killing the process; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _registration_with(
    registration: Registration,
    base: Community,
    community: Community,
    accounts: dict[str, str],
    devices: dict[str, str],
) -> Registration:
    """The registry file's addresses for the file's members and meters, and the approved
    registrations' for those who joined (``community`` lists the file's first)."""
    file_devices = {
        m.meter_id: "0x" + d.hex() for m, d in zip(base.meters, registration.devices, strict=True)
    }
    every = {**file_devices, **devices}
    return Registration(
        [bytes.fromhex(every[m.meter_id][2:]) for m in community.meters],
        {**registration.accounts, **accounts},
    )


class _Watch:
    """After each closed interval: tell ``on_interval``, then look for approvals and
    configuration changes made since the run started; when there are, end the run (the
    node starts again with them)."""

    def __init__(
        self,
        store: SqlStore,
        community_id: str,
        known: tuple[int, int],
        run_stop: threading.Event,
        on_interval: Callable[[int], None] | None,
    ) -> None:
        self.store = store
        self.community_id = community_id
        self.seen = known
        self.run_stop = run_stop
        self.on_interval = on_interval

    def closed(self, done: int) -> None:
        if self.on_interval is not None:
            self.on_interval(done)
        now = self.store.taken_in(self.community_id)
        if now != self.seen:
            self.seen = now
            self.run_stop.set()


@contextmanager
def _linked(outer: threading.Event, inner: threading.Event) -> Iterator[None]:
    """While inside, setting ``outer`` sets ``inner`` too."""
    done = threading.Event()

    def follow() -> None:
        while not done.wait(0.2):
            if outer.is_set():
                inner.set()
                return

    follower = threading.Thread(target=follow, name="stop-follower", daemon=True)
    follower.start()
    try:
        yield
    finally:
        done.set()
        follower.join()


def serve(
    community_file: Path,
    registry_file: Path,
    operator: Callable[[], Signer],
    options: NodeOptions,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    on_interval: Callable[[int], None] | None = None,
    on_change: Callable[[list[str], int], None] | None = None,
) -> NodeResult:
    """Run the node for the community in ``community_file`` until stopped (SIGTERM,
    SIGINT or ``stop``); ``operator`` gives the operator's key (asked for once the files
    are known to be good).

    Members whose registration the operator approved, and the operator's configuration
    changes (both through the API), are taken in at the end of the interval being
    processed: the run ends there, and the node starts again at once with them (new
    members registered on chain, their devices known to ingest, their escrow funded);
    ``on_change`` hears the new members' participant ids and the number of changes.
    """
    stop = stop or threading.Event()
    with stopping_on_signals(stop):
        scenario = prepare(community_file)  # a bad file: ScenarioError naming it
        base = scenario_community(scenario, community_file.name)
        cid = base.community_id
        signer = operator()
        from_file = read_registry(registry_file, base, signer.address)
        options.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(options.store_url)  # unreachable database: StorageError
        try:
            while True:
                approved = store.registrations(cid, statuses=(RegistrationStatus.APPROVED,))
                changes = store.configuration_changes(cid)
                joined, accounts, devices = in_force(
                    scenario, approved, changes, community_file.name
                )
                community = (
                    scenario_community(joined, community_file.name) if approved or changes else base
                )
                registration = _registration_with(from_file, base, community, accounts, devices)
                members = Members(
                    registration,
                    members_trading(joined, community, registration),
                    joined=frozenset(bytes.fromhex(a[2:]) for a in accounts.values()),
                )
                run_stop = threading.Event()
                known = (len(approved), len(changes))
                watch = _Watch(store, cid, known, run_stop, on_interval)
                with _linked(stop, run_stop):
                    result = run_node(
                        joined,
                        community,
                        members,
                        signer,
                        options,
                        stop=run_stop,
                        on_interval=watch.closed,
                        on_ready=on_ready,
                    )
                if stop.is_set() or watch.seen == known:
                    return result
                if on_change is not None:
                    handles = {r.handle for r in approved}
                    now = store.registrations(cid, statuses=(RegistrationStatus.APPROVED,))
                    joining = [r for r in approval_order(now) if r.handle not in handles]
                    on_change(
                        [joined_participant_id(cid, r.handle) for r in joining],
                        watch.seen[1] - known[1],
                    )
        finally:
            store.close()
