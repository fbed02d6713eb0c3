"""events: the budget line for funded places, who is eligible, and the refund rule

Paid sessions refund a practitioner's cancellation in full when it is at least
``refund_days_before`` days before the start; hub-funded places are charged to
``funding_line`` for the setting types in ``funded_setting_types`` (empty: all).

Revision ID: cat0004
Revises: cat0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "cat0004"
down_revision = "cat0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with constant defaults on both backends: no table rebuild.
    op.add_column(
        "events",
        sa.Column("funding_line", sa.String(40), server_default="backfill", nullable=False),
    )
    op.add_column(
        "events", sa.Column("funded_setting_types", sa.JSON(), server_default="[]", nullable=False)
    )
    op.add_column(
        "events", sa.Column("refund_days_before", sa.Integer(), server_default="7", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("events", "refund_days_before")
    op.drop_column("events", "funded_setting_types")
    op.drop_column("events", "funding_line")
