"""The gateway's app factory."""

from __future__ import annotations

from flask import Flask

from gateway.readiness import services_check
from shared.config import Settings, load_settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    return create_component_app(
        "gateway",
        title="eyhub",
        description="The public API of eyhub: identity and every service under /api/.",
        settings=settings,
        readiness_checks=[("services", services_check(settings))],
    )
