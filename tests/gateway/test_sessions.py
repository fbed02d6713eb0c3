"""Sessions: short access tokens, rotating refresh tokens, sign-out, and access that ends
at the gateway the moment an admin takes it away (shared/identity.py)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from shared.db import Database
from shared.events import identity as identity_events
from shared.messaging.models import OutboxMessage
from tests.gateway.conftest import HUB_A, HUB_B, admin_token, auth, problem
from tests.support.tokens import install_test_verifier, make_token

PASSWORD = "correct horse battery"


def _person(gw: FlaskClient, email: str = "lead@example.org", **extra: Any) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD, "name": "Lee Lead", "roles": ["hub_lead"]}
    body.update(extra)
    resp = gw.post("/api/auth/users", json=body, headers=auth(admin_token(gw)))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _login(gw: FlaskClient, email: str = "lead@example.org") -> dict[str, Any]:
    resp = gw.post("/api/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _refresh(gw: FlaskClient, token: str) -> Any:
    return gw.post("/api/auth/refresh", json={"refresh_token": token})


def _db(gw: FlaskClient) -> Database:
    return gw.application.extensions["eyhub"].db


def test_a_refresh_token_works_once_and_its_reuse_signs_the_session_out(gw: FlaskClient) -> None:
    _person(gw)
    first = _login(gw)
    second = _refresh(gw, first["refresh_token"])
    assert second.status_code == 200
    pair = second.get_json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert gw.get("/api/auth/me", headers=auth(pair["access_token"])).status_code == 200

    # The old token again: stolen, or a client racing itself. The whole family dies,
    # including the refresh token just issued to the rightful owner.
    body = problem(_refresh(gw, first["refresh_token"]), 401)
    assert "already used" in body["detail"]
    problem(_refresh(gw, pair["refresh_token"]), 401)
    # Another sign-in is a new family and works.
    assert _refresh(gw, _login(gw)["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_401(gw: FlaskClient) -> None:
    problem(_refresh(gw, "not-a-token"), 401)


def test_logout_ends_that_session_only(gw: FlaskClient) -> None:
    _person(gw)
    laptop, phone = _login(gw), _login(gw)
    resp = gw.post(
        "/api/auth/logout",
        json={"refresh_token": laptop["refresh_token"]},
        headers=auth(laptop["access_token"]),
    )
    assert resp.status_code == 204
    problem(_refresh(gw, laptop["refresh_token"]), 401)
    assert _refresh(gw, phone["refresh_token"]).status_code == 200


def test_logout_of_someone_elses_session_is_refused(gw: FlaskClient) -> None:
    _person(gw)
    _person(gw, "other@example.org")
    mine, theirs = _login(gw), _login(gw, "other@example.org")
    resp = gw.post(
        "/api/auth/logout",
        json={"refresh_token": theirs["refresh_token"]},
        headers=auth(mine["access_token"]),
    )
    problem(resp, 422)
    assert _refresh(gw, theirs["refresh_token"]).status_code == 200


def test_logout_everywhere_voids_access_tokens_at_once(gw: FlaskClient) -> None:
    _person(gw)
    session = _login(gw)
    token = session["access_token"]
    resp = gw.post("/api/auth/logout", json={"everywhere": True}, headers=auth(token))
    assert resp.status_code == 204
    body = problem(gw.get("/api/auth/me", headers=auth(token)), 401)
    assert "signed out" in body["detail"]
    problem(_refresh(gw, session["refresh_token"]), 401)


def test_deactivation_ends_access_and_is_announced_to_every_service(gw: FlaskClient) -> None:
    user = _person(gw, hub_ids=[HUB_A])
    session = _login(gw)
    token = session["access_token"]
    admin = auth(admin_token(gw))
    resp = gw.patch(f"/api/auth/users/{user['id']}", json={"is_active": False}, headers=admin)
    assert resp.status_code == 200

    assert "deactivated" in problem(gw.get("/api/auth/me", headers=auth(token)), 401)["detail"]
    problem(_refresh(gw, session["refresh_token"]), 401)
    with _db(gw).read() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.occurred_at)).all()
    created, event = [
        r for r in rows if r.event_type.startswith("identity.") and r.data["user_id"] == user["id"]
    ]
    # Announced at creation (with how to address them), then at deactivation.
    assert created.event_type == identity_events.USER_CHANGED
    assert (created.data["email"], created.data["is_active"]) == (user["email"], True)
    assert created.data["name"] == user["name"]
    assert event.event_type == identity_events.USER_DEACTIVATED
    assert event.data["user_id"] == user["id"] and event.data["is_active"] is False
    assert event.data["roles"] == ["hub_lead"]
    assert event.data["tokens_valid_after"] is not None

    # Reactivated: the tokens of before stay dead; a new sign-in works.
    resp = gw.patch(f"/api/auth/users/{user['id']}", json={"is_active": True}, headers=admin)
    assert resp.status_code == 200
    problem(gw.get("/api/auth/me", headers=auth(token)), 401)


def test_a_token_with_rights_taken_away_stops_working(gw: FlaskClient) -> None:
    user = _person(gw, roles=["hub_lead", "mentor"])
    token = _login(gw)["access_token"]
    resp = gw.patch(
        f"/api/auth/users/{user['id']}", json={"roles": ["mentor"]}, headers=auth(admin_token(gw))
    )
    assert resp.status_code == 200
    assert "sign in again" in problem(gw.get("/api/auth/me", headers=auth(token)), 401)["detail"]
    fresh = _login(gw)["access_token"]
    assert gw.get("/api/auth/me", headers=auth(fresh)).get_json()["roles"] == ["mentor"]


def test_a_token_valid_longer_than_the_maximum_is_refused(gw: FlaskClient) -> None:
    install_test_verifier(gw.application)
    settings = gw.application.extensions["eyhub"].settings
    long = make_token(settings, ttl=settings.token_max_lifetime_seconds + 60)
    body = problem(gw.get("/api/auth/me", headers=auth(long)), 401)
    assert "lifetime" in body["detail"]


# -- hub ids must name hubs that exist ---------------------------------------------------
UNKNOWN_HUB = "99999999-9999-4999-8999-999999999999"


def test_unknown_hub_ids_are_refused_everywhere_they_are_given(gw: FlaskClient) -> None:
    admin = auth(admin_token(gw))
    body = {"email": "x@example.org", "password": PASSWORD, "name": "X", "roles": ["hub_lead"]}
    resp = gw.post("/api/auth/users", json={**body, "hub_ids": [HUB_A, UNKNOWN_HUB]}, headers=admin)
    assert UNKNOWN_HUB in str(problem(resp, 422)["errors"]["hub_ids"])
    user = _person(gw, hub_ids=[HUB_A])
    resp = gw.patch(f"/api/auth/users/{user['id']}", json={"hub_ids": [UNKNOWN_HUB]}, headers=admin)
    problem(resp, 422)
    assert gw.get(f"/api/auth/users/{user['id']}", headers=admin).get_json()["hub_ids"] == [HUB_A]
    reg = {
        "email": "self@example.org",
        "password": PASSWORD,
        "name": "Sam Self",
        "setting_type": "childminder",
        "hub_id": UNKNOWN_HUB,
    }
    problem(gw.post("/api/auth/register", json=reg), 422)
    resp = gw.patch(f"/api/auth/users/{user['id']}", json={"hub_ids": [HUB_B]}, headers=admin)
    assert resp.status_code == 200


def test_a_hub_announced_on_the_bus_is_known_without_asking(gw: FlaskClient) -> None:
    import uuid
    from datetime import UTC, datetime

    from gateway.handlers import handlers
    from shared.messaging import Event, HandlerContext

    (spec,) = [s for s in handlers.specs if "catalogue.hub.created" in s.event_types]
    event = Event(
        id=uuid.uuid4(),
        type="catalogue.hub.created",
        version=1,
        occurred_at=datetime.now(UTC),
        source="catalogue",
        correlation_id=None,
        causation_id=None,
        data={"hub_id": uuid.UUID(UNKNOWN_HUB), "name": "New hub", "region": "Leeds"},
        raw={},
    )
    rt = gw.application.extensions["eyhub"]
    with rt.db.transaction() as s:
        spec.fn(s, event, HandlerContext(settings=rt.settings))
    assert _person(gw, hub_ids=[UNKNOWN_HUB])["hub_ids"] == [UNKNOWN_HUB]
