"""job_locks: lease rows that keep a periodic job to one replica on SQLite

Revision ID: k0003
Revises: k0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "k0003"
down_revision = "k0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )


def downgrade() -> None:
    op.drop_table("job_locks")
