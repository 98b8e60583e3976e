"""Database tables (SQLAlchemy Core). Energy in int Wh, instants in UNIX seconds (UTC).

Readings are keyed by ``(interval_start_s, meter_pk)`` so that writing a new interval
appends to the end of the table's B-tree (``WITHOUT ROWID`` on SQLite).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _community_id(*, foreign: bool = False) -> Column[str]:
    """The community a row belongs to; ``foreign``: a key of ``communities``."""
    if foreign:
        return Column(
            "community_id", String(128), ForeignKey("communities.community_id"), nullable=False
        )
    return Column("community_id", String(128), nullable=False)


def _participant_id() -> Column[str]:
    """The participant a row belongs to, a key of ``participants``."""
    return Column(
        "participant_id", String(128), ForeignKey("participants.participant_id"), nullable=False
    )


def _interval_start(*, nullable: bool = False) -> Column[int]:
    """Start of the interval a row is about, unix seconds."""
    return Column("interval_start_s", BigInteger, nullable=nullable)


def _serial(name: str) -> Column[int]:
    """A key the database numbers: BIGINT, and INTEGER on SQLite (only an INTEGER primary
    key is numbered there)."""
    return Column(name, BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


def _bigints(*names: str) -> list[Column[int]]:
    """Required 64-bit integer columns (Wh, micro-units, unix seconds, counters)."""
    return [Column(name, BigInteger, nullable=False) for name in names]


communities = Table(
    "communities",
    metadata,
    Column("community_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("time_zone", String(128), nullable=False),
    Column("interval_length_s", Integer, nullable=False),
)

participants = Table(
    "participants",
    metadata,
    Column("participant_id", String(128), primary_key=True),
    _community_id(foreign=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("category", String(16), nullable=False),
    Column("latitude_deg", Float, nullable=False),
    Column("longitude_deg", Float, nullable=False),
    Column("altitude_m", Float, nullable=False),
    Column("account_address", String(42), nullable=True),
    # The member's own chain account (EIP-55), with which it signs in to the API.
)
Index("participants_by_account", participants.c.account_address, unique=True)

assets = Table(
    "assets",
    metadata,
    Column("asset_id", String(128), primary_key=True),
    _participant_id(),
    Column("kind", String(16), nullable=False),
    Column("rated_power_kw", Float, nullable=False),
    Column("spec_json", Text, nullable=False),
)

meters = Table(
    "meters",
    metadata,
    Column("meter_pk", Integer, primary_key=True, autoincrement=True),
    Column("meter_id", String(128), nullable=False, unique=True),
    _community_id(foreign=True),
    _participant_id(),
    Column("kind", String(16), nullable=False),
    Column("asset_id", String(128), ForeignKey("assets.asset_id"), nullable=True),
)

readings = Table(
    "readings",
    metadata,
    _interval_start(),
    Column("meter_pk", Integer, nullable=False),  # no FK: the hot path; keys come from meters
    *_bigints("import_wh", "export_wh"),
    Column("stored_wh", BigInteger, nullable=True),
    PrimaryKeyConstraint("interval_start_s", "meter_pk"),
    sqlite_with_rowid=False,
)

meter_days = Table(
    "meter_days",
    metadata,
    Column("day_start_s", BigInteger, nullable=False),
    Column("meter_pk", Integer, nullable=False),
    *_bigints("import_wh", "export_wh", "readings"),
    PrimaryKeyConstraint("day_start_s", "meter_pk"),
    sqlite_with_rowid=False,
)
"""Each meter's readings summed over a UTC day, written once the community closed the
day's last interval (readings never change after their interval closes)."""

rolled_up_days = Table(
    "rolled_up_days",
    metadata,
    _community_id(),
    Column("day_start_s", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "day_start_s"),
)
"""The days of a community whose ``meter_days`` rows are written."""

