"""The catalogue service's app factory."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "catalogue",
        title="eyhub catalogue",
        description="Hubs, events and their sessions; public hub calendars.",
        settings=settings,
    )
