"""Settings from the environment (``GRIDSHARE_*``), for the entry points."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where gridshare keeps its data."""

    model_config = SettingsConfigDict(env_prefix="GRIDSHARE_", extra="ignore")

    data_dir: Path = Path("runs")
    """Directory for SQLite databases, chain data and reports."""
    database_url: str | None = None
    """SQLAlchemy URL; ``postgresql://user@host:5432/db`` for PostgreSQL. Default: SQLite
    inside the run's output directory."""
