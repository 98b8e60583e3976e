"""Members' signed orders as submitted through the API (``market_orders``): the market
books or refuses each at the next gate closure, and the book is rebuilt from them after a
restart.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_orders",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("order_hash", sa.String(66), nullable=False),
        sa.Column("maker", sa.String(42), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        *[
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in (
                "first_interval",
                "intervals",
                "quantity_wh",
                "price_micros_per_kwh",
                "nonce",
                "expiry",
            )
        ],
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("terms", sa.String(66), nullable=False),
        sa.Column("signature", sa.String(132), nullable=False),
        sa.Column("submitted_at_s", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("terms_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "order_hash"),
        sa.UniqueConstraint("community_id", "maker", "nonce", name="market_orders_nonce"),
    )
    op.create_index("market_orders_by_status", "market_orders", ["community_id", "status"])
    op.create_index("market_orders_by_maker", "market_orders", ["maker", "submitted_at_s"])


def downgrade() -> None:
    op.drop_index("market_orders_by_maker", table_name="market_orders")
    op.drop_index("market_orders_by_status", table_name="market_orders")
    op.drop_table("market_orders")
