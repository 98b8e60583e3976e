"""Market money in named units: integer micro-units end in ``_micros``, prices in
``_micros_per_kwh`` (market_intervals, market_fills, market_trades, market_member_totals).

Renames only, so the data is kept. SQLite alters through batch mode.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RENAMES = {
    "market_intervals": {
        "buyers_paid": "buyers_paid_micros",
        "sellers_credited": "sellers_credited_micros",
        "refunds": "refunds_micros",
        "fees": "fees_micros",
        "to_fund": "to_fund_micros",
    },
    "market_fills": {
        "price": "price_micros_per_kwh",
        "amount": "amount_micros",
        "fee": "fee_micros",
        "refund": "refund_micros",
        "credited": "credited_micros",
    },
    "market_trades": {
        "price": "price_micros_per_kwh",
        "seller_price": "seller_price_micros_per_kwh",
    },
    "market_member_totals": {
        "paid": "paid_micros",
        "credited": "credited_micros",
        "fees": "fees_micros",
        "grid_cost": "grid_cost_micros",
        "grid_only_cost": "grid_only_cost_micros",
    },
}


def _rename(*, reverse: bool) -> None:
    for table, columns in RENAMES.items():
        with op.batch_alter_table(table) as batch:
            for old, new in columns.items():
                before, after = (new, old) if reverse else (old, new)
                batch.alter_column(before, new_column_name=after)


def upgrade() -> None:
    _rename(reverse=False)


def downgrade() -> None:
    _rename(reverse=True)
