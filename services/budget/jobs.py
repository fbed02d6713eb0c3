"""Periodic work of the budget worker."""

from __future__ import annotations

from shared.worker import Worker


def register(worker: Worker) -> None:
    """Add the budget service's periodic jobs to its worker (none: every change to the
    ledger comes from a request or a bus message, and alerts are raised in the
    transaction of the movement that crosses a threshold)."""
