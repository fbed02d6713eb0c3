"""sessions: the per-hub listing index covers status and the keyset order

A hub's listing (``hub_id`` + scheduled + ordered by start, id) walks only that hub's
sessions instead of every upcoming session.

Revision ID: cat0003
Revises: cat0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "cat0003"
down_revision = "cat0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_hub_starts")
        batch_op.create_index(
            "ix_sessions_hub_listing", ["hub_id", "status", "starts_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_hub_listing")
        batch_op.create_index("ix_sessions_hub_starts", ["hub_id", "starts_at"], unique=False)
