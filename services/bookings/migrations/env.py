"""Alembic environment for the bookings service's own tables."""

from services.bookings.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
