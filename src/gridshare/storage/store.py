"""The SQL store: ``SqlStore`` and its unit of work ``SqlTransaction``, composed from one
part per domain (readings, metering, market, balancing, runs, chain index, community).

Bulk writes bypass the ORM: SQLite gets one ``executemany`` of ``INSERT .. ON CONFLICT DO
NOTHING``; PostgreSQL gets ``COPY`` into a temporary staging table and one
``INSERT .. SELECT .. ON CONFLICT DO NOTHING``. When fewer rows were inserted than offered,
the offered rows are compared with the stored ones: equal ones are counted as duplicates,
different ones are recorded in ``reading_conflicts`` for review and the stored value is
kept. Every offered reading ends in exactly one of inserted, duplicate or conflict.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from gridshare.storage.balancing import BalancingQueries, BalancingWrites
from gridshare.storage.base import StorageError
from gridshare.storage.chain_index import ChainIndex
from gridshare.storage.community import CommunityRecords
from gridshare.storage.market import (
    MarketOrderQueries,
    MarketOrderWrites,
    MarketQueries,
    MarketWrites,
)
from gridshare.storage.members import MemberQueries
from gridshare.storage.metering import MeteringQueries, MeteringWrites
from gridshare.storage.readings import ReadingQueries, ReadingWrites
from gridshare.storage.registrations import RegistrationQueries
from gridshare.storage.runs import RunQueries, RunWrites
from gridshare.storage.stream import StreamQueries

__all__ = [
    "SqlStore",
    "SqlTransaction",
    "StorageError",
    "default_sqlite_url",
    "migrate",
    "open_store",
]

MIGRATIONS = Path(__file__).parent / "migrations"


def default_sqlite_url(data_dir: Path) -> str:
    """URL of the default SQLite database inside ``data_dir``."""
    return f"sqlite:///{(data_dir / 'gridshare.sqlite').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(url: str) -> SqlStore:
    """Connect to ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``) and migrate."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
    except OperationalError as exc:
        raise StorageError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Check that the server runs and GRIDSHARE_DATABASE_URL is right."
        ) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"database {url!r} is not usable: {exc}") from exc
    return SqlStore(engine)


class SqlTransaction(
    ReadingWrites, MeteringWrites, MarketWrites, MarketOrderWrites, BalancingWrites, RunWrites
):
    """One unit of work on one connection (implements ``StoreTransaction``)."""


class SqlStore(
    ReadingQueries,
    CommunityRecords,
    MemberQueries,
    MeteringQueries,
    MarketQueries,
    MarketOrderQueries,
    BalancingQueries,
    RunQueries,
    StreamQueries,
    RegistrationQueries,
    ChainIndex,
):
    """SQLite or PostgreSQL storage (implements the pipeline's ``Store`` port)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._connection: Connection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A unit of work; an exception inside rolls it back.

        Units of work share one connection (checked out on first use), so the interval
        loop does not pay a pool checkout per interval.
        """
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        with self._connection.begin():
            yield SqlTransaction(self._connection, self)
