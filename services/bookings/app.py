"""The bookings service's app factory."""

from __future__ import annotations

from flask import Flask

from services.bookings import MIGRATIONS
from services.bookings.api import bp as bookings_bp
from services.bookings.feed_api import bp as feeds_bp
from services.bookings.payment_api import bp as payments_bp
from shared.config import Settings
from shared.web import create_component_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_component_app(
        "bookings",
        migrations=MIGRATIONS,
        title="eyhub bookings",
        description=(
            "Bookings, waiting lists, card payments, attendance, CPD record, invites and "
            "calendar feeds."
        ),
        settings=settings,
        blueprints=[bookings_bp, payments_bp, feeds_bp],
    )
