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
    Column("community_id", String(128), ForeignKey("communities.community_id"), nullable=False),
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
    Column(
        "participant_id", String(128), ForeignKey("participants.participant_id"), nullable=False
    ),
    Column("kind", String(16), nullable=False),
    Column("rated_power_kw", Float, nullable=False),
    Column("spec_json", Text, nullable=False),
)

meters = Table(
    "meters",
    metadata,
    Column("meter_pk", Integer, primary_key=True, autoincrement=True),
    Column("meter_id", String(128), nullable=False, unique=True),
    Column("community_id", String(128), ForeignKey("communities.community_id"), nullable=False),
    Column(
        "participant_id", String(128), ForeignKey("participants.participant_id"), nullable=False
    ),
    Column("kind", String(16), nullable=False),
    Column("asset_id", String(128), ForeignKey("assets.asset_id"), nullable=True),
)

readings = Table(
    "readings",
    metadata,
    Column("interval_start_s", BigInteger, nullable=False),
    Column("meter_pk", Integer, nullable=False),  # no FK: the hot path; keys come from meters
    Column("import_wh", BigInteger, nullable=False),
    Column("export_wh", BigInteger, nullable=False),
    Column("stored_wh", BigInteger, nullable=True),
    PrimaryKeyConstraint("interval_start_s", "meter_pk"),
    sqlite_with_rowid=False,
)

