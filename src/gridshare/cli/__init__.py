"""The ``gridshare`` command line: thin Typer shells over the layers below.

One module per command group. The commands parse options, call one function of the
layers below and print (or plot) what it returns: no SQL, no report arithmetic here.
"""

from __future__ import annotations

import typer

from gridshare.cli.certificates import certificates_app as _certificates
from gridshare.cli.chain import chain_app as _chain
from gridshare.cli.demo import demo as _demo
from gridshare.cli.keys import keys_app as _keys
from gridshare.cli.market import market_app as _market
from gridshare.cli.members import members_app as _members
from gridshare.cli.meters import meters_app as _meters
from gridshare.cli.serve import serve as _serve
from gridshare.cli.simulate import simulate as _simulate
from gridshare.cli.verify import verify as _verify

__all__ = ["app"]

app = typer.Typer(
    help="gridshare: a community microgrid from meter to settlement.", no_args_is_help=True
)

app.add_typer(_keys, name="keys")
app.add_typer(_chain, name="chain")
app.add_typer(_certificates, name="certificates")
app.add_typer(_meters, name="meters")
app.add_typer(_market, name="market")
app.add_typer(_members, name="members")


@app.callback()
def _main() -> None:
    """gridshare: a community microgrid from meter to settlement."""


app.command(name="verify")(_verify)
app.command(name="simulate")(_simulate)
app.command(name="serve")(_serve)
app.command(name="demo")(_demo)
