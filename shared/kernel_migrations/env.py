"""Alembic environment for the kernel tables (outbox, inbox, dead letters, mail)."""

from shared.db import KernelBase
from shared.migrations import run_env

run_env(KernelBase.metadata)
