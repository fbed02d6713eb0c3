"""The demo programme: realistic, published through the outbox, and safe to seed twice."""

from __future__ import annotations

from datetime import datetime

from services.catalogue import demo
from services.catalogue.recurrence import LONDON
from tests.catalogue.conftest import CatalogueApp


def test_seed_is_idempotent_and_goes_through_the_outbox(catalogue: CatalogueApp) -> None:
    first = demo.seed(catalogue.settings)
    assert len(first["hubs"]) == 4
    assert {h["name"] for h in first["hubs"]} >= {
        "East Sussex Early Years Hub",
        "Tees Valley Stronger Practice Hub",
    }
    assert first["events"] >= 20 and first["sessions"] >= first["events"]
    outbox = len(catalogue.outbox("catalogue.session.scheduled"))
    assert outbox > 0
    again = demo.seed(catalogue.settings)
    assert again == first
    assert len(catalogue.outbox("catalogue.session.scheduled")) == outbox

    listed = catalogue.get("/api/catalogue/sessions?limit=100").get_json()["items"]
    assert {i["kind"] for i in listed} == {"webinar", "training", "moderation", "network_meeting"}
    assert any(i["price_pence"] == 0 for i in listed)
    assert any(i["price_pence"] > 0 and i["funded_places"] > 0 for i in listed)
    assert "Leading a learning culture (summer programme)" not in {i["title"] for i in listed}

    hub_id = first["hubs"][0]["id"]
    network = catalogue.get(
        f"/api/catalogue/sessions?limit=100&hub_id={hub_id}&kind=network_meeting"
    ).get_json()["items"]
    assert len(network) >= 3
    local = [
        datetime.fromisoformat(i["starts_at"].replace("Z", "+00:00")).astimezone(LONDON)
        for i in network
    ]
    assert {t.strftime("%H:%M") for t in local} == {"18:30"}
    assert {i["series_id"] for i in network} != {None}
