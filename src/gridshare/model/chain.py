"""Facts read from the ledger: decoded contract events."""

from __future__ import annotations

from dataclasses import dataclass

JsonScalar = str | int | bool


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One decoded contract event, identified by its chain, block and log index."""

    chain_id: int
    block_number: int
    log_index: int
    tx_hash: str
    contract: str
    """The gridshare contract's name, e.g. ``CommunityCredit``."""
    event: str
    args: tuple[tuple[str, JsonScalar], ...]
    """Event arguments in ABI order; addresses checksummed, bytes as 0x-hex."""

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.chain_id, self.block_number, self.log_index)

    def arg(self, name: str) -> JsonScalar:
        for key, value in self.args:
            if key == name:
                return value
        raise KeyError(f"{self.event} has no argument {name!r}")
