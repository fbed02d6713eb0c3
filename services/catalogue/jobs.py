"""Periodic work of the catalogue worker."""

from __future__ import annotations

from shared.worker import Worker


def register(worker: Worker) -> None:
    """Add the catalogue service's periodic jobs to its worker (none yet)."""
