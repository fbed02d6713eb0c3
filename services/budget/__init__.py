"""The budget service: funding, ledger, commitments, reconciliation and alerts."""

from pathlib import Path

#: Alembic scripts of this component's own tables (the kernel adds its tables first).
MIGRATIONS = Path(__file__).parent / "migrations"
