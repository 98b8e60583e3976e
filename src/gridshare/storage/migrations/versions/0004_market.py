"""Market: each interval's clearing, every order's fill and settlement, the trades,
refused orders, and per-run member results.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "market_intervals",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("mechanism", sa.String(40), nullable=False),
        sa.Column("orders", sa.Integer, nullable=False),
        sa.Column("volume_wh", sa.BigInteger, nullable=False),
        sa.Column("buyers_paid", sa.BigInteger, nullable=False),
        sa.Column("sellers_credited", sa.BigInteger, nullable=False),
        sa.Column("refunds", sa.BigInteger, nullable=False),
        sa.Column("fees", sa.BigInteger, nullable=False),
        sa.Column("to_fund", sa.BigInteger, nullable=False),
        sa.Column("trades_root", sa.String(66), nullable=False),
        sa.Column("settled_on_chain", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s"),
    )
    op.create_table(
        "market_fills",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("order_hash", sa.String(66), nullable=False),
        sa.Column("maker", sa.String(42), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=True),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_interval", sa.BigInteger, nullable=False),
        sa.Column("intervals", sa.Integer, nullable=False),
        sa.Column("quantity_wh", sa.BigInteger, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("expiry", sa.BigInteger, nullable=False),
        sa.Column("terms", sa.String(66), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("filled_wh", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("delivered_wh", sa.BigInteger, nullable=False),
        sa.Column("refund", sa.BigInteger, nullable=False),
        sa.Column("credited", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s", "position"),
    )
    op.create_index("market_fills_by_maker", "market_fills", ["community_id", "maker"])
    op.create_table(
        "market_trades",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("buy_position", sa.Integer, nullable=False),
        sa.Column("sell_position", sa.Integer, nullable=False),
        sa.Column("quantity_wh", sa.BigInteger, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("seller_price", sa.BigInteger, nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s", "row"),
    )
    op.create_table(
        "market_rejections",
        sa.Column("rejection_pk", _PK, primary_key=True),
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger, nullable=True),
        sa.Column("maker", sa.String(42), nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("order_json", sa.Text, nullable=False),
    )
    op.create_table(
        "market_member_totals",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        sa.Column("bought_wh", sa.BigInteger, nullable=False),
        sa.Column("sold_wh", sa.BigInteger, nullable=False),
        sa.Column("delivered_wh", sa.BigInteger, nullable=False),
        sa.Column("received_wh", sa.BigInteger, nullable=False),
        sa.Column("paid", sa.BigInteger, nullable=False),
        sa.Column("credited", sa.BigInteger, nullable=False),
        sa.Column("fees", sa.BigInteger, nullable=False),
        sa.Column("grid_cost", sa.BigInteger, nullable=False),
        sa.Column("grid_only_cost", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "participant_id"),
    )


def downgrade() -> None:
    for table in (
        "market_member_totals",
        "market_rejections",
        "market_trades",
        "market_fills",
        "market_intervals",
    ):
        op.drop_table(table)
