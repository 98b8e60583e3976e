"""``gridshare members``: join a community node with your own key, and (for the operator)
decide on registrations. Each command signs in to the node with a key from the local
keystore (``gridshare keys create``); the key never leaves this machine."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gridshare.cli.keys import keystore, password
from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.settings import Settings

members_app = typer.Typer(
    help="Join a community node with your own key; approve or reject registrations.",
    no_args_is_help=True,
)

NodeUrl = Annotated[
    str, typer.Option("--node", help="The node's base URL, e.g. http://127.0.0.1:8080")
]
KeyName = Annotated[
    str, typer.Option("--key", help="The keystore key to sign in with (gridshare keys create)")
]


def _client(node: str, key: str) -> Any:
    from gridshare.api.client import NodeClient

    settings = Settings()
    signer = keystore(settings).load(key, password(key, confirm=False))
    return NodeClient(node, signer)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise GridshareError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridshareError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"community", "handle", "member", "devices", "location"})
    if unknown:
        raise GridshareError(
            f"{path}: unknown key(s) {unknown}: use community, handle, [member], [devices] "
            "and [location]"
        )
    for needed in ("community", "handle", "member", "devices"):
        if needed not in data:
            raise GridshareError(f"{path}: {needed!r} is missing")
    return data


@members_app.command("register")
def register(
    registration: Annotated[
        Path,
        typer.Argument(
            help="TOML: community and handle; [member] as a community file's group of one "
            "(role, category, load, pv, wind, hydro, biomass, battery, flexible_load); "
            "[devices] meter id = device address; optional [location]"
        ),
    ],
    node: NodeUrl,
    key: KeyName,
) -> None:
    """Register your key's account as a member; the operator approves it."""
    try:
        data = _read(registration)
        body = {k: data[k] for k in ("handle", "member", "devices", "location") if k in data}
        with _client(node, key) as client:
            held = client.call("POST", f"/v1/communities/{data['community']}/registrations", json=body)  # fmt: skip  # noqa: E501
    except GridshareError as exc:
        raise fail(exc) from None
    console.print(
        f"registered {held['participant_id']} for {held['applicant']}: {held['status']}, "
        "waiting for the operator's approval"
    )


@members_app.command("registrations")
def registrations(
    community: Annotated[str, typer.Argument(help="Community id")],
    node: NodeUrl,
    key: KeyName = "operator",
    status: Annotated[
        str | None, typer.Option(help="Only pending, approved or rejected ones")
    ] = None,
) -> None:
    """The community's registrations (operator or auditor key)."""
    try:
        params = {} if status is None else {"status": status}
        with _client(node, key) as client:
            held = client.call("GET", f"/v1/communities/{community}/registrations", params=params)
    except GridshareError as exc:
        raise fail(exc) from None
    table = Table(title=f"{community}: registrations")
    for column in ("handle", "participant", "role", "account", "status", "submitted"):
        table.add_column(column)
    for r in held["registrations"]:
        table.add_row(
            r["handle"],
            r["participant_id"],
            str(r["member"].get("role", "")),
            r["applicant"],
            r["status"],
            r["submitted_at"],
        )
    console.print(table)


def _decide(community: str, handle: str, verb: str, node: str, key: str, reason: str) -> None:
    try:
        with _client(node, key) as client:
            held = client.call(
                "POST",
                f"/v1/communities/{community}/registrations/{handle}/{verb}",
                json={"reason": reason},
            )
    except GridshareError as exc:
        raise fail(exc) from None
    console.print(f"{held['participant_id']}: {held['status']}")


@members_app.command("approve")
def approve(
    community: Annotated[str, typer.Argument(help="Community id")],
    handle: Annotated[str, typer.Argument(help="The registration's handle")],
    node: NodeUrl,
    key: KeyName = "operator",
    reason: Annotated[str, typer.Option(help="Why (the applicant reads it)")] = "",
) -> None:
    """Approve a pending registration (operator key): the member joins at the end of the
    interval the node is processing."""
    _decide(community, handle, "approve", node, key, reason)


@members_app.command("reject")
def reject(
    community: Annotated[str, typer.Argument(help="Community id")],
    handle: Annotated[str, typer.Argument(help="The registration's handle")],
    node: NodeUrl,
    key: KeyName = "operator",
    reason: Annotated[str, typer.Option(help="Why (the applicant reads it)")] = "",
) -> None:
    """Reject a pending registration (operator key)."""
    _decide(community, handle, "reject", node, key, reason)
