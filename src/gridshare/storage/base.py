"""What the store's parts share: the error, the engine and the registered community's
meters (``StoreBase``), the unit of work's connection (``TransactionBase``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from gridshare.errors import GridshareError
from gridshare.model import Community
from gridshare.units import IntArray


class StorageError(GridshareError):
    """The database cannot be reached or holds data that contradicts the request."""


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
