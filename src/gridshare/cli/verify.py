"""``gridshare verify``: prove the stored data matches the chain, or print every mismatch.

Needs no key: an auditor reads the chain with a throwaway account.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridshare.app.audit import recorded_deployment
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.deployment import Deployment
from gridshare.settings import Settings
from gridshare.storage import SqlStore

if TYPE_CHECKING:
    from gridshare.ledger.metering import MeteringLedger
    from gridshare.pipeline.reading_proof import ReadingProof


@contextmanager
def _open(directory: Path, settings: Settings) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The chain (read-only, a throwaway key) and the store of ``directory``."""
    from gridshare.app.audit import read_only_chain_and_store

    with read_only_chain_and_store(directory, settings.database_url, settings.chain_url) as opened:
        yield opened


def _print_proof(proof: ReadingProof, when: str) -> None:
    row = proof.row
    console.print(
        f"Reading  {proof.meter_id} ({proof.kind}) interval starting {when} ({proof.start_s})"
    )
    console.print(f"  device {'0x' + row.device.hex()}")
    console.print(f"  import {row.import_wh} Wh, export {row.export_wh} Wh")
    console.print(f"  leaf   0x{proof.leaf.hex()}")
    console.print(f"  proof  ({len(proof.proof)} sibling hashes, {proof.tree_name} tree)")
    for sibling in proof.proof:
        console.print(f"         0x{sibling.hex()}")
    console.print(f"  root from the store  0x{proof.store_root.hex()}")
    root = proof.chain_root
    console.print("  root on chain        " + ("none" if root is None else f"0x{root.hex()}"))
    signed = proof.signed
    if signed is None:
        console.print("  signed by the device: no signed bundle stored (simulated)")
    else:
        console.print(
            f"  signed by the device: seq {signed.seq}, import {signed.import_wh} Wh, export "
            f"{signed.export_wh} Wh via {signed.transport} "
            f"({'matches' if signed.is_match else 'DIFFERS from'} the stored reading)"
        )
    if proof.ok:
        console.print(
            "[bold green]proved:[/] the stored reading is in the committed root "
            "(checked here and by the EnergyMonitoring contract)"
        )
    else:
        console.print("[bold red]disproved:[/] the stored reading is not what was committed")


def _prove(store: SqlStore, ledger: MeteringLedger, meter_id: str, when: str) -> bool:
    """Print one reading's proof; True when it holds."""
    from gridshare.pipeline.reading_proof import prove_reading
    from gridshare.units import parse_utc_seconds

    proof = prove_reading(store, ledger, meter_id, parse_utc_seconds(when))
    if proof is None:
        raise GridshareError(f"the store holds no reading of {meter_id} at {when}")
    _print_proof(proof, when)
    return proof.ok


def _audit(
    connection: ChainConnection, deployment: Deployment, ledger: MeteringLedger, store: SqlStore
) -> bool:
    """Audit every committed interval with a progress bar; print findings and mismatches;
    True when the store matches the chain."""
    from rich.progress import Progress, TaskID

    from gridshare.pipeline.audit import audit_all

    with Progress(console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task("Auditing committed intervals", total=total)
            bar.update(tasks[phase], completed=done)

        audit = audit_all(
            connection.web3, deployment, ledger, store, store.community_ids(), progress
        )
    for line in audit.findings:
        console.print(line, soft_wrap=True)
    for problem in audit.problems:
        console.print(f"[red]mismatch:[/] {problem}", soft_wrap=True)
    if audit.ok:
        console.print("[bold green]verified:[/] the store matches the chain")
    return audit.ok


def verify(
    data_dir: Annotated[
        Path | None, typer.Option(help="Run or community directory (default: DATA_DIR)")
    ] = None,
    reading: Annotated[
        tuple[str, str] | None,
        typer.Option(help="METER INTERVAL_START (ISO 8601): print this reading's Merkle proof"),
    ] = None,
) -> None:
    """Prove the stored data matches the chain: registry, credit, every committed interval's
    Merkle roots and aggregates, and certificate supply; exit 1 on any mismatch."""
    from gridshare.ledger.metering import MeteringLedger

    settings = Settings()
    try:
        with _open(data_dir or settings.data_dir, settings) as (connection, store):
            deployment = recorded_deployment(connection)
            ledger = MeteringLedger(connection.transactions, deployment)
            if reading is None:
                ok = _audit(connection, deployment, ledger, store)
            else:
                ok = _prove(store, ledger, *reading)
    except (GridshareError, ValueError) as exc:
        raise fail(GridshareError(str(exc))) from None
    if not ok:
        raise typer.Exit(code=1)
