"""``gridshare chain``: the community's contracts on its chain, and the store's index of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import typer
from rich.table import Table

from gridshare.app.audit import recorded_deployment
from gridshare.cli.keys import operator
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment
from gridshare.ledger.events import EventReader
from gridshare.ledger.keys import Signer
from gridshare.ledger.state import CommunityState
from gridshare.pipeline.chain_sync import index_chain, verify
from gridshare.settings import Settings
from gridshare.storage import SqlStore, default_sqlite_url, open_store

chain_app = typer.Typer(help="The community's chain: deploy, status, verify.", no_args_is_help=True)


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


@contextmanager
def chain_and_store(
    directory: Path, signer: Signer, settings: Settings
) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The chain of ``directory`` (or ``settings.chain_url``), sending as ``signer``, and
    the store of ``directory`` (or ``settings.database_url``); both closed afterwards."""
    with (
        closing(open_chain(directory, signer, settings.chain_url)) as connection,
        closing(open_store(settings.database_url or default_sqlite_url(directory))) as store,
    ):
        yield connection, store


@contextmanager
def _session(*, create_operator: bool) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The operator's chain connection and the store, closed afterwards; errors become
    a red message and exit code 2."""
    settings = Settings()
    try:
        signer = operator(settings, create=create_operator)
        with chain_and_store(settings.data_dir, signer, settings) as opened:
            yield opened
    except GridshareError as exc:
        raise fail(exc) from None


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
        deployment = recorded_deployment(connection)
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
        deployment = recorded_deployment(connection)
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
