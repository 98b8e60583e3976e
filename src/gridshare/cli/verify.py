"""``gridshare verify``: prove the stored data matches the chain, or print every mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridshare.cli.chain import recorded_deployment
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.ledger.chain import open_chain
from gridshare.ledger.deployment import Deployment
from gridshare.settings import Settings
from gridshare.storage import default_sqlite_url, open_store


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
    verify_everything(data_dir, reading)


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
            deployment = recorded_deployment(connection)
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
        raise fail(GridshareError(str(exc))) from None
    if failed:
        raise typer.Exit(code=1)
