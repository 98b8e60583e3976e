"""Proving the store against the chain (:func:`gridshare.pipeline.audit.audit_all`) from a
data directory: what ``gridshare verify`` runs and what the node's API runs as a job.

``gridshare verify`` (and a job of a node on a JSON-RPC chain) opens its own store and a
read-only chain connection with a throwaway key (no key is needed to read); read-only
calls come "from" the deployer, since a throwaway account has no gas money. A node on its
embedded chain (which one process holds) runs the job itself, between two intervals, on
its own connection (:class:`BetweenIntervals`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from eth_utils.address import to_checksum_address

from gridshare.app.pauses import BetweenIntervals
from gridshare.errors import GridshareError
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment, verify_deployment
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.metering import MeteringLedger
from gridshare.pipeline.audit import AuditReport, Progress, audit_all
from gridshare.storage import SqlStore, default_sqlite_url, open_store

__all__ = [
    "audit_connection",
    "audit_directory",
    "node_verifier",
    "read_only_chain_and_store",
    "recorded_deployment",
    "verifier",
]


def recorded_deployment(connection: ChainConnection) -> Deployment:
    """The deployment recorded for the connection's chain, its code checked on chain."""
    path = connection.deployment_file()
    if not path.exists():
        raise GridshareError(
            f"nothing deployed on this chain yet ({path}); run `gridshare chain deploy`"
        )
    deployment = Deployment.read(path)
    verify_deployment(connection.web3, deployment)
    return deployment


@contextmanager
def read_only_chain_and_store(
    directory: Path, database_url: str | None, chain_url: str | None
) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The chain of ``directory`` (or ``chain_url``) read with a throwaway key, and the
    store of ``directory`` (or ``database_url``); both closed afterwards."""
    with (
        closing(open_chain(directory, LocalSigner.generate(), chain_url)) as connection,
        closing(open_store(database_url or default_sqlite_url(directory))) as store,
    ):
        if connection.deployment_file().exists():
            deployer = Deployment.read(connection.deployment_file()).deployer
            connection.web3.eth.default_account = to_checksum_address(deployer)
        yield connection, store


def audit_connection(
    connection: ChainConnection, store: SqlStore, progress: Progress | None = None
) -> AuditReport:
    """Every check of ``gridshare verify`` over ``store`` and the chain of ``connection``
    (only read)."""
    deployment = recorded_deployment(connection)
    ledger = MeteringLedger(connection.transactions, deployment)
    return audit_all(connection.web3, deployment, ledger, store, store.community_ids(), progress)


def audit_directory(
    directory: Path,
    database_url: str | None,
    chain_url: str | None,
    progress: Progress | None = None,
) -> AuditReport:
    """Every check of ``gridshare verify`` over the store and chain of ``directory``."""
    with read_only_chain_and_store(directory, database_url, chain_url) as (connection, store):
        return audit_connection(connection, store, progress)


def node_verifier(
    connection: ChainConnection, store: SqlStore, pauses: BetweenIntervals
) -> Callable[[Progress], AuditReport]:
    """A verify job on the node's own chain connection and store, run by the node between
    two intervals (the embedded chain: no second process may open it)."""

    def run(progress: Progress) -> AuditReport:
        return pauses.submit(lambda: audit_connection(connection, store, progress))

    return run


def verifier(
    directory: Path, database_url: str | None, chain_url: str | None
) -> Callable[[Progress], AuditReport]:
    """A verify job for the API: each call opens its own store and chain connection (in
    the calling thread) and closes them when done."""

    def run(progress: Progress) -> AuditReport:
        return audit_directory(directory, database_url, chain_url, progress)

    return run
