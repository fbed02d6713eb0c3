"""Alembic environment for the budget service's own tables."""

from services.budget.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
