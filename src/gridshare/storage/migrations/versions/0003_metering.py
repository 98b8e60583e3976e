"""Metering: device keys, signed bundles (the signed message itself), rejections,
meter state, interval commitments.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "meter_devices",
        sa.Column("meter_pk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("device_address", sa.String(42), nullable=False, unique=True),
    )
    op.create_table(
        "reading_bundles",
        sa.Column("bundle_pk", _PK, primary_key=True),
        sa.Column("meter_pk", sa.Integer, nullable=False),
        sa.Column("first_start_s", sa.BigInteger, nullable=False),
        sa.Column("last_start_s", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("received_at_s", sa.BigInteger, nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("meter_pk", "signature", name="bundles_once"),
    )
    op.create_index("bundles_by_meter", "reading_bundles", ["meter_pk", "first_start_s"])
    op.create_table(
        "rejected_readings",
        sa.Column("rejection_pk", _PK, primary_key=True),
        sa.Column("received_at_s", sa.BigInteger, nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("meter_id", sa.String(200), nullable=True),
        sa.Column("interval_start_s", sa.BigInteger, nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=True),
    )
    op.create_index("rejected_by_reason", "rejected_readings", ["reason"])
    op.create_table(
        "meter_states",
        sa.Column("meter_pk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("start_s", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("import_register_wh", sa.BigInteger, nullable=False),
        sa.Column("export_register_wh", sa.BigInteger, nullable=False),
        sa.Column("import_wh", sa.BigInteger, nullable=False),
        sa.Column("export_wh", sa.BigInteger, nullable=False),
        sa.Column("gaps_json", sa.Text, nullable=False),
    )
    op.create_table(
        "interval_commitments",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("production_root", sa.String(66), nullable=False),
        sa.Column("consumption_root", sa.String(66), nullable=False),
        sa.Column("production_wh", sa.BigInteger, nullable=False),
        sa.Column("consumption_wh", sa.BigInteger, nullable=False),
        sa.Column("import_wh", sa.BigInteger, nullable=False),
        sa.Column("export_wh", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("certified_wh", sa.BigInteger, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s"),
    )


def downgrade() -> None:
    for table in (
        "interval_commitments",
        "meter_states",
        "rejected_readings",
        "reading_bundles",
        "meter_devices",
    ):
        op.drop_table(table)
