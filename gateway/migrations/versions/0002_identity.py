"""identity: users, their roles and hub memberships

Revision ID: gat0002
Revises: gat0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "gat0002"
down_revision = "gat0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("setting_type", sa.String(32), nullable=True),
        sa.Column("setting_name", sa.String(200), nullable=True),
        sa.Column("ofsted_urn", sa.String(16), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.CheckConstraint(
            "role IN ('practitioner', 'mentor', 'hub_lead', 'admin')",
            name=op.f("ck_user_roles_role"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "hub_memberships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("hub_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_hub_memberships_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "hub_id", name=op.f("pk_hub_memberships")),
    )
    op.create_index(op.f("ix_hub_memberships_hub_id"), "hub_memberships", ["hub_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hub_memberships_hub_id"), table_name="hub_memberships")
    op.drop_table("hub_memberships")
    op.drop_table("user_roles")
    op.drop_table("users")
