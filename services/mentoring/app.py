"""The mentoring service's app factory."""

from __future__ import annotations

from flask import Flask

from services.mentoring import MIGRATIONS
from services.mentoring.api import bp as mentoring_bp
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "mentoring",
        migrations=MIGRATIONS,
        title="eyhub mentoring",
        description="Mentor profiles, requests, matching, caseload and mentoring meetings.",
        settings=settings,
        blueprints=[mentoring_bp],
    )
