"""baseline: the gateway database exists and is versioned

Revision ID: gat0001
Revises:
Create Date: 2026-11-23
"""

revision = "gat0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet: later revisions add the gateway tables."""


def downgrade() -> None:
    """Nothing to undo."""
