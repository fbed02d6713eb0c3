"""The budget service's app factory."""

from __future__ import annotations

from flask import Flask

from services.budget import MIGRATIONS
from services.budget.api import bp as budget_bp
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "budget",
        migrations=MIGRATIONS,
        title="eyhub budget",
        description="A hub's funding ledger: allocations, commitments, spend, card income, "
        "corrections, alerts and reports.",
        settings=settings,
        blueprints=[budget_bp],
    )
