"""mentoring tables: mentors, requests, matching runs, matches, hub locks

Revision ID: men0002
Revises: men0001
Create Date: 2026-12-03 07:08:22.461201
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "men0002"
down_revision = "men0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_locks",
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", name=op.f("pk_hub_locks")),
    )
    op.create_table(
        "matching_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("run_by", sa.String(length=64), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("unmatched", sa.JSON(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_runs")),
    )
    with op.batch_alter_table("matching_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_runs_hub_id"), ["hub_id"], unique=False)

    op.create_table(
        "mentoring_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("mentee_id", sa.String(length=64), nullable=False),
        sa.Column("mentee_name", sa.String(length=200), nullable=False),
        sa.Column("mentee_email", sa.String(length=320), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("setting_type", sa.String(length=40), nullable=False),
        sa.Column("setting_name", sa.String(length=200), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", shared.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentoring_requests")),
    )
    with op.batch_alter_table("mentoring_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mentoring_requests_hub_status", ["hub_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mentoring_requests_mentee_id"), ["mentee_id"], unique=False
        )
        batch_op.create_index(
            "uq_mentoring_requests_live_mentee_hub",
            ["mentee_id", "hub_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'matched')"),
            postgresql_where=sa.text("status IN ('open', 'matched')"),
        )

    op.create_table(
        "mentors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("specialisms", sa.JSON(), nullable=False),
        sa.Column("setting_types", sa.JSON(), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("setting_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentors")),
        sa.UniqueConstraint("user_id", name=op.f("uq_mentors_user_id")),
    )
    with op.batch_alter_table("mentors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mentors_hub_id"), ["hub_id"], unique=False)

    op.create_table(
        "matches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.Column("mentor_id", sa.String(length=64), nullable=False),
        sa.Column("mentee_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("proposed_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("declined_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("declined_by", sa.String(length=64), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("updated_at", shared.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["mentoring_requests.id"],
            name=op.f("fk_matches_request_id_mentoring_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["matching_runs.id"], name=op.f("fk_matches_run_id_matching_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index("ix_matches_hub_status", ["hub_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_mentee_id"), ["mentee_id"], unique=False)
        batch_op.create_index("ix_matches_mentor_status", ["mentor_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "uq_matches_live_request",
            ["request_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('proposed', 'active')"),
            postgresql_where=sa.text("status IN ('proposed', 'active')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matches_live_request",
            sqlite_where=sa.text("status IN ('proposed', 'active')"),
            postgresql_where=sa.text("status IN ('proposed', 'active')"),
        )
        batch_op.drop_index(batch_op.f("ix_matches_run_id"))
        batch_op.drop_index("ix_matches_mentor_status")
        batch_op.drop_index(batch_op.f("ix_matches_mentee_id"))
        batch_op.drop_index("ix_matches_hub_status")

    op.drop_table("matches")
    with op.batch_alter_table("mentors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentors_hub_id"))

    op.drop_table("mentors")
    with op.batch_alter_table("mentoring_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mentoring_requests_live_mentee_hub",
            sqlite_where=sa.text("status IN ('open', 'matched')"),
            postgresql_where=sa.text("status IN ('open', 'matched')"),
        )
        batch_op.drop_index(batch_op.f("ix_mentoring_requests_mentee_id"))
        batch_op.drop_index("ix_mentoring_requests_hub_status")

    op.drop_table("mentoring_requests")
    with op.batch_alter_table("matching_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_runs_hub_id"))

    op.drop_table("matching_runs")
    op.drop_table("hub_locks")
