"""Alembic environment for the kernel tables (outbox, inbox, dead letters, mail)."""

import shared.identity
import shared.mail  # registers its tables on KernelBase
import shared.messaging.models
import shared.singleton  # noqa: F401  (the same)
from shared.db import KernelBase
from shared.migrations import run_env

run_env(KernelBase.metadata)
