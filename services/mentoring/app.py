"""The mentoring service's app factory."""

from __future__ import annotations

from flask import Flask

from services.mentoring import MIGRATIONS, meeting_models  # noqa: F401 (registers its tables)
from services.mentoring.api import bp as mentoring_bp
from services.mentoring.feed_api import bp as mentoring_feed_bp
from services.mentoring.meeting_api import bp as meetings_bp
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "mentoring",
        migrations=MIGRATIONS,
        title="eyhub mentoring",
        description="Mentor profiles, requests, matching, caseload and mentoring meetings.",
        settings=settings,
        blueprints=[mentoring_bp, meetings_bp, mentoring_feed_bp],
    )
