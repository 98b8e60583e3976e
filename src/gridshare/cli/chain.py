"""``gridshare keys`` and ``gridshare chain``: the operator's key and the community's chain."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridshare.errors import GridshareError
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment, verify_deployment
from gridshare.ledger.events import EventReader
from gridshare.ledger.keys import PASSWORD_ENV, Keystore, LocalSigner
from gridshare.ledger.state import CommunityState
from gridshare.pipeline.chain_sync import index_chain, verify
from gridshare.settings import Settings
from gridshare.storage import SqlStore, default_sqlite_url, open_store

keys_app = typer.Typer(help="Keys of the operator, participants and devices.", no_args_is_help=True)
chain_app = typer.Typer(help="The community's chain: deploy, status, verify.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
OPERATOR_KEY = "operator"


def _password(name: str, *, confirm: bool) -> str:
    secret = os.environ.get(PASSWORD_ENV)
    if secret is not None:
        return secret
    try:
        return str(
            typer.prompt(f"Password for key {name!r}", hide_input=True, confirmation_prompt=confirm)
        )
    except typer.Abort:
        raise GridshareError(f"no password for key {name!r}: set {PASSWORD_ENV}") from None


def _keystore(settings: Settings) -> Keystore:
    return Keystore(settings.data_dir / "keys", kdf_iterations=settings.key_kdf_iterations)


def _operator(settings: Settings, *, create: bool) -> LocalSigner:
    keystore = _keystore(settings)
    if OPERATOR_KEY not in keystore.names():
        if not create:
            raise GridshareError("no operator key yet: run `gridshare chain deploy` first")
        address = keystore.create(OPERATOR_KEY, _password(OPERATOR_KEY, confirm=True))
        console.print(f"Created the operator key {address} in {keystore.directory}")
    return keystore.load(OPERATOR_KEY, _password(OPERATOR_KEY, confirm=False))


def _store(settings: Settings) -> SqlStore:
    return open_store(settings.database_url or default_sqlite_url(settings.data_dir))


def _fail(exc: GridshareError) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    return typer.Exit(code=2)


def _contracts_table(deployment: Deployment) -> Table:
    table = Table(title=f"Contracts on chain {deployment.chain_id}")
    table.add_column("Contract")
    table.add_column("Address")
    table.add_column("Block", justify="right")
    for name, entry in deployment.contracts.items():
        table.add_row(name, entry.address, str(entry.block_number))
    return table


def _index(connection: ChainConnection, deployment: Deployment, store: SqlStore) -> int:
    reader = EventReader(connection.web3, deployment)
    head = int(connection.web3.eth.block_number)
    return index_chain(reader, store, deployment.chain_id, head).new_events


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="Key name, e.g. operator or meter-17")],
) -> None:
    """Create an encrypted key file (password from GRIDSHARE_KEY_PASSWORD or a prompt)."""
    settings = Settings()
    try:
        address = _keystore(settings).create(name, _password(name, confirm=True))
    except GridshareError as exc:
        raise _fail(exc) from None
    console.print(f"{name}: {address}")


@contextmanager
def _session(*, create_operator: bool) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The operator's chain connection and the store, closed afterwards; errors become
    a red message and exit code 2."""
    settings = Settings()
    try:
        operator = _operator(settings, create=create_operator)
        connection = open_chain(settings.data_dir, operator, settings.chain_url)
        try:
            store = _store(settings)
            try:
                yield connection, store
            finally:
                store.close()
        finally:
            connection.close()
    except GridshareError as exc:
        raise _fail(exc) from None


def _recorded_deployment(connection: ChainConnection) -> Deployment:
    path = connection.deployment_file()
    if not path.exists():
        raise GridshareError(
            f"nothing deployed on this chain yet ({path}); run `gridshare chain deploy`"
        )
    deployment = Deployment.read(path)
    verify_deployment(connection.web3, deployment)
    return deployment


@chain_app.command()
def deploy() -> None:
    """Deploy the community's contracts (or reuse and check the recorded ones)."""
    with _session(create_operator=True) as (connection, store):
        deployment = connection.deploy()
        new = _index(connection, deployment, store)
    console.print(_contracts_table(deployment))
    console.print(f"Deployment file: {connection.deployment_file()}")
    console.print(f"Indexed {new} new events")


@chain_app.command()
def status() -> None:
    """Show the chain, the contracts and how far the store has indexed them."""
    with _session(create_operator=False) as (connection, store):
        deployment = _recorded_deployment(connection)
        state = CommunityState(connection.web3, deployment)
        indexed = store.last_indexed_block(deployment.chain_id)
        table = Table(title="gridshare chain")
        table.add_column("Quantity")
        table.add_column("Value")
        rows = [
            ("Backend", connection.backend),
            ("Chain id", str(connection.transactions.chain_id)),
            ("Latest block", str(connection.web3.eth.block_number)),
            ("Operator", connection.transactions.signer.address),
            ("Contracts", "deployed, code verified"),
            ("Registered participants", str(state.registry.functions.participant_count().call())),
            ("Credit supply (micros)", str(state.total_supply())),
            ("Indexed up to block", "none" if indexed is None else str(indexed[0])),
            ("Indexed events", str(store.count_chain_events(deployment.chain_id))),
        ]
        for label, value in rows:
            table.add_row(label, value)
    console.print(table)
    console.print(_contracts_table(deployment))


