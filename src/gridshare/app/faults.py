"""Fault injection: the node kills itself at a named point, to test its restarts.

Off unless ``GRIDSHARE_FAULT_KILL_AFTER=<point>:<n>`` is set when the node starts (it is
read once, by :func:`install_from_environment`). The node then sends itself SIGKILL (no
clean-up, no ``finally``, as ``kill -9`` or a power cut would) right after the ``n``-th
transaction of that point was confirmed on chain (n >= 1, counted from this start), i.e.
after the chain holds it and before the store commits the interval that sent it.

Points are the steps' chain transactions, named by what they do:

``commit``
    an ``EnergyMonitoring.commit_batch`` (the interval commitment step's flush);
``settle``
    a ``P2PTrading.settle`` (one traded interval's settlement, the market step's flush).

The hook is the transaction manager's ``on_confirmed``; the ledger adapters and the steps
know nothing of it. ``tests/integration/test_serve.py`` kills ``gridshare serve`` at each
point and checks the restarted node doubles and loses nothing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gridshare.errors import ConfigurationError
from gridshare.ledger.calls import selector
from gridshare.ledger.keys import TransactionRequest
from gridshare.ledger.transactions import SentTransaction, TransactionManager

__all__ = ["KILL_AFTER_ENV", "POINTS", "KillAfter", "install_from_environment", "parse_kill_after"]

KILL_AFTER_ENV = "GRIDSHARE_FAULT_KILL_AFTER"

POINTS: Mapping[str, tuple[str, str]] = {
    "commit": ("EnergyMonitoring", "commit_batch"),
    "settle": ("P2PTrading", "settle"),
}
"""Each point's (contract, function)."""


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class KillAfter:
    """Kill the process after the ``n``-th confirmed transaction at ``point``."""

    point: str
    n: int
    kill: Callable[[], None] = _kill_self
    seen: int = field(default=0, init=False)

    def __call__(self, transaction: TransactionRequest, sent: SentTransaction) -> None:
        contract, function = POINTS[self.point]
        wanted = "0x" + selector(contract, function).hex()
        if not transaction.get("data", "").lower().startswith(wanted):
            return
        self.seen += 1
        if self.seen == self.n:
            self.kill()


def parse_kill_after(value: str) -> KillAfter:
    """``<point>:<n>`` as a :class:`KillAfter`; :class:`ConfigurationError` otherwise."""
    point, _, count = value.partition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise ConfigurationError(
            f"{KILL_AFTER_ENV}={value!r}: expected <point>:<n> with a point among "
            f"{', '.join(sorted(POINTS))} and n >= 1 (e.g. commit:2); unset it to run normally"
        )
    return KillAfter(point, int(count))


def install_from_environment(
    transactions: TransactionManager, environ: Mapping[str, str] = os.environ
) -> KillAfter | None:
    """Arm the kill named by ``GRIDSHARE_FAULT_KILL_AFTER`` on ``transactions`` (None and
    nothing installed when the variable is unset or empty)."""
    value = environ.get(KILL_AFTER_ENV, "").strip()
    if not value:
        return None
    fault = parse_kill_after(value)
    transactions.on_confirmed = fault
    return fault
