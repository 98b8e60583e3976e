"""Would-be members' registrations (``registrations``), decided by the operator; the
operator's changes to the community's configuration (``configuration_changes``); the log
of every operator action taken through the API (``operator_actions``); and members'
opt-outs of demand-response events sent through the API (``dr_opt_outs``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("handle", sa.String(24), nullable=False),
        sa.Column("applicant", sa.String(42), nullable=False),
        sa.Column("member_json", sa.Text, nullable=False),
        sa.Column("devices_json", sa.Text, nullable=False),
        sa.Column("latitude_deg", sa.Float, nullable=True),
        sa.Column("longitude_deg", sa.Float, nullable=True),
        sa.Column("submitted_at_s", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at_s", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(42), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "handle"),
    )
    op.create_index("registrations_by_applicant", "registrations", ["applicant"])
    op.create_index("registrations_by_status", "registrations", ["community_id", "status"])
    op.create_table(
        "operator_actions",
        sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("at_s", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index(
        "operator_actions_by_community", "operator_actions", ["community_id", "action_id"]
    )
    op.create_table(
        "configuration_changes",
        sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("at_s", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("patch_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "dr_opt_outs",
        sa.Column("community_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        sa.Column("at_s", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "event_id", "participant_id"),
    )


def downgrade() -> None:
    op.drop_table("dr_opt_outs")
    op.drop_table("configuration_changes")
    op.drop_index("operator_actions_by_community", table_name="operator_actions")
    op.drop_table("operator_actions")
    op.drop_index("registrations_by_status", table_name="registrations")
    op.drop_index("registrations_by_applicant", table_name="registrations")
    op.drop_table("registrations")
