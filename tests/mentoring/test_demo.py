"""The demo's mentoring data: idempotent, and a hub lead can run matching straight away."""

from __future__ import annotations

import uuid

from gateway import demo as gateway_demo
from services.catalogue.demo import HUBS
from services.mentoring import demo
from services.mentoring import operations as ops
from shared.auth import Identity
from tests.mentoring.conftest import MentoringApp


def test_demo_seeds_profiles_and_open_requests_once(mentoring: MentoringApp) -> None:
    # As many hubs as the demo catalogue has (services/catalogue/demo.py HUBS).
    hubs = [
        {"id": str(uuid.uuid4()), "name": f"Hub {i}", "region": "North"} for i in range(len(HUBS))
    ]
    people = [{**p, "user_id": str(uuid.uuid4())} for p in gateway_demo.people(hubs)]
    first = demo.seed(mentoring.settings, hubs, people)
    assert first == {"mentor profiles": 6, "mentoring requests": 9}
    assert demo.seed(mentoring.settings, hubs, people) == first
    lead = mentoring.admin()
    admin = Identity(lead.user_id, lead.email, lead.name, frozenset({"admin"}), frozenset())
    for hub in hubs:  # every demo hub's lead can run matching straight away
        run = ops.run_matching(mentoring.db, mentoring.settings, admin, uuid.UUID(hub["id"]))
        assert len(run.matches) >= 1, hub
