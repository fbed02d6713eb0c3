"""Alembic environment for the catalogue service's own tables."""

from services.catalogue.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
