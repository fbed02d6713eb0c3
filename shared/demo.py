"""Demo data for ``eyhub up --demo`` / ``eyhub seed-demo`` (example.org addresses only).

The catalogue seeds hubs and a term's programme through its own operations (so the
events reach the other services over the bus once the workers run); the gateway seeds
the people, scoped to those hubs. Both are idempotent: a rerun finds what exists.
"""

from __future__ import annotations

import importlib
from typing import Any

from shared.config import Settings

DEMO_PASSWORD = "demo-password"

#: (role, email, password) shown by ``eyhub up --demo``; filled by ``seed_demo``.
DEMO_LOGINS: list[tuple[str, str, str]] = []


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Load the demo into every component's database; return a summary."""
    catalogue = importlib.import_module("services.catalogue.demo").seed(settings)
    logins = importlib.import_module("gateway.demo").seed(settings, catalogue["hubs"])
    DEMO_LOGINS[:] = logins
    return {
        "hubs": ", ".join(h["name"] for h in catalogue["hubs"]),
        "events": catalogue.get("events", 0),
        "sessions": catalogue.get("sessions", 0),
        "logins shown": len(logins),
    }
