"""Periodic work of the mentoring worker."""

from __future__ import annotations

from shared.worker import Worker


def register(worker: Worker) -> None:
    """Add the mentoring service's periodic jobs to its worker (none yet)."""
