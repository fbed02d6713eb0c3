"""Periodic work of the bookings worker."""

from __future__ import annotations

from shared.worker import Worker


def register(worker: Worker) -> None:
    """Add the bookings service's periodic jobs to its worker (none yet)."""
