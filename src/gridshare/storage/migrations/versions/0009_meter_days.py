"""Each meter's readings summed per UTC day (``meter_days``), written when the community
closes the day's last interval, and the days rolled up (``rolled_up_days``): a member's
month of daily totals reads 30 rows per meter instead of 2,880 readings.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meter_days",
        sa.Column("day_start_s", sa.BigInteger, nullable=False),
        sa.Column("meter_pk", sa.Integer, nullable=False),
        sa.Column("import_wh", sa.BigInteger, nullable=False),
        sa.Column("export_wh", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day_start_s", "meter_pk"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rolled_up_days",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("day_start_s", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "day_start_s"),
    )


def downgrade() -> None:
    op.drop_table("rolled_up_days")
    op.drop_table("meter_days")
