"""identity_replica: each component's copy of account states (shared/identity.py)

Revision ID: k0004
Revises: k0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "k0004"
down_revision = "k0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_replica",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("hub_ids", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("tokens_valid_after", shared.db.UTCDateTime(), nullable=True),
        sa.Column("changed_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_identity_replica")),
    )


def downgrade() -> None:
    op.drop_table("identity_replica")
