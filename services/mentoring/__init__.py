"""The mentoring service: mentor profiles, requests, matching, caseload and mentoring meetings."""

from pathlib import Path

#: Alembic scripts of this component's own tables (the kernel adds its tables first).
MIGRATIONS = Path(__file__).parent / "migrations"
