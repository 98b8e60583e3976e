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
    inside the run's output directory (``simulate``) or ``DATA_DIR`` (``chain``)."""
    chain_url: str | None = None
    """JSON-RPC URL of an EVM node; unset: the embedded chain in ``DATA_DIR/chain``."""
    key_kdf_iterations: int | None = None
    """PBKDF2 iterations for new key files; unset: scrypt (slow to attack, slow to open)."""
    mqtt_url: str | None = None
    """MQTT broker of ``serve`` (``mqtt://host:1883``, ``mqtts://`` for TLS): readings in,
    device commands out, the main grid's state in; unset: HTTP ingest only."""
    mqtt_client_id: str | None = None
    """Client id of ``serve``'s persistent MQTT session; unset: ``gridshare-ingest-<community>``
    (one node per community and broker)."""
    http_host: str = "127.0.0.1"
    """Address ``serve`` listens on for HTTP (``0.0.0.0``: every interface)."""
    http_port: int = 8080
    """TCP port of ``serve``'s HTTP server."""
    api_token: str | None = None
    """Bearer token the HTTP ingest requires; unset: open (a trusted network)."""
