"""Demo data for ``eyhub up --demo`` / ``eyhub seed-demo`` (example.org addresses only).

The catalogue seeds hubs and a term's programme through its own operations (so the
events reach the other services over the bus once the workers run); the gateway seeds
the people, scoped to those hubs. Both are idempotent: a rerun finds what exists.
"""

from __future__ import annotations

from typing import Any

from gateway import demo as gateway_demo
from gateway.demo import DEMO_PASSWORD
from services.budget import demo as budget_demo
from services.catalogue import demo as catalogue_demo
from services.mentoring import demo as mentoring_demo
from shared.config import Settings
from shared.db import Database

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "seed_demo"]

#: (role, email, password) shown by ``eyhub up --demo``; filled by ``seed_demo``.
DEMO_LOGINS: list[tuple[str, str, str]] = []


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Load the demo into every component's database; return a summary."""
    catalogue = catalogue_demo.seed(settings)
    logins = gateway_demo.seed(settings, catalogue["hubs"])
    DEMO_LOGINS[:] = logins
    mentoring = mentoring_demo.seed(settings, catalogue["hubs"], _demo_people(settings, catalogue))
    budget = budget_demo.seed(settings, catalogue["hubs"])
    return {
        "hubs": ", ".join(h["name"] for h in catalogue["hubs"]),
        "events": catalogue.get("events", 0),
        "sessions": catalogue.get("sessions", 0),
        **mentoring,
        **budget,
        "logins shown": len(logins),
    }


def _demo_people(settings: Settings, catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo people as the gateway stored them (with their user ids, and the mentors'
    bios), for the services that seed data about people."""
    from gateway.models import User
    from gateway.operations import normalise_email

    wanted = gateway_demo.people(catalogue["hubs"])
    bios = {f"{local}@example.org": bio for _name, local, bio in gateway_demo.MENTORS}
    db = Database(settings.database_url("gateway"), name="gateway")
    try:
        with db.read() as s:
            ids = {
                u.email: str(u.id)
                for u in s.query(User).filter(
                    User.email.in_([normalise_email(p["email"]) for p in wanted])
                )
            }
    finally:
        db.dispose()
    return [
        {**p, "user_id": ids[normalise_email(p["email"])], "bio": bios.get(p["email"])}
        for p in wanted
        if normalise_email(p["email"]) in ids
    ]
