"""Hub scoping with shared.auth.require_role, as a service uses it (one line per route)."""

from __future__ import annotations

import pytest
from flask.views import MethodView
from flask_smorest import Blueprint

from shared.auth import require_role
from shared.web import create_component_app
from tests.support.backends import Backend
from tests.support.tokens import bearer, install_test_verifier, make_token

HUB_A = "11111111-1111-4111-8111-111111111111"
HUB_B = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def client(embedded: Backend):  # type: ignore[no-untyped-def]
    bp = Blueprint("things", __name__, url_prefix="/api/catalogue")

    @bp.route("/hubs/<hub_id>/report")
    class Report(MethodView):
        def get(self, hub_id: str) -> dict:
            who = require_role("hub_lead", hub_id=hub_id)
            return {"hub_id": hub_id, "by": who.user_id}

    app = create_component_app(
        "catalogue", title="t", settings=embedded.settings(), blueprints=[bp]
    )
    install_test_verifier(app)
    app.config["settings"] = embedded.settings()
    return app.test_client()


def test_hub_lead_only_on_their_hub(client, embedded: Backend) -> None:  # type: ignore[no-untyped-def]
    settings = embedded.settings()
    lead_a = make_token(settings, roles=["hub_lead"], hub_ids=[HUB_A])
    admin = make_token(settings, roles=["admin"])
    practitioner = make_token(settings, roles=["practitioner"], hub_ids=[HUB_A])
    url = "/api/catalogue/hubs/{}/report"
    assert client.get(url.format(HUB_A), headers=bearer(lead_a)).status_code == 200
    assert client.get(url.format(HUB_B), headers=bearer(lead_a)).status_code == 403
    assert client.get(url.format(HUB_B), headers=bearer(admin)).status_code == 200
    assert client.get(url.format(HUB_A), headers=bearer(practitioner)).status_code == 403
    assert client.get(url.format(HUB_A)).status_code == 401
