"""session counters: places held and waiting list on the session replica, backfilled

Booking then changes one row with a conditional UPDATE instead of counting the
session's bookings while holding its lock (services/bookings/operations.py).

Revision ID: boo0003
Revises: boo0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "boo0003"
down_revision = "boo0002"
branch_labels = None
depends_on = None

#: models.HOLDING_PLACE as of this revision (a migration must not follow later edits).
_HOLDING = "'pending_payment', 'pending_funding', 'confirmed', 'offered', 'attended', 'no_show'"


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (a constant default needs no table rebuild; a
    # SQLite rebuild would drop ``sessions`` under the bookings' foreign key).
    op.add_column(
        "sessions", sa.Column("held_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "sessions", sa.Column("waitlist_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(
        "UPDATE sessions SET "
        "held_count = (SELECT count(*) FROM bookings b "
        f"WHERE b.session_id = sessions.id AND b.status IN ({_HOLDING})), "
        "waitlist_count = (SELECT count(*) FROM bookings b "
        "WHERE b.session_id = sessions.id AND b.status = 'waitlisted')"
    )


def downgrade() -> None:
    # DROP COLUMN (SQLite >= 3.35): again no rebuild of a table others reference.
    op.drop_column("sessions", "waitlist_count")
    op.drop_column("sessions", "held_count")
