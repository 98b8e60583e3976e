"""Initial schema: community, meters, readings, conflicts, balances, runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

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


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("community_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(128), nullable=False),
        sa.Column("interval_length_s", sa.Integer, nullable=False),
    )
    op.create_table(
        "participants",
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column(
            "community_id",
            sa.String(128),
            sa.ForeignKey("communities.community_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("latitude_deg", sa.Float, nullable=False),
        sa.Column("longitude_deg", sa.Float, nullable=False),
        sa.Column("altitude_m", sa.Float, nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("asset_id", sa.String(128), primary_key=True),
        sa.Column(
            "participant_id",
            sa.String(128),
            sa.ForeignKey("participants.participant_id"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rated_power_kw", sa.Float, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
    )
    op.create_table(
        "meters",
        sa.Column("meter_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(128), nullable=False, unique=True),
        sa.Column(
            "community_id",
            sa.String(128),
            sa.ForeignKey("communities.community_id"),
            nullable=False,
        ),
        sa.Column(
            "participant_id",
            sa.String(128),
            sa.ForeignKey("participants.participant_id"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("asset_id", sa.String(128), sa.ForeignKey("assets.asset_id"), nullable=True),
    )
    op.create_table(
        "readings",
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("meter_pk", sa.Integer, nullable=False),
        sa.Column("import_wh", sa.BigInteger, nullable=False),
        sa.Column("export_wh", sa.BigInteger, nullable=False),
        sa.Column("stored_wh", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("interval_start_s", "meter_pk"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "reading_conflicts",
        sa.Column("conflict_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("meter_pk", sa.Integer, sa.ForeignKey("meters.meter_pk"), nullable=False),
        sa.Column("stored_import_wh", sa.BigInteger, nullable=False),
        sa.Column("stored_export_wh", sa.BigInteger, nullable=False),
        sa.Column("stored_stored_wh", sa.BigInteger, nullable=True),
        sa.Column("offered_import_wh", sa.BigInteger, nullable=False),
        sa.Column("offered_export_wh", sa.BigInteger, nullable=False),
        sa.Column("offered_stored_wh", sa.BigInteger, nullable=True),
        sa.Column("detected_at_s", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "interval_balances",
        sa.Column(
            "community_id",
            sa.String(128),
            sa.ForeignKey("communities.community_id"),
            nullable=False,
        ),
        sa.Column("interval_start_s", sa.BigInteger, nullable=False),
        sa.Column("length_s", sa.Integer, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in BALANCE_ENERGY_COLUMNS),
        sa.Column("quality", sa.Integer, nullable=False),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "interval_start_s"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column(
            "community_id",
            sa.String(128),
            sa.ForeignKey("communities.community_id"),
            nullable=False,
        ),
        sa.Column("scenario", sa.String(500), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("started_at_s", sa.BigInteger, nullable=False),
        sa.Column("finished_at_s", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary_json", sa.Text, nullable=True),
    )
    op.create_table(
        "participant_totals",
        sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column(
            "participant_id",
            sa.String(128),
            sa.ForeignKey("participants.participant_id"),
            nullable=False,
        ),
        *(
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in (
                "grid_import_wh",
                "grid_export_wh",
                "production_wh",
                "consumption_wh",
                "charge_wh",
                "discharge_wh",
            )
        ),
        sa.PrimaryKeyConstraint("run_id", "participant_id"),
    )


def downgrade() -> None:
    for table in (
        "participant_totals",
        "runs",
        "interval_balances",
        "reading_conflicts",
        "readings",
        "meters",
        "assets",
        "participants",
        "communities",
    ):
        op.drop_table(table)
