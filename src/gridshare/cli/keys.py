"""``gridshare keys``: the operator's, participants' and devices' encrypted keys."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gridshare.cli.output import console, fail
from gridshare.errors import GridshareError
from gridshare.ledger.keys import PASSWORD_ENV, Keystore, LocalSigner
from gridshare.settings import Settings

keys_app = typer.Typer(help="Keys of the operator, participants and devices.", no_args_is_help=True)
OPERATOR_KEY = "operator"


def password(name: str, *, confirm: bool) -> str:
    """The password of key ``name``: GRIDSHARE_KEY_PASSWORD, else a prompt."""
    secret = os.environ.get(PASSWORD_ENV)
    if secret is not None:
        return secret
    try:
        return str(
            typer.prompt(f"Password for key {name!r}", hide_input=True, confirmation_prompt=confirm)
        )
    except typer.Abort:
        raise GridshareError(f"no password for key {name!r}: set {PASSWORD_ENV}") from None


def keystore(settings: Settings) -> Keystore:
    return Keystore(settings.data_dir / "keys", kdf_iterations=settings.key_kdf_iterations)


def operator(settings: Settings, *, create: bool) -> LocalSigner:
    """The operator's key, created first when ``create`` and there is none yet."""
    store = keystore(settings)
    if OPERATOR_KEY not in store.names():
        if not create:
            raise GridshareError("no operator key yet: run `gridshare chain deploy` first")
        address = store.create(OPERATOR_KEY, password(OPERATOR_KEY, confirm=True))
        console.print(f"Created the operator key {address} in {store.directory}")
    return store.load(OPERATOR_KEY, password(OPERATOR_KEY, confirm=False))


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="Key name, e.g. operator or meter-17")],
) -> None:
    """Create an encrypted key file (password from GRIDSHARE_KEY_PASSWORD or a prompt)."""
    settings = Settings()
    try:
        address = keystore(settings).create(name, password(name, confirm=True))
    except GridshareError as exc:
        raise fail(exc) from None
    console.print(f"{name}: {address}")
