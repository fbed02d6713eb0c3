"""ledger: accounts, transfers, monthly sums, fundings, hub settings, alerts, event locks

Revision ID: bud0002
Revises: bud0001
Create Date: 2026-12-03 08:46:28
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "bud0002"
down_revision = "bud0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("line", sa.String(length=30), nullable=False),
        sa.Column("allocated", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("income", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint(
            "hub_id",
            "financial_year",
            "line",
            name=op.f("uq_accounts_hub_id_financial_year_line"),
        ),
    )
    op.create_table(
        "alerts",
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("line", sa.String(length=30), nullable=False),
        sa.Column("threshold_percent", sa.Integer(), nullable=False),
        sa.Column("allocated_pence", sa.BigInteger(), nullable=False),
        sa.Column("used_pence", sa.BigInteger(), nullable=False),
        sa.Column("raised_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hub_id", "financial_year", "line", "threshold_percent", name=op.f("pk_alerts")
        ),
    )
    op.create_table(
        "event_locks",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_locks")),
    )
    op.create_table(
        "fundings",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("line", sa.String(length=30), nullable=True),
        sa.Column("financial_year", sa.String(length=7), nullable=True),
        sa.Column("amount_pence", sa.BigInteger(), nullable=True),
        sa.Column("pending_transfer_id", sa.Uuid(), nullable=True),
        sa.Column("posted_pence", sa.BigInteger(), nullable=False),
        sa.Column("attendance", sa.String(length=20), nullable=True),
        sa.Column("attendance_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("requested_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_fundings")),
    )
    with op.batch_alter_table("fundings", schema=None) as batch_op:
        batch_op.create_index("ix_fundings_event_status", ["event_id", "status"], unique=False)
        batch_op.create_index("ix_fundings_hub_year", ["hub_id", "financial_year"], unique=False)

    op.create_table(
        "hub_settings",
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("alert_thresholds", sa.JSON(), nullable=False),
        sa.Column("overdraft_lines", sa.JSON(), nullable=False),
        sa.Column("no_show_policy", sa.String(length=10), nullable=False),
        sa.Column("mentor_hourly_rate_pence", sa.Integer(), nullable=True),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("hub_id", name=op.f("pk_hub_settings")),
    )
    op.create_table(
        "account_months",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("allocated", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("income", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_months_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "month", name=op.f("pk_account_months")),
    )
    with op.batch_alter_table("account_months", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_months_hub_year", ["hub_id", "financial_year"], unique=False
        )

    op.create_table(
        "transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("line", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("d_allocated", sa.BigInteger(), nullable=False),
        sa.Column("d_committed", sa.BigInteger(), nullable=False),
        sa.Column("d_spent", sa.BigInteger(), nullable=False),
        sa.Column("d_income", sa.BigInteger(), nullable=False),
        sa.Column("d_refunds", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.Uuid(), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("match_id", sa.Uuid(), nullable=True),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("charge", sa.String(length=255), nullable=True),
        sa.Column("refund_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_session", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_transfers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_transfers_reverses_id")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfers_booking_id"), ["booking_id"], unique=False)
        batch_op.create_index(
            "ix_transfers_hub_created", ["hub_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_transfers_hub_year_created",
            ["hub_id", "financial_year", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_transfers_payment_intent"), ["payment_intent"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transfers_pending_id"), ["pending_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfers_pending_id"))
        batch_op.drop_index(batch_op.f("ix_transfers_payment_intent"))
        batch_op.drop_index("ix_transfers_hub_year_created")
        batch_op.drop_index("ix_transfers_hub_created")
        batch_op.drop_index(batch_op.f("ix_transfers_booking_id"))

    op.drop_table("transfers")
    with op.batch_alter_table("account_months", schema=None) as batch_op:
        batch_op.drop_index("ix_account_months_hub_year")

    op.drop_table("account_months")
    op.drop_table("hub_settings")
    with op.batch_alter_table("fundings", schema=None) as batch_op:
        batch_op.drop_index("ix_fundings_hub_year")
        batch_op.drop_index("ix_fundings_event_status")

    op.drop_table("fundings")
    op.drop_table("event_locks")
    op.drop_table("alerts")
    op.drop_table("accounts")