@chain_app.command("verify")
def verify_command() -> None:
    """Index new events, then prove the store matches the chain or list every mismatch."""
    with _session(create_operator=False) as (connection, store):
        deployment = _recorded_deployment(connection)
        _index(connection, deployment, store)
        report = verify(
            store,
            EventReader(connection.web3, deployment),
            CommunityState(connection.web3, deployment),
            deployment.chain_id,
        )
    console.print(
        f"Checked {report.events_checked} events and {report.accounts_checked} credit balances "
        f"on chain {deployment.chain_id}"
    )
    if report.ok:
        console.print("[bold green]verified:[/] the store matches the chain")
        return
    for mismatch in report.mismatches:
        console.print(f"[red]mismatch:[/] {mismatch}", soft_wrap=True)
    raise typer.Exit(code=1)


def verify_everything(data_dir: Path | None = None, reading: tuple[str, str] | None = None) -> None:
    """``gridshare verify``: prove the store matches the chain, or print every mismatch.

    Needs no key: an auditor reads the chain with a throwaway account.
    """
    from eth_utils.address import to_checksum_address
    from rich.progress import Progress, TaskID

    from gridshare.ledger.keys import LocalSigner
    from gridshare.ledger.metering import MeteringLedger
    from gridshare.metering.commitment import reading_proof, trees_of_rows
    from gridshare.metering.merkle import verify_proof
    from gridshare.pipeline.audit import audit_all
    from gridshare.units import parse_utc_seconds

    settings = Settings()
    directory = data_dir or settings.data_dir
    failed = False
    try:
        connection = open_chain(directory, LocalSigner.generate(), settings.chain_url)
        store = open_store(settings.database_url or default_sqlite_url(directory))
        try:
            # read-only calls come "from" the deployer (a throwaway account has no gas money)
            if connection.deployment_file().exists():
                deployer = Deployment.read(connection.deployment_file()).deployer
                connection.web3.eth.default_account = to_checksum_address(deployer)
            deployment = _recorded_deployment(connection)
            ledger = MeteringLedger(connection.transactions, deployment)
            if reading is not None:
                meter_id, when = reading
                start_s = parse_utc_seconds(when)
                found = store.meter_leaf(meter_id, start_s)
                if found is None:
                    raise GridshareError(f"the store holds no reading of {meter_id} at {when}")
                community_id, kind, row = found
                trees = trees_of_rows(start_s, store.leaf_rows(community_id, start_s))
                leaf, proof, tree = reading_proof(trees, row, start_s)
                onchain = ledger.commitment(start_s)
                root = (
                    None
                    if onchain is None
                    else (onchain.production_root if row.production else onchain.consumption_root)
                )
                console.print(f"Reading  {meter_id} ({kind}) interval starting {when} ({start_s})")
                console.print(f"  device {'0x' + row.device.hex()}")
                console.print(f"  import {row.import_wh} Wh, export {row.export_wh} Wh")
                console.print(f"  leaf   0x{leaf.hex()}")
                tree_name = "production" if row.production else "consumption"
                console.print(f"  proof  ({len(proof)} sibling hashes, {tree_name} tree)")
                for sibling in proof:
                    console.print(f"         0x{sibling.hex()}")
                console.print(f"  root from the store  0x{tree.root.hex()}")
                console.print(
                    "  root on chain        " + ("none" if root is None else f"0x{root.hex()}")
                )
                signed = store.provenance(meter_id, start_s)
                if signed is None:
                    console.print("  signed by the device: no signed bundle stored (simulated)")
                else:
                    same = (signed["import_wh"], signed["export_wh"]) == (
                        row.import_wh,
                        row.export_wh,
                    )
                    console.print(
                        f"  signed by the device: seq {signed['seq']}, import "
                        f"{signed['import_wh']} Wh, export {signed['export_wh']} Wh via "
                        f"{signed['transport']} ({'matches' if same else 'DIFFERS from'} the "
                        "stored reading)"
                    )
                    failed = not same
                proven = root is not None and verify_proof(leaf, proof, root)
                contract_says = root is not None and ledger.verify_reading(
                    row.production, row.device, start_s, row.import_wh, row.export_wh, proof
                )
                if proven and contract_says and not failed:
                    console.print(
                        "[bold green]proved:[/] the stored reading is in the committed root "
                        "(checked here and by the EnergyMonitoring contract)"
                    )
                else:
                    console.print(
                        "[bold red]disproved:[/] the stored reading is not what was committed"
                    )
                    failed = True
            else:
                with Progress(console=console) as bar:
                    tasks: dict[str, TaskID] = {}

                    def progress(phase: str, done: int, total: int) -> None:
                        if phase not in tasks:
                            tasks[phase] = bar.add_task("Auditing committed intervals", total=total)
                        bar.update(tasks[phase], completed=done)

                    audit = audit_all(
                        connection.web3,
                        deployment,
                        ledger,
                        store,
                        store.community_ids(),
                        progress,
                    )
                for line in audit.findings:
                    console.print(line, soft_wrap=True)
                for problem in audit.problems:
                    console.print(f"[red]mismatch:[/] {problem}", soft_wrap=True)
                failed = not audit.ok
                if not failed:
                    console.print("[bold green]verified:[/] the store matches the chain")
        finally:
            store.close()
            connection.close()
    except (GridshareError, ValueError) as exc:
        raise _fail(GridshareError(str(exc))) from None
    if failed:
        raise typer.Exit(code=1)
