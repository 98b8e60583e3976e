"""What the store's parts share: the error, the engine and the registered community's
meters (``StoreBase``), the unit of work's connection (``TransactionBase``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, literal_column, select

from gridshare.errors import GridshareError
from gridshare.model import Community
from gridshare.storage import tables as t
from gridshare.units import IntArray


class StorageError(GridshareError):
    """The database cannot be reached or holds data that contradicts the request."""


def bucket_of(column: Any, bucket_s: int) -> ColumnElement[int]:
    """``column`` rounded down to a multiple of ``bucket_s`` (inlined: an int, so safe, and
    the same expression in SELECT and GROUP BY on PostgreSQL)."""
    if bucket_s <= 0:
        raise StorageError(f"a bucket lasts a positive number of seconds, not {bucket_s}")
    width = literal_column(str(int(bucket_s)), BigInteger)
    expression: ColumnElement[int] = column - column % width
    return expression


def community_of(conn: Connection, participant_id: str) -> str | None:
    """The community of a registered participant, None for an unknown one."""
    p = t.participants
    value = conn.execute(
        select(p.c.community_id).where(p.c.participant_id == participant_id)
    ).scalar_one_or_none()
    return None if value is None else str(value)


class StoreBase:
    """The engine and the registered community, with its meters' database keys."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._community: Community | None = None
        self._meter_pks: IntArray = np.zeros(0, dtype=np.int64)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def community(self) -> Community:
        if self._community is None:
            raise StorageError("no community registered with this store")
        return self._community

    def meter_pks(self, meter_index: IntArray) -> IntArray:
        """Database keys of meters given by their position in the community."""
        return self._meter_pks[meter_index]

    def meter_pks_list(self) -> list[int]:
        """Database keys of all the registered community's meters."""
        return [int(pk) for pk in self._meter_pks.tolist()]

    def meter_positions(self, meter_pks: Sequence[int]) -> IntArray:
        """Positions in the community of meters given by their database keys."""
        lookup = {int(pk): i for i, pk in enumerate(self._meter_pks.tolist())}
        return np.array([lookup[int(pk)] for pk in meter_pks], dtype=np.int64)

    def _frame(self, table: Any, community_id: str, *order: Any) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(table).where(table.c.community_id == community_id).order_by(*order), conn
            )


class TransactionBase:
    """One unit of work on one connection of a store."""

    def __init__(self, connection: Connection, store: StoreBase) -> None:
        self.connection = connection
        self.store = store
        self.dialect = connection.dialect.name
