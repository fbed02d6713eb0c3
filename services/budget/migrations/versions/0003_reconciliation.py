"""reconciliation: a hub lead's resolution note per reconciliation item

Revision ID: bud0003
Revises: bud0002
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "bud0003"
down_revision = "bud0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_resolutions",
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", "item_id", name=op.f("pk_reconciliation_resolutions")),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_resolutions")
