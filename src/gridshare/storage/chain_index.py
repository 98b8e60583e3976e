"""The chain indexer's events and cursor (one per chain)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select

from gridshare.model.chain import ChainEvent
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase


class ChainIndex(StoreBase):
    """The chain index part of ``SqlStore``."""

    def last_indexed_block(self, chain_id: int) -> tuple[int, str] | None:
        """Number and hash of the last block of ``chain_id`` whose events are all stored."""
        cursor = t.chain_cursor
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cursor.c.last_block, cursor.c.last_block_hash).where(
                    cursor.c.chain_id == chain_id
                )
            ).first()
        return None if row is None else (int(row.last_block), str(row.last_block_hash))

    def write_chain_events(
        self, chain_id: int, events: Sequence[ChainEvent], up_to_block: int, block_hash: str
    ) -> int:
        """Store events (idempotently) and move the chain's cursor, in one transaction.

        Returns how many events were new.
        """
        with self.engine.begin() as conn:
            have = {
                (row.block_number, row.log_index)
                for row in conn.execute(
                    select(t.chain_events.c.block_number, t.chain_events.c.log_index).where(
                        t.chain_events.c.chain_id == chain_id,
                        t.chain_events.c.block_number.in_({e.block_number for e in events}),
                    )
                )
            }
            rows = [
                {
                    "chain_id": e.chain_id,
                    "block_number": e.block_number,
                    "log_index": e.log_index,
                    "tx_hash": e.tx_hash,
                    "contract": e.contract,
                    "event": e.event,
                    "args_json": json.dumps([[k, v] for k, v in e.args]),
                }
                for e in events
                if (e.block_number, e.log_index) not in have
            ]
            if rows:
                conn.execute(t.chain_events.insert(), rows)
            cursor = t.chain_cursor
            position = {"last_block": up_to_block, "last_block_hash": block_hash}
            updated = conn.execute(
                cursor.update().where(cursor.c.chain_id == chain_id).values(**position)
            )
            if updated.rowcount == 0:
                conn.execute(cursor.insert(), {"chain_id": chain_id, **position})
        return len(rows)

    def count_chain_events(self, chain_id: int) -> int:
        """Number of stored events of ``chain_id``."""
        query = select(func.count()).where(t.chain_events.c.chain_id == chain_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def chain_events(self, chain_id: int) -> list[ChainEvent]:
        """Every stored event of ``chain_id``, in chain order."""
        query = (
            select(t.chain_events)
            .where(t.chain_events.c.chain_id == chain_id)
            .order_by(t.chain_events.c.block_number, t.chain_events.c.log_index)
        )
        with self.engine.connect() as conn:
            return [
                ChainEvent(
                    chain_id=int(row.chain_id),
                    block_number=int(row.block_number),
                    log_index=int(row.log_index),
                    tx_hash=row.tx_hash,
                    contract=row.contract,
                    event=row.event,
                    args=tuple((str(k), v) for k, v in json.loads(row.args_json)),
                )
                for row in conn.execute(query)
            ]
