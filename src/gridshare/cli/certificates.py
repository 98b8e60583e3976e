"""``gridshare certificates``: who was issued, traded, retired and holds which certificates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import to_checksum_address
from rich.table import Table

from gridshare.certificates.report import MG_PER_KG, CertificateFlows, CertificateReport
from gridshare.cli.chain import chain_and_store
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.ledger.chain import ChainConnection
from gridshare.ledger.deployment import Deployment, verify_deployment
from gridshare.ledger.events import EventReader
from gridshare.ledger.keys import LocalSigner
from gridshare.pipeline.certificates_report import CertificateReportError, chain_certificate_report
from gridshare.settings import Settings
from gridshare.storage import SqlStore

certificates_app = typer.Typer(
    help="Granular energy certificates: issued, transferred, retired, held.",
    no_args_is_help=True,
)


@contextmanager
def _open(directory: Path, settings: Settings) -> Iterator[tuple[ChainConnection, SqlStore]]:
    """The chain (read only: a throwaway key, nothing is sent) and the store of ``directory``."""
    if settings.chain_url is None and not (directory / "chain").is_dir():
        raise CertificateReportError(
            f"no chain in {directory}: pass --data-dir with a run directory "
            "(`gridshare simulate SCENARIO --out DIR`) or set GRIDSHARE_DATA_DIR"
        )
    with chain_and_store(directory, LocalSigner.generate(), settings) as opened:
        yield opened


def _deployment(connection: ChainConnection) -> Deployment:
    path = connection.deployment_file()
    if not path.exists():
        raise CertificateReportError(
            f"nothing deployed on this chain yet ({path}); run `gridshare chain deploy` or "
            "`gridshare simulate`"
        )
    deployment = Deployment.read(path)
    # Calls come from the funded deployer (the embedded chain charges eth_call gas to the
    # caller); nothing is signed or sent.
    connection.web3.eth.default_account = to_checksum_address(deployment.deployer)
    verify_deployment(connection.web3, deployment)
    return deployment


def _short(account: str) -> str:
    return f"{account[:6]}...{account[-4:]}"


def _kg(co2_mg: int) -> str:
    return f"{co2_mg / MG_PER_KG:,.3f}"


def _flow_cells(flows: CertificateFlows) -> list[str]:
    return [
        f"{flows.issued_wh:,}",
        f"{flows.transferred_in_wh:,}",
        f"{flows.transferred_out_wh:,}",
        f"{flows.retired_wh:,}",
        f"{flows.held_wh:,}",
        _kg(flows.avoided_co2_mg),
        _kg(flows.claimed_co2_mg),
    ]


def _accounts_table(report: CertificateReport, title: str) -> Table:
    table = Table(title=f"{title} (certificates in Wh, CO2 in kg)")
    table.add_column("Participant / account", overflow="fold", min_width=13)
    for label in ("Issued", "In", "Out", "Retired", "Held", "CO2\navoided", "CO2\nclaimed"):
        table.add_column(label, justify="right", no_wrap=True)
    for row in report.accounts:
        who = f"{row.participant_id or '-'}\n[dim]{_short(row.account)}[/]"
        table.add_row(who, *_flow_cells(row.flows))
    table.add_section()
    table.add_row("[bold]Total[/]", *_flow_cells(report.totals))
    return table


def _claims_table(report: CertificateReport) -> Table:
    table = Table(title="Retirement claims")
    table.add_column("Claim", justify="right")
    table.add_column("Holder", overflow="fold")
    table.add_column("Beneficiary", overflow="fold")
    table.add_column("Purpose", overflow="fold")
    table.add_column("Wh", justify="right", no_wrap=True)
    table.add_column("kg CO2", justify="right", no_wrap=True)
    for claim in report.claims:
        table.add_row(
            str(claim.claim_id),
            claim.participant_id or _short(claim.holder),
            claim.beneficiary,
            claim.purpose,
            f"{claim.amount_wh:,}",
            _kg(claim.avoided_co2_mg),
        )
    return table


@certificates_app.command("report")
def report_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Run or data directory (default: GRIDSHARE_DATA_DIR)"),
    ] = None,
    first: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            help="First day of certified intervals, in the community's time zone",
        ),
    ] = None,
    last: Annotated[
        datetime | None,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], help="Last day of certified intervals (inclusive)"
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON to this file")
    ] = None,
) -> None:
    """Certificates per participant: issued, transferred, retired, held, and avoided CO2."""
    settings = Settings()
    directory = data_dir or settings.data_dir
    try:
        with _open(directory, settings) as (connection, store):
            deployment = _deployment(connection)
            result = chain_certificate_report(
                store,
                EventReader(connection.web3, deployment),
                deployment.chain_id,
                int(connection.web3.eth.block_number),
                first=None if first is None else first.date(),
                last=None if last is None else last.date(),
            )
    except GridshareError as exc:
        raise fail(exc) from None
    period = f"{first.date() if first else 'start'} to {last.date() if last else 'now'}"
    console.print(
        f"Chain {result.chain_id}, block {result.head} ({result.new_events} new events indexed); "
        f"certified intervals from {period} ({result.time_zone})"
    )
    console.print(_accounts_table(result.report, "Certificates per participant"))
    if result.report.claims:
        console.print(_claims_table(result.report))
    else:
        console.print("No retirement claims in the period.")
    if json_path is not None:
        document = {
            "chain_id": result.chain_id,
            "block": result.head,
            "time_zone": str(result.time_zone),
            "from": None if first is None else first.date().isoformat(),
            "to": None if last is None else last.date().isoformat(),
            **result.report.as_json(),
        }
        json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"JSON: {json_path}")
