"""The ``gridshare`` command line: thin Typer shells over the layers below.

One module per command group. The commands parse options, call one function of the
layers below and print (or plot) what it returns: no SQL, no report arithmetic here.
"""

from __future__ import annotations

import typer

from gridshare.cli.certificates import certificates_app
from gridshare.cli.chain import chain_app
from gridshare.cli.keys import keys_app
from gridshare.cli.market import market_app
from gridshare.cli.meters import meters_app
from gridshare.cli.simulate import simulate
from gridshare.cli.verify import verify

__all__ = ["app"]

app = typer.Typer(
    help="gridshare: a community microgrid from meter to settlement.", no_args_is_help=True
)

app.add_typer(keys_app, name="keys")
app.add_typer(chain_app, name="chain")
app.add_typer(certificates_app, name="certificates")
app.add_typer(meters_app, name="meters")
app.add_typer(market_app, name="market")


@app.callback()
def main() -> None:
    """gridshare: a community microgrid from meter to settlement."""


app.command()(verify)
app.command()(simulate)
