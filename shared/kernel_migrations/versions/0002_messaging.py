"""messaging: outbox, inbox, retries, dead letters

Revision ID: k0002
Revises: k0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None

Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("position", Position, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurred_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("causation_id", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", shared.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_id")),
    )
    op.create_index(op.f("ix_outbox_sent_at"), "outbox", ["sent_at"])
    op.create_table(
        "inbox",
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("handled_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "message_id", name=op.f("pk_inbox")),
    )
    op.create_index(op.f("ix_inbox_handled_at"), "inbox", ["handled_at"])
    op.create_table(
        "message_retries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_retries")),
        sa.UniqueConstraint("queue", "message_id", name=op.f("uq_message_retries_queue")),
    )
    op.create_index(
        op.f("ix_message_retries_next_attempt_at"), "message_retries", ["next_attempt_at"]
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.String(length=200), nullable=True),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("replayed_at", shared.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_status", "dead_letters", ["status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_status", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index(op.f("ix_message_retries_next_attempt_at"), table_name="message_retries")
    op.drop_table("message_retries")
    op.drop_index(op.f("ix_inbox_handled_at"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_index(op.f("ix_outbox_sent_at"), table_name="outbox")
    op.drop_table("outbox")
