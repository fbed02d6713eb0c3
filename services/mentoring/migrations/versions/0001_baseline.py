"""baseline: the mentoring database exists and is versioned

Revision ID: men0001
Revises:
Create Date: 2026-11-23
"""

revision = "men0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: later revisions add the mentoring tables."""


def downgrade() -> None:
    """Nothing to undo."""
