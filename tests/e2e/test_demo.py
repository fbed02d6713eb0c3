"""``eyhub up --demo``: the demo is there, through the gateway, for the logins it prints."""

from __future__ import annotations

import pytest

from gateway.demo import DEMO_PASSWORD
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def test_gateway_ready_and_demo_programme_visible(platform: Platform) -> None:
    assert platform.get("/readyz").status_code == 200
    listing = platform.get("/api/catalogue/sessions", params={"limit": 100})
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert len(items) >= 10
    kinds = {item.get("kind") or item.get("event", {}).get("kind") for item in items}
    assert {"webinar", "training", "network_meeting"} <= kinds
    hubs = platform.get("/api/catalogue/hubs").json()["items"]
    assert len(hubs) >= 3


def test_printed_demo_logins_work(platform: Platform) -> None:
    log = platform.log_path.read_text(errors="replace")  # type: ignore[union-attr]
    assert "demo logins" in log
    lead = next(line.split()[1] for line in log.splitlines() if line.strip().startswith("hub_lead"))
    token = platform.login(lead, DEMO_PASSWORD)
    me = platform.get("/api/auth/me", token=token).json()
    assert "hub_lead" in me["roles"] and me["hub_ids"]
    assert lead.endswith("@example.org")
