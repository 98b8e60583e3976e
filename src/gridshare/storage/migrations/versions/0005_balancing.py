"""Balancing: every interval's monitor figures, its alerts, the dispatch setpoints the
plan sent to each device, and islanding events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "balancing_intervals",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("supply_wh", sa.BigInteger, nullable=False),
        sa.Column("demand_wh", sa.BigInteger, nullable=False),
        sa.Column("reserve_kw", sa.Float, nullable=False),
        sa.Column("islanded", sa.Boolean, nullable=False),
        sa.Column("frequency_hz", sa.Float, nullable=True),
        sa.Column("vm_min_pu", sa.Float, nullable=True),
        sa.Column("vm_max_pu", sa.Float, nullable=True),
        sa.Column("max_line_loading_percent", sa.Float, nullable=True),
        sa.Column("shed_wh", sa.BigInteger, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("next_plan_hash", sa.String(66), nullable=True),
        sa.Column("next_planned_import_wh", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s"),
    )
    op.create_table(
        "balancing_alerts",
        sa.Column("alert_pk", _PK, primary_key=True),
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("limit", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_balancing_alerts_interval", "balancing_alerts", ["community_id", "interval_start_s"]
    )
    op.create_table(
        "dispatch_setpoints",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("meter_id", sa.String(160), nullable=False),
        sa.Column("setpoint_wh", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
    )
    op.create_table(
        "dr_events",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_s", sa.BigInteger, nullable=False),
        sa.Column("end_s", sa.BigInteger, nullable=False),
        sa.Column("rebound_end_s", sa.BigInteger, nullable=True),
        sa.Column("target_kw", sa.Float, nullable=False),
        sa.Column("rate_micros_per_kwh", sa.BigInteger, nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "event_id"),
    )
    op.create_table(
        "dr_responses",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        sa.Column("response", sa.String(16), nullable=False),
        sa.Column("requested_wh", sa.BigInteger, nullable=False),
        sa.Column("baseline_wh", sa.BigInteger, nullable=False),
        sa.Column("measured_wh", sa.BigInteger, nullable=False),
        sa.Column("delivered_wh", sa.BigInteger, nullable=False),
        sa.Column("payment_micros", sa.BigInteger, nullable=False),
        sa.Column("rebound_wh", sa.BigInteger, nullable=False),
        sa.Column("baseline_method", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "event_id", "participant_id"),
    )
    op.create_table(
        "island_events",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("start_s", sa.BigInteger, nullable=False),
        sa.Column("end_s", sa.BigInteger, nullable=False),
        sa.Column("shed_wh", sa.BigInteger, nullable=False),
        sa.Column("unserved_critical_wh", sa.BigInteger, nullable=False),
        sa.Column("served_critical_wh", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "start_s"),
    )


def downgrade() -> None:
    for table in (
        "island_events",
        "dr_responses",
        "dr_events",
        "dispatch_setpoints",
        "balancing_alerts",
    ):
        op.drop_table(table)
    op.drop_table("balancing_intervals")
