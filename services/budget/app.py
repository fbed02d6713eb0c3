"""The budget service's app factory."""

from __future__ import annotations

from flask import Flask

from services.budget import MIGRATIONS
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "budget",
        migrations=MIGRATIONS,
        title="eyhub budget",
        description="Funding, ledger, commitments, reconciliation and alerts.",
        settings=settings,
    )
