"""baseline: the budget database exists and is versioned

Revision ID: bud0001
Revises:
Create Date: 2026-11-23
"""

revision = "bud0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: later revisions add the budget tables."""


def downgrade() -> None:
    """Nothing to undo."""