reading_conflicts = Table(
    "reading_conflicts",
    metadata,
    Column("conflict_id", Integer, primary_key=True, autoincrement=True),
    _interval_start(),
    Column("meter_pk", Integer, ForeignKey("meters.meter_pk"), nullable=False),
    *_bigints("stored_import_wh", "stored_export_wh"),
    Column("stored_stored_wh", BigInteger, nullable=True),
    *_bigints("offered_import_wh", "offered_export_wh"),
    Column("offered_stored_wh", BigInteger, nullable=True),
    Column("detected_at_s", BigInteger, nullable=False),
)

BALANCE_ENERGY_COLUMNS = (
    "solar_wh",
    "wind_wh",
    "hydro_wh",
    "biomass_wh",
    "consumption_wh",
    "member_import_wh",
    "member_export_wh",
    "pcc_import_wh",
    "pcc_export_wh",
    "charge_wh",
    "discharge_wh",
    "stored_wh",
    "storage_change_wh",
    "storage_losses_wh",
    "residual_wh",
)

interval_balances = Table(
    "interval_balances",
    metadata,
    _community_id(foreign=True),
    _interval_start(),
    Column("length_s", Integer, nullable=False),
    *_bigints(*BALANCE_ENERGY_COLUMNS),
    Column("quality", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(128), primary_key=True),
    _community_id(foreign=True),
    Column("scenario", String(500), nullable=False),
    *_bigints("seed", "started_at_s"),
    Column("finished_at_s", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("summary_json", Text, nullable=True),
)

participant_totals = Table(
    "participant_totals",
    metadata,
    Column("run_id", String(128), ForeignKey("runs.run_id"), nullable=False),
    _participant_id(),
    *_bigints(
        "grid_import_wh",
        "grid_export_wh",
        "production_wh",
        "consumption_wh",
        "charge_wh",
        "discharge_wh",
    ),
    PrimaryKeyConstraint("run_id", "participant_id"),
)

chain_events = Table(
    "chain_events",
    metadata,
    *_bigints("chain_id", "block_number"),
    Column("log_index", Integer, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("contract", String(64), nullable=False),
    Column("event", String(64), nullable=False),
    Column("args_json", Text, nullable=False),
    PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
)
Index(
    "chain_events_by_event", chain_events.c.chain_id, chain_events.c.contract, chain_events.c.event
)

chain_cursor = Table(
    "chain_cursor",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("last_block", BigInteger, nullable=False),
    Column("last_block_hash", String(66), nullable=False),
)

# -- metering (issue 4) ---------------------------------------------------------------
meter_devices = Table(
    "meter_devices",
    metadata,
    Column("meter_pk", Integer, primary_key=True, autoincrement=False),
    Column("device_address", String(42), nullable=False, unique=True),
)

reading_bundles = Table(
    "reading_bundles",
    metadata,
    _serial("bundle_pk"),
    Column("meter_pk", Integer, nullable=False),
    *_bigints("first_start_s", "last_start_s"),
    Column("readings", Integer, nullable=False),
    Column("transport", String(16), nullable=False),
    Column("received_at_s", BigInteger, nullable=False),
    Column("message", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    UniqueConstraint("meter_pk", "signature", name="bundles_once"),
)
Index("bundles_by_meter", reading_bundles.c.meter_pk, reading_bundles.c.first_start_s)

rejected_readings = Table(
    "rejected_readings",
    metadata,
    _serial("rejection_pk"),
    Column("received_at_s", BigInteger, nullable=False),
    Column("transport", String(16), nullable=False),
    Column("meter_id", String(200), nullable=True),
    _interval_start(nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("payload", Text, nullable=True),
)
Index("rejected_by_reason", rejected_readings.c.reason)

meter_states = Table(
    "meter_states",
    metadata,
    Column("meter_pk", Integer, primary_key=True, autoincrement=False),
    *_bigints(
        "start_s", "seq", "import_register_wh", "export_register_wh", "import_wh", "export_wh"
    ),
    Column("gaps_json", Text, nullable=False),
)

interval_commitments = Table(
    "interval_commitments",
    metadata,
    _community_id(),
    _interval_start(),
    Column("production_root", String(66), nullable=False),
    Column("consumption_root", String(66), nullable=False),
    *_bigints("production_wh", "consumption_wh", "import_wh", "export_wh"),
    Column("readings", Integer, nullable=False),
    Column("certified_wh", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=True),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

market_intervals = Table(
    "market_intervals",
    metadata,
    _community_id(),
    _interval_start(),
    Column("mechanism", String(40), nullable=False),
    Column("orders", Integer, nullable=False),
    *_bigints(
        "volume_wh",
        "buyers_paid_micros",
        "sellers_credited_micros",
        "refunds_micros",
        "fees_micros",
        "to_fund_micros",
    ),
    Column("trades_root", String(66), nullable=False),
    Column("settled_on_chain", Boolean, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

market_fills = Table(
    "market_fills",
    metadata,
    _community_id(),
    _interval_start(),
    Column("position", Integer, nullable=False),
    Column("order_hash", String(66), nullable=False),
    Column("maker", String(42), nullable=False),
    Column("participant_id", String(128), nullable=True),
    Column("side", String(4), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("first_interval", BigInteger, nullable=False),
    Column("intervals", Integer, nullable=False),
    *_bigints("quantity_wh", "price_micros_per_kwh", "nonce", "expiry"),
    Column("terms", String(66), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    *_bigints(
        "filled_wh",
        "amount_micros",
        "fee_micros",
        "delivered_wh",
        "refund_micros",
        "credited_micros",
    ),
    PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
)

Index("market_fills_by_maker", market_fills.c.community_id, market_fills.c.maker)

market_trades = Table(
    "market_trades",
    metadata,
    _community_id(),
    _interval_start(),
    Column("row", Integer, nullable=False),
    Column("buy_position", Integer, nullable=False),
    Column("sell_position", Integer, nullable=False),
    *_bigints("quantity_wh", "price_micros_per_kwh", "seller_price_micros_per_kwh"),
    Column("stage", String(40), nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s", "row"),
)

market_rejections = Table(
    "market_rejections",
    metadata,
    _serial("rejection_pk"),
    _community_id(),
    _interval_start(nullable=True),
    Column("maker", String(42), nullable=True),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("order_json", Text, nullable=False),
)

market_orders = Table(
    "market_orders",
    metadata,
    _community_id(),
    Column("order_hash", String(66), nullable=False),
    Column("maker", String(42), nullable=False),
    Column("side", String(8), nullable=False),
    *_bigints("first_interval", "intervals", "quantity_wh", "price_micros_per_kwh"),
    *_bigints("nonce", "expiry"),  # the API takes nonces and expiries below 2^63
    Column("kind", String(16), nullable=False),
    Column("terms", String(66), nullable=False),
    Column("signature", String(132), nullable=False),
    Column("submitted_at_s", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("terms_json", Text, nullable=False),
    PrimaryKeyConstraint("community_id", "order_hash"),
    UniqueConstraint("community_id", "maker", "nonce", name="market_orders_nonce"),
)
Index("market_orders_by_status", market_orders.c.community_id, market_orders.c.status)
Index("market_orders_by_maker", market_orders.c.maker, market_orders.c.submitted_at_s)

market_member_totals = Table(
    "market_member_totals",
    metadata,
    Column("run_id", String(128), nullable=False),
    Column("participant_id", String(128), nullable=False),
    *_bigints(
        "bought_wh",
        "sold_wh",
        "delivered_wh",
        "received_wh",
        "paid_micros",
        "credited_micros",
        "fees_micros",
        "grid_cost_micros",
        "grid_only_cost_micros",
    ),
    PrimaryKeyConstraint("run_id", "participant_id"),
)

balancing_intervals = Table(
    "balancing_intervals",
    metadata,
    _community_id(),
    _interval_start(),
    *_bigints("supply_wh", "demand_wh"),
    Column("reserve_kw", Float, nullable=False),
    Column("islanded", Boolean, nullable=False),
    Column("frequency_hz", Float, nullable=True),
    Column("vm_min_pu", Float, nullable=True),
    Column("vm_max_pu", Float, nullable=True),
    Column("max_line_loading_percent", Float, nullable=True),
    Column("shed_wh", BigInteger, nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("next_plan_hash", String(66), nullable=True),
    Column("next_planned_import_wh", BigInteger, nullable=True),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

balancing_alerts = Table(
    "balancing_alerts",
    metadata,
    _serial("alert_pk"),
    _community_id(),
    _interval_start(),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("value", Float, nullable=False),
    Column("limit", Float, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_balancing_alerts_interval", "community_id", "interval_start_s"),
)

dispatch_setpoints = Table(
    "dispatch_setpoints",
    metadata,
    _community_id(),
    _interval_start(),
    Column("position", Integer, nullable=False),
    Column("meter_id", String(160), nullable=False),
    Column("setpoint_wh", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
)

island_events = Table(
    "island_events",
    metadata,
    _community_id(),
    *_bigints("start_s", "end_s", "shed_wh", "unserved_critical_wh", "served_critical_wh"),
    PrimaryKeyConstraint("community_id", "start_s"),
)

dr_events = Table(
    "dr_events",
    metadata,
    _community_id(),
    Column("event_id", String(80), nullable=False),
    Column("kind", String(16), nullable=False),
    *_bigints("start_s", "end_s"),
    Column("rebound_end_s", BigInteger, nullable=True),
    Column("target_kw", Float, nullable=False),
    Column("rate_micros_per_kwh", BigInteger, nullable=False),
    Column("participants", Integer, nullable=False),
    PrimaryKeyConstraint("community_id", "event_id"),
)

dr_responses = Table(
    "dr_responses",
    metadata,
    _community_id(),
    Column("event_id", String(80), nullable=False),
    Column("participant_id", String(128), nullable=False),
    Column("response", String(16), nullable=False),
    *_bigints(
        "requested_wh", "baseline_wh", "measured_wh", "delivered_wh", "payment_micros", "rebound_wh"
    ),
    Column("baseline_method", String(16), nullable=False),
    PrimaryKeyConstraint("community_id", "event_id", "participant_id"),
)

registrations = Table(
    "registrations",
    metadata,
    _community_id(),
    Column("handle", String(24), nullable=False),
    Column("applicant", String(42), nullable=False),
    Column("member_json", Text, nullable=False),
    Column("devices_json", Text, nullable=False),
    Column("latitude_deg", Float, nullable=True),
    Column("longitude_deg", Float, nullable=True),
    Column("submitted_at_s", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_at_s", BigInteger, nullable=True),
    Column("decided_by", String(42), nullable=True),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("community_id", "handle"),
)
"""Would-be members' registrations, waiting for the operator or decided."""
Index("registrations_by_applicant", registrations.c.applicant)
Index("registrations_by_status", registrations.c.community_id, registrations.c.status)

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("action_id", Integer, primary_key=True, autoincrement=True),
    _community_id(),
    Column("at_s", BigInteger, nullable=False),
    Column("actor", String(42), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),
)
"""Every change an operator made through the API, append-only."""
Index(
    "operator_actions_by_community",
    operator_actions.c.community_id,
    operator_actions.c.action_id,
)

configuration_changes = Table(
    "configuration_changes",
    metadata,
    Column("change_id", Integer, primary_key=True, autoincrement=True),
    _community_id(),
    Column("at_s", BigInteger, nullable=False),
    Column("actor", String(42), nullable=False),
    Column("patch_json", Text, nullable=False),
    Column("reason", Text, nullable=False),
)
"""The operator's changes to the community's configuration, append-only, in order."""

dr_opt_outs = Table(
    "dr_opt_outs",
    metadata,
    _community_id(),
    Column("event_id", String(80), nullable=False),
    Column("participant_id", String(128), nullable=False),
    Column("at_s", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "event_id", "participant_id"),
)
"""Members' opt-outs of demand-response events, sent through the API before the start."""
