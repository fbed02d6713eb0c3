"""Demo data for ``eyhub up --demo`` / ``eyhub seed-demo`` (example.org addresses only).

The catalogue seeds hubs and a term's programme through its own operations (so the
events reach the other services over the bus once the workers run); the gateway seeds
the people, scoped to those hubs. Both are idempotent: a rerun finds what exists.
"""

from __future__ import annotations

from typing import Any

from gateway import demo as gateway_demo
from gateway.demo import DEMO_PASSWORD
from services.catalogue import demo as catalogue_demo
from shared.config import Settings

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "seed_demo"]

#: (role, email, password) shown by ``eyhub up --demo``; filled by ``seed_demo``.
DEMO_LOGINS: list[tuple[str, str, str]] = []


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Load the demo into every component's database; return a summary."""
    catalogue = catalogue_demo.seed(settings)
    logins = gateway_demo.seed(settings, catalogue["hubs"])
    DEMO_LOGINS[:] = logins
    return {
        "hubs": ", ".join(h["name"] for h in catalogue["hubs"]),
        "events": catalogue.get("events", 0),
        "sessions": catalogue.get("sessions", 0),
        "logins shown": len(logins),
    }
