"""``eyhub up --demo``: the demo is there, through the gateway, for the logins it prints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.demo import DEMO_PASSWORD
from tests.support.platform import Platform

#: The shared platform has the demo on the embedded backend only (tests/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("platform", ["embedded"], indirect=True)]


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


def test_demo_activity_pays_by_card_and_asks_for_funded_places(platform: Platform) -> None:
    """What ``eyhub up --demo`` plays once ready (the suite's platforms skip it at start):
    each demo practitioner pays for a place on the Stripe stand-in and asks for a funded
    one, and the hub lead's reconciliation then shows the card income matched."""

    from eyhub.demo_activity import DROP_IN_TITLE, play
    from shared.config import load_settings
    from shared.messaging.testing import wait_until

    settings = load_settings(platform.env)
    # The drop-in starts 10 s after it is scheduled here (90 s under `eyhub up --demo`).
    done = play(settings, drop_in_starts_in=timedelta(seconds=10))
    assert done["card payments"] > 0 and done["funded requests"] > 0, done
    assert done["drop-in attendances"] > 0, done
    log = platform.log_path.read_text(errors="replace")  # type: ignore[union-attr]
    lead = next(line.split()[1] for line in log.splitlines() if line.strip().startswith("hub_lead"))
    token = platform.login(lead, DEMO_PASSWORD)
    hub = platform.get("/api/auth/me", token=token).json()["hub_ids"][0]

    def matched() -> list[dict[str, object]]:
        report = platform.get(f"/api/budget/hubs/{hub}/reconciliation", token=token).json()
        return [i for i in report["items"] if i["status"] == "matched"]

    assert wait_until(matched, timeout=30, what="the demo's card payments on the ledger")

    # The drop-in happened: its first room's attendance is recorded (the practitioners'
    # CPD records and certificates), its second room waits for the lead to mark.
    events = platform.get(
        "/api/catalogue/events", params={"hub_id": hub, "with_sessions": "true"}, token=token
    ).json()["items"]
    drop_in = next(e for e in events if e["title"] == DROP_IN_TITLE)

    def statuses(session_id: str) -> str:
        page = platform.get(
            "/api/bookings", params={"session_id": session_id, "limit": 100}, token=token
        ).json()
        return ",".join(sorted({b["status"] for b in page["items"]}))

    assert sorted(statuses(room["id"]) for room in drop_in["sessions"]) == [
        "attended",
        "confirmed",
    ]

    again = play(settings, drop_in_starts_in=timedelta(seconds=10))  # idempotent
    assert again["card payments"] == 0 and again["drop-in attendances"] == 0, again
