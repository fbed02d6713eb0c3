"""The catalogue service's app factory."""

from __future__ import annotations

from flask import Flask

from services.catalogue import MIGRATIONS
from services.catalogue.api import bp
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    from services.catalogue.calendar_feed import bp as feed_bp

    return create_component_app(
        "catalogue",
        migrations=MIGRATIONS,
        title="eyhub catalogue",
        description="Hubs, events and their sessions; public hub calendars.",
        settings=settings,
        blueprints=[bp, feed_bp],
    )
