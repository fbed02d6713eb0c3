"""The gateway in front of the real platform (``eyhub up --demo`` in real processes)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.keys import SigningKey
from gateway.proxy import route_for
from shared.auth import issue_token
from shared.config import SERVICES
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.org", "admin-password")


def _problem(resp, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, (resp.status_code, resp.text[:400])
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    return resp.json()


def _new_user(
    platform: Platform, roles: list[str], hub_ids: list[str] | None = None
) -> tuple[str, str]:
    email = f"{roles[0]}-{uuid.uuid4().hex[:10]}@example.org"
    resp = platform.post(
        "/api/auth/users",
        token=platform.login(*ADMIN),
        json={
            "email": email,
            "password": "e2e password",
            "name": "E2E Person",
            "roles": roles,
            "hub_ids": hub_ids or [],
            "setting_type": "nursery",
        },
    )
    assert resp.status_code == 201, resp.text
    return email, "e2e password"


def test_login_and_me(platform: Platform) -> None:
    resp = platform.post(
        "/api/auth/token", json={"email": "ADMIN@example.org", "password": ADMIN[1]}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    me = platform.get("/api/auth/me", token=body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == "admin@example.org" and me.json()["roles"] == ["admin"]
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    jwks = platform.get("/.well-known/jwks.json").json()
    assert kid in [k["kid"] for k in jwks["keys"]]


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_bad_tokens_are_401(platform: Platform) -> None:
    good = platform.login(*ADMIN)
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    # Expired, but signed with the platform's real key (read from its keys folder).
    pem = sorted((platform.backend.data_dir / "keys").glob("*.pem"))[-1].read_bytes()
    real = SigningKey.from_pem(pem)
    assert real.kid == kid
    from shared.config import load_settings

    settings = load_settings(platform.env)
    expired = issue_token(
        real.private_key,
        real.kid,
        settings,
        user_id=claims["sub"],
        email=claims["email"],
        name=claims["name"],
        roles=["admin"],
        ttl=-120,
    )
    forged = jwt.encode(
        {**claims, "roles": ["admin"]},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": kid},
    )
    payload = good.split(".")[1]
    cases = {
        "no token": None,
        "garbage": "garbage",
        "malformed": "a.b.c",
        "expired": expired,
        "forged": forged,
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.",
    }
    for name, token in cases.items():
        resp = platform.get("/api/auth/me", token=token)
        _problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer"), name


def test_practitioner_is_forbidden_on_admin_routes(platform: Platform) -> None:
    token = platform.login(*_new_user(platform, ["practitioner"]))
    _problem(platform.get("/api/auth/users", token=token), 403)
    body = {"email": "x@example.org", "password": "password1", "name": "X", "roles": ["admin"]}
    _problem(platform.post("/api/auth/users", token=token, json=body), 403)
    me = platform.get("/api/auth/me", token=token).json()
    patch = platform.request(
        "PATCH", f"/api/auth/users/{me['id']}", token=token, json={"roles": ["admin"]}
    )
    _problem(patch, 403)


def test_request_id_is_echoed_by_the_gateway_and_through_it(platform: Platform) -> None:
    for path in ("/api/auth/me", "/healthz", "/api/catalogue/no-such-thing"):
        resp = platform.get(path, headers={"X-Request-ID": "e2e-req-42"})
        assert resp.headers["X-Request-ID"] == "e2e-req-42", path
    assert len(platform.get("/healthz").headers["X-Request-ID"]) >= 16


def test_every_service_is_reached_through_its_prefix(platform: Platform) -> None:
    for service in SERVICES:
        resp = platform.get(f"/api/{service}/no-such-thing-{uuid.uuid4().hex}")
        # The service itself answers (404 problem), not the gateway's 503.
        _problem(resp, 404)


def test_failed_logins_lock_one_account_while_another_still_logs_in(platform: Platform) -> None:
    target = _new_user(platform, ["practitioner"])
    other = _new_user(platform, ["practitioner"])
    for _ in range(10):  # EYHUB_RATE_LIMIT_LOGIN default: 10/minute
        resp = platform.post(
            "/api/auth/token", json={"email": target[0], "password": "wrong guess"}
        )
        _problem(resp, 401)
    blocked = platform.post("/api/auth/token", json={"email": target[0], "password": target[1]})
    _problem(blocked, 429)
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert (
        platform.post("/api/auth/token", json={"email": other[0], "password": other[1]}).status_code
        == 200
    )


def test_merged_openapi_has_every_services_paths(platform: Platform) -> None:
    merged = platform.get("/openapi.json").json()
    assert "x-eyhub-unavailable" not in merged
    assert {"/api/auth/token", "/api/auth/me", "/api/auth/register"} <= set(merged["paths"])
    for offset, service in enumerate(SERVICES, start=1):
        own = platform.http.get(f"{platform.service_url(offset)}/openapi.json", timeout=10).json()
        public = {p for p in own.get("paths", {}) if route_for(p) == service}
        assert public <= set(merged["paths"]), service
        for name in own.get("components", {}).get("schemas", {}):
            assert f"{service}.{name}" in merged["components"]["schemas"]
    docs = platform.get("/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text


def test_hub_lead_is_forbidden_on_another_hubs_data(platform: Platform) -> None:
    """Scoping end to end: the token from the gateway, checked by the catalogue itself."""
    admin = platform.login(*ADMIN)
    hubs = []
    for label in ("A", "B"):
        resp = platform.post(
            "/api/catalogue/hubs",
            token=admin,
            json={"name": f"E2E Hub {label} {uuid.uuid4().hex[:8]}", "region": "South East"},
        )
        assert resp.status_code == 201, resp.text
        hubs.append(resp.json()["id"])
    lead = platform.login(*_new_user(platform, ["hub_lead"], hub_ids=[hubs[0]]))
    event = {
        "title": "Early reading network meeting",
        "kind": "network_meeting",
        "format": "online",
        "online_url": "https://meet.example.org/early-reading",
        "audience": ["nursery", "school"],
        "cpd_hours": 1.5,
        "capacity": 20,
    }
    own = platform.post("/api/catalogue/events", token=lead, json={**event, "hub_id": hubs[0]})
    assert own.status_code == 201, own.text
    other = platform.post("/api/catalogue/events", token=lead, json={**event, "hub_id": hubs[1]})
    _problem(other, 403)
    practitioner = platform.login(*_new_user(platform, ["practitioner"]))
    _problem(
        platform.post(
            "/api/catalogue/hubs",
            token=practitioner,
            json={"name": "Nope hub", "region": "South East"},
        ),
        403,
    )


def test_deactivation_ends_access_at_every_service_within_seconds(platform: Platform) -> None:
    """The admin's change travels gateway outbox → bus → each service's identity replica;
    the old token is refused everywhere well before it expires (README, "Security")."""
    from shared.db import Database
    from shared.identity import IdentityState
    from shared.messaging.testing import wait_until

    hub = platform.post(
        "/api/catalogue/hubs",
        token=platform.login(*ADMIN),
        json={"name": f"Revocation hub {uuid.uuid4().hex[:6]}", "region": "North West"},
    ).json()["id"]
    email, password = _new_user(platform, ["hub_lead", "practitioner"], hub_ids=[hub])
    resp = platform.post("/api/auth/token", json={"email": email, "password": password})
    token = resp.json()["access_token"]
    user_id = platform.get("/api/auth/me", token=token).json()["id"]
    probes = {
        "catalogue": f"/api/catalogue/events?hub_id={hub}",
        "bookings": "/api/bookings",
        "mentoring": f"/api/mentoring/requests?hub_id={hub}",
        "gateway": "/api/auth/me",
    }
    for name, path in probes.items():
        assert platform.get(path, token=token).status_code == 200, name

    started = time.monotonic()
    resp = platform.request(
        "PATCH",
        f"/api/auth/users/{user_id}",
        token=platform.login(*ADMIN),
        json={"is_active": False},
    )
    assert resp.status_code == 200, resp.text
    refused_after: dict[str, float] = {}

    def all_refuse() -> bool:
        for name, path in probes.items():
            if name not in refused_after and platform.get(path, token=token).status_code == 401:
                refused_after[name] = round(time.monotonic() - started, 2)
        return len(refused_after) == len(probes)

    assert wait_until(all_refuse, timeout=30), (refused_after, platform.log_tail(30))
    settings = platform.backend.settings(platform.port_base)
    for service in ("budget",):  # no authenticated routes yet: read its replica
        db = Database(settings.database_url(service), name=service)
        try:

            def replicated(db: Database = db) -> bool:
                with db.read() as s:
                    row = s.get(IdentityState, uuid.UUID(user_id))
                    return row is not None and not row.is_active

            assert wait_until(replicated, timeout=30), service
        finally:
            db.dispose()
    print(f"old token refused after (s): {refused_after}")
