"""Alembic environment for the mentoring service's own tables."""

from services.mentoring.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