reading_conflicts = Table(
    "reading_conflicts",
    metadata,
    Column("conflict_id", Integer, primary_key=True, autoincrement=True),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("meter_pk", Integer, ForeignKey("meters.meter_pk"), nullable=False),
    Column("stored_import_wh", BigInteger, nullable=False),
    Column("stored_export_wh", BigInteger, nullable=False),
    Column("stored_stored_wh", BigInteger, nullable=True),
    Column("offered_import_wh", BigInteger, nullable=False),
    Column("offered_export_wh", BigInteger, nullable=False),
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
    Column("community_id", String(128), ForeignKey("communities.community_id"), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("length_s", Integer, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in BALANCE_ENERGY_COLUMNS),
    Column("quality", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(128), primary_key=True),
    Column("community_id", String(128), ForeignKey("communities.community_id"), nullable=False),
    Column("scenario", String(500), nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("started_at_s", BigInteger, nullable=False),
    Column("finished_at_s", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("summary_json", Text, nullable=True),
)

participant_totals = Table(
    "participant_totals",
    metadata,
    Column("run_id", String(128), ForeignKey("runs.run_id"), nullable=False),
    Column(
        "participant_id", String(128), ForeignKey("participants.participant_id"), nullable=False
    ),
    Column("grid_import_wh", BigInteger, nullable=False),
    Column("grid_export_wh", BigInteger, nullable=False),
    Column("production_wh", BigInteger, nullable=False),
    Column("consumption_wh", BigInteger, nullable=False),
    Column("charge_wh", BigInteger, nullable=False),
    Column("discharge_wh", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "participant_id"),
)

chain_events = Table(
    "chain_events",
    metadata,
    Column("chain_id", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),
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
    Column("bundle_pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("meter_pk", Integer, nullable=False),
    Column("first_start_s", BigInteger, nullable=False),
    Column("last_start_s", BigInteger, nullable=False),
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
    Column("rejection_pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("received_at_s", BigInteger, nullable=False),
    Column("transport", String(16), nullable=False),
    Column("meter_id", String(200), nullable=True),
    Column("interval_start_s", BigInteger, nullable=True),
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
    Column("start_s", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("import_register_wh", BigInteger, nullable=False),
    Column("export_register_wh", BigInteger, nullable=False),
    Column("import_wh", BigInteger, nullable=False),
    Column("export_wh", BigInteger, nullable=False),
    Column("gaps_json", Text, nullable=False),
)

interval_commitments = Table(
    "interval_commitments",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("production_root", String(66), nullable=False),
    Column("consumption_root", String(66), nullable=False),
    Column("production_wh", BigInteger, nullable=False),
    Column("consumption_wh", BigInteger, nullable=False),
    Column("import_wh", BigInteger, nullable=False),
    Column("export_wh", BigInteger, nullable=False),
    Column("readings", Integer, nullable=False),
    Column("certified_wh", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=True),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

market_intervals = Table(
    "market_intervals",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("mechanism", String(40), nullable=False),
    Column("orders", Integer, nullable=False),
    Column("volume_wh", BigInteger, nullable=False),
    Column("buyers_paid_micros", BigInteger, nullable=False),
    Column("sellers_credited_micros", BigInteger, nullable=False),
    Column("refunds_micros", BigInteger, nullable=False),
    Column("fees_micros", BigInteger, nullable=False),
    Column("to_fund_micros", BigInteger, nullable=False),
    Column("trades_root", String(66), nullable=False),
    Column("settled_on_chain", Boolean, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s"),
)

market_fills = Table(
    "market_fills",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("order_hash", String(66), nullable=False),
    Column("maker", String(42), nullable=False),
    Column("participant_id", String(128), nullable=True),
    Column("side", String(4), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("first_interval", BigInteger, nullable=False),
    Column("intervals", Integer, nullable=False),
    Column("quantity_wh", BigInteger, nullable=False),
    Column("price_micros_per_kwh", BigInteger, nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("terms", String(66), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("filled_wh", BigInteger, nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("fee_micros", BigInteger, nullable=False),
    Column("delivered_wh", BigInteger, nullable=False),
    Column("refund_micros", BigInteger, nullable=False),
    Column("credited_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
)

Index("market_fills_by_maker", market_fills.c.community_id, market_fills.c.maker)

market_trades = Table(
    "market_trades",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("row", Integer, nullable=False),
    Column("buy_position", Integer, nullable=False),
    Column("sell_position", Integer, nullable=False),
    Column("quantity_wh", BigInteger, nullable=False),
    Column("price_micros_per_kwh", BigInteger, nullable=False),
    Column("seller_price_micros_per_kwh", BigInteger, nullable=False),
    Column("stage", String(40), nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s", "row"),
)

market_rejections = Table(
    "market_rejections",
    metadata,
    Column("rejection_pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=True),
    Column("maker", String(42), nullable=True),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("order_json", Text, nullable=False),
)

market_member_totals = Table(
    "market_member_totals",
    metadata,
    Column("run_id", String(128), nullable=False),
    Column("participant_id", String(128), nullable=False),
    Column("bought_wh", BigInteger, nullable=False),
    Column("sold_wh", BigInteger, nullable=False),
    Column("delivered_wh", BigInteger, nullable=False),
    Column("received_wh", BigInteger, nullable=False),
    Column("paid_micros", BigInteger, nullable=False),
    Column("credited_micros", BigInteger, nullable=False),
    Column("fees_micros", BigInteger, nullable=False),
    Column("grid_cost_micros", BigInteger, nullable=False),
    Column("grid_only_cost_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "participant_id"),
)

balancing_intervals = Table(
    "balancing_intervals",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("supply_wh", BigInteger, nullable=False),
    Column("demand_wh", BigInteger, nullable=False),
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
    Column("alert_pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
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
    Column("community_id", String(128), nullable=False),
    Column("interval_start_s", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("meter_id", String(160), nullable=False),
    Column("setpoint_wh", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
)

island_events = Table(
    "island_events",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("shed_wh", BigInteger, nullable=False),
    Column("unserved_critical_wh", BigInteger, nullable=False),
    Column("served_critical_wh", BigInteger, nullable=False),
    PrimaryKeyConstraint("community_id", "start_s"),
)

dr_events = Table(
    "dr_events",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("event_id", String(80), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("rebound_end_s", BigInteger, nullable=True),
    Column("target_kw", Float, nullable=False),
    Column("rate_micros_per_kwh", BigInteger, nullable=False),
    Column("participants", Integer, nullable=False),
    PrimaryKeyConstraint("community_id", "event_id"),
)

dr_responses = Table(
    "dr_responses",
    metadata,
    Column("community_id", String(128), nullable=False),
    Column("event_id", String(80), nullable=False),
    Column("participant_id", String(128), nullable=False),
    Column("response", String(16), nullable=False),
    Column("requested_wh", BigInteger, nullable=False),
    Column("baseline_wh", BigInteger, nullable=False),
    Column("measured_wh", BigInteger, nullable=False),
    Column("delivered_wh", BigInteger, nullable=False),
    Column("payment_micros", BigInteger, nullable=False),
    Column("rebound_wh", BigInteger, nullable=False),
    Column("baseline_method", String(16), nullable=False),
    PrimaryKeyConstraint("community_id", "event_id", "participant_id"),
)
