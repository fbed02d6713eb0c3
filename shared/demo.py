"""Demo data for ``eyhub up --demo`` / ``eyhub seed-demo`` (example.org addresses only)."""

from __future__ import annotations

from typing import Any

from shared.config import Settings

DEMO_PASSWORD = "demo-password"

#: (role, email, password) shown by ``eyhub up --demo``.
DEMO_LOGINS: list[tuple[str, str, str]] = []


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Load the demo; safe to run again (it finds what is already there)."""
    return {}
