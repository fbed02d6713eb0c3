"""mail outbox

Revision ID: k0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "k0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("to_addr", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(op.f("ix_mail_outbox_status"), "mail_outbox", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_outbox_status"), table_name="mail_outbox")
    op.drop_table("mail_outbox")
