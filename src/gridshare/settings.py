"""Settings from the environment (``GRIDSHARE_*``), for the entry points."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where gridshare keeps its data, and how its API admits and limits clients."""

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

    # -- the API (gridshare.api) ----------------------------------------------------------
    api_domain: str = "localhost:8000"
    """The authority (host[:port]) clients sign in to: a Sign-In with Ethereum message for
    another domain is refused (EIP-4361 phishing protection)."""
    api_uri: str = "http://localhost:8000"
    """The URI the sign-in message must name (the node's public base URL)."""
    api_operators: list[str] = []
    """Accounts (0x addresses) holding the operator role; JSON list in the environment."""
    api_auditors: list[str] = []
    """Accounts holding the auditor role: read everything, change nothing."""
    api_session_s: int = Field(900, ge=1)
    """Lifetime of a session token (s)."""
    api_nonce_s: int = Field(300, ge=1)
    """Lifetime of a sign-in nonce (s): sign and log in within it."""
    api_rate_per_s: float = Field(20.0, gt=0)
    """Requests per second each token (or, unauthenticated, each client IP) may make on
    average (token bucket refill rate)."""
    api_rate_burst: int = Field(60, ge=1)
    """Requests a token or IP may make at once (token bucket size)."""
    api_max_body_bytes: int = Field(64 * 1024, ge=1)
    """Largest request body the API accepts (bytes); larger ones are refused with 413."""
    api_max_buckets: int = Field(3000, ge=1)
    """Most time buckets one query may span (3000: 31 days at 15 min, 125 days at 1 h)."""
    api_max_rows: int = Field(5000, ge=1)
    """Most rows one list query may answer (trades, events, alerts, setpoints); a range
    holding more is refused with 422 (ask for a shorter range)."""
    api_min_group_members: int = Field(5, ge=1)
    """Community aggregates are served only for communities of at least this many members
    (operator not counted), so that an aggregate does not reveal one member's use."""
    api_stream_poll_s: float = Field(1.0, gt=0, le=60)
    """How often a live stream (``GET /v1/stream``) asks the store for newly closed
    intervals (s)."""
    api_stream_heartbeat_s: float = Field(15.0, gt=0, le=300)
    """Longest silence on a live stream (s): a comment line keeps proxies from closing it."""
    api_stream_max_per_account: int = Field(3, ge=1)
    """Live streams one account may hold open at once; one more is refused with 429."""

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
