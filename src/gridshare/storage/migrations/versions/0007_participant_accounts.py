"""Each participant may hold its own chain account (``participants.account_address``, EIP-55),
with which it signs in to the API; an account belongs to at most one participant.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("account_address", sa.String(42), nullable=True))
    op.create_index("participants_by_account", "participants", ["account_address"], unique=True)


def downgrade() -> None:
    op.drop_index("participants_by_account", table_name="participants")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("account_address")
