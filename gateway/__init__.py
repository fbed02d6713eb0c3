"""The gateway: the one public door (identity, proxy, rate limits, merged OpenAPI)."""

from pathlib import Path

#: Alembic scripts of this component's own tables (the kernel adds its tables first).
MIGRATIONS = Path(__file__).parent / "migrations"
