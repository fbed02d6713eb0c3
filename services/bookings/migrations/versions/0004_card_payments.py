"""card payments: held places, Checkout Sessions, payments, refunds, applied Stripe events

Paid sessions hold a place (``pending_payment``) until Stripe confirms the payment or
the hold expires; ``payments`` and ``refunds`` record the money; ``stripe_events``
makes each webhook apply once. The session replica learns the event's refund rule and
how hub-funded places are charged (for the budget service's saga).

Revision ID: boo0004
Revises: boo0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "boo0004"
down_revision = "boo0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs with constant defaults (no SQLite rebuild of referenced tables).
    add = op.add_column
    add(
        "sessions",
        sa.Column("cost_per_funded_place_pence", sa.Integer(), server_default="0", nullable=False),
    )
    add(
        "sessions",
        sa.Column("funding_line", sa.String(40), server_default="backfill", nullable=False),
    )
    add(
        "sessions",
        sa.Column("funded_setting_types", sa.JSON(), server_default="[]", nullable=False),
    )
    add(
        "sessions",
        sa.Column("refund_days_before", sa.Integer(), server_default="7", nullable=False),
    )
    add("bookings", sa.Column("hold_expires_at", UTCDateTime(), nullable=True))
    add("bookings", sa.Column("checkout_session_id", sa.String(255), nullable=True))
    add("bookings", sa.Column("checkout_url", sa.Text(), nullable=True))
    add("bookings", sa.Column("checkout_expires_at", UTCDateTime(), nullable=True))
    add(
        "bookings", sa.Column("checkout_attempts", sa.Integer(), server_default="0", nullable=False)
    )
    add("bookings", sa.Column("paid_pence", sa.Integer(), server_default="0", nullable=False))
    add("bookings", sa.Column("refunded_pence", sa.Integer(), server_default="0", nullable=False))
    add(
        "bookings", sa.Column("refund_status", sa.String(10), server_default="none", nullable=False)
    )
    op.create_index("ix_bookings_hold_expires_at", "bookings", ["hold_expires_at"])
    op.create_index(
        "ix_bookings_checkout_session_id", "bookings", ["checkout_session_id"], unique=True
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.Column(
            "booking_id",
            sa.Uuid(),
            sa.ForeignKey("bookings.id", name="fk_payments_booking_id_bookings"),
            nullable=False,
        ),
        sa.Column("checkout_session_id", sa.String(255), nullable=False),
        sa.Column("payment_intent_id", sa.String(255), nullable=False),
        sa.Column("charge_id", sa.String(255), nullable=True),
        sa.Column("amount_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("refunded_pence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("checkout_session_id", name="uq_payments_checkout_session_id"),
        sa.UniqueConstraint("payment_intent_id", name="uq_payments_payment_intent_id"),
    )
    op.create_index("ix_payments_booking_id", "payments", ["booking_id"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.Column(
            "payment_id",
            sa.Uuid(),
            sa.ForeignKey("payments.id", name="fk_refunds_payment_id_payments"),
            nullable=False,
        ),
        sa.Column(
            "booking_id",
            sa.Uuid(),
            sa.ForeignKey("bookings.id", name="fk_refunds_booking_id_bookings"),
            nullable=False,
        ),
        sa.Column("stripe_refund_id", sa.String(255), nullable=True),
        sa.Column("amount_pence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("stripe_refund_id", name="uq_refunds_stripe_refund_id"),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_index("ix_refunds_booking_id", "refunds", ["booking_id"])
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stripe_events")
    op.drop_table("refunds")
    op.drop_table("payments")
    op.drop_index("ix_bookings_checkout_session_id", "bookings")
    op.drop_index("ix_bookings_hold_expires_at", "bookings")
    for column in (
        "refund_status",
        "refunded_pence",
        "paid_pence",
        "checkout_attempts",
        "checkout_expires_at",
        "checkout_url",
        "hold_expires_at",
        "checkout_session_id",
    ):
        op.drop_column("bookings", column)
    for column in (
        "refund_days_before",
        "funded_setting_types",
        "funding_line",
        "cost_per_funded_place_pence",
    ):
        op.drop_column("sessions", column)
