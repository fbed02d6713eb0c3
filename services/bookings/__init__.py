"""The bookings service: bookings, waiting lists, attendance, CPD record, invites, feeds."""

from pathlib import Path

#: Alembic scripts of this component's own tables (the kernel adds its tables first).
MIGRATIONS = Path(__file__).parent / "migrations"
