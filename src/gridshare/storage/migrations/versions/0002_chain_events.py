"""Chain events indexed from the ledger, and how far each chain is indexed.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_events",
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.Integer, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("contract", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("args_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    op.create_index("chain_events_by_event", "chain_events", ["chain_id", "contract", "event"])
    op.create_table(
        "chain_cursor",
        sa.Column("chain_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("last_block", sa.BigInteger, nullable=False),
        sa.Column("last_block_hash", sa.String(66), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chain_cursor")
    op.drop_index("chain_events_by_event", "chain_events")
    op.drop_table("chain_events")
