"""Identity through the gateway app: sign-up, tokens, the caller, administration."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from shared.pagination import decode_cursor, text_key
from tests.gateway.conftest import admin_token, auth, login, problem

HUB_A = "11111111-1111-4111-8111-111111111111"
HUB_B = "22222222-2222-4222-8222-222222222222"


def _register(client: FlaskClient, email: str = "Ann.Smith@Example.ORG", **extra: Any):  # type: ignore[no-untyped-def]
    body = {
        "email": email,
        "password": "correct horse",
        "name": "Ann Smith",
        "setting_type": "childminder",
        **extra,
    }
    return client.post("/api/auth/register", json=body)


def test_register_makes_a_practitioner_with_a_normalised_email(gw: FlaskClient) -> None:
    resp = _register(gw, setting_name="Little Acorns", hub_id=HUB_A, ofsted_urn="ey123456")
    assert resp.status_code == 201, resp.get_json()
    user = resp.get_json()
    assert user["email"] == "ann.smith@example.org"
    assert user["roles"] == ["practitioner"]
    assert user["hub_ids"] == [HUB_A]
    assert user["setting_type"] == "childminder"
    assert user["ofsted_urn"] == "EY123456"
    assert "password" not in user and "password_hash" not in user
    # The platform's one datetime form (shared.fields.UTCDateTime), not "+00:00".
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", user["created_at"])


def test_duplicate_email_in_any_case_is_409(gw: FlaskClient) -> None:
    assert _register(gw).status_code == 201
    problem(_register(gw, email="  ANN.smith@example.org "), 409)


def test_register_validates_fields(gw: FlaskClient) -> None:
    resp = gw.post(
        "/api/auth/register",
        json={"email": "not-an-email", "password": "short", "name": "", "setting_type": "zoo"},
    )
    body = problem(resp, 422)
    assert {"email", "password", "name", "setting_type"} <= set(body["errors"])
    problem(gw.post("/api/auth/register", data="{", content_type="application/json"), 400)


def test_token_carries_the_claims_services_need(gw: FlaskClient) -> None:
    _register(gw, hub_id=HUB_A)
    resp = gw.post(
        "/api/auth/token", json={"email": "ANN.SMITH@example.org", "password": "correct horse"}
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert resp.headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    jwks = gw.get("/.well-known/jwks.json").get_json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert "d" not in key  # public half only
    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="eyhub",
        issuer="http://127.0.0.1:8080",
    )
    assert claims["email"] == "ann.smith@example.org"
    assert claims["name"] == "Ann Smith"
    assert claims["roles"] == ["practitioner"]
    assert claims["hub_ids"] == [HUB_A]
    assert claims["setting_type"] == "childminder"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    me = gw.get("/api/auth/me", headers=auth(token))
    assert me.status_code == 200 and me.get_json()["id"] == claims["sub"]


@pytest.mark.parametrize(
    "email,password",
    [("ann.smith@example.org", "wrong password"), ("nobody@example.org", "correct horse")],
)
def test_wrong_credentials_are_401(gw: FlaskClient, email: str, password: str) -> None:
    _register(gw)
    body = problem(gw.post("/api/auth/token", json={"email": email, "password": password}), 401)
    assert body["detail"] == "Wrong email or password."


def _forge(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers=headers)


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_bad_tokens_are_401(gw: FlaskClient) -> None:
    _register(gw)
    good = login(gw, "ann.smith@example.org", "correct horse")
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    header, payload, signature = good.split(".")
    tampered = _b64({**claims, "roles": ["admin"]})
    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed": auth("not.a.jwt"),
        "garbage": auth("abc"),
        "tampered payload": auth(f"{header}.{tampered}.{signature}"),
        "forged with known kid": auth(_forge(claims, {"kid": kid})),
        "unknown kid": auth(_forge(claims, {"kid": "nope"})),
        "alg none": auth(f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}."),
        "HS256 with public key": auth(
            f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{payload}.{signature}"
        ),
        "wrong audience": auth(_forge({**claims, "aud": "other"}, {"kid": kid})),
    }
    for name, headers in cases.items():
        resp = gw.get("/api/auth/me", headers=headers)
        assert resp.status_code == 401, name
        assert resp.headers["WWW-Authenticate"].startswith("Bearer"), name


def test_expired_token_is_401(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_TOKEN_TTL_SECONDS="-60")  # already expired beyond the leeway
    token = admin_token(gw)
    body = problem(gw.get("/api/auth/me", headers=auth(token)), 401)
    assert "expired" in body["detail"]


def test_admin_creates_and_changes_users(gw: FlaskClient) -> None:
    admin = admin_token(gw)
    resp = gw.post(
        "/api/auth/users",
        headers=auth(admin),
        json={
            "email": "Lead@Example.org",
            "password": "lead password",
            "name": "Lia Lead",
            "roles": ["hub_lead", "mentor"],
            "hub_ids": [HUB_A],
            "setting_type": "nursery",
        },
    )
    assert resp.status_code == 201, resp.get_json()
    lead = resp.get_json()
    assert lead["roles"] == ["hub_lead", "mentor"] and lead["hub_ids"] == [HUB_A]
    token = login(gw, "lead@example.org", "lead password")
    assert jwt.decode(token, options={"verify_signature": False})["hub_ids"] == [HUB_A]

    resp = gw.patch(
        f"/api/auth/users/{lead['id']}",
        headers=auth(admin),
        json={"roles": ["hub_lead"], "hub_ids": [HUB_A, HUB_B]},
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["roles"] == ["hub_lead"]
    claims = jwt.decode(
        login(gw, "lead@example.org", "lead password"), options={"verify_signature": False}
    )
    assert claims["roles"] == ["hub_lead"] and sorted(claims["hub_ids"]) == sorted([HUB_A, HUB_B])

    problem(
        gw.patch(f"/api/auth/users/{lead['id']}", headers=auth(admin), json={"roles": ["x"]}), 422
    )
    missing = "33333333-3333-4333-8333-333333333333"
    problem(gw.patch(f"/api/auth/users/{missing}", headers=auth(admin), json={"name": "x"}), 404)
    problem(gw.get(f"/api/auth/users/{missing}", headers=auth(admin)), 404)
    problem(
        gw.post(
            "/api/auth/users",
            headers=auth(admin),
            json={"email": "LEAD@example.org", "password": "whatever1", "name": "Dup"},
        ),
        409,
    )


def test_admin_cannot_lock_themselves_out(gw: FlaskClient) -> None:
    admin = admin_token(gw)
    me = gw.get("/api/auth/me", headers=auth(admin)).get_json()
    problem(
        gw.patch(f"/api/auth/users/{me['id']}", headers=auth(admin), json={"roles": ["mentor"]}),
        409,
    )
    problem(
        gw.patch(f"/api/auth/users/{me['id']}", headers=auth(admin), json={"is_active": False}), 409
    )


def test_deactivated_user_cannot_log_in(gw: FlaskClient) -> None:
    admin = admin_token(gw)
    user = _register(gw).get_json()
    resp = gw.patch(f"/api/auth/users/{user['id']}", headers=auth(admin), json={"is_active": False})
    assert resp.status_code == 200
    problem(
        gw.post("/api/auth/token", json={"email": user["email"], "password": "correct horse"}), 401
    )


def test_practitioner_is_forbidden_on_admin_routes(gw: FlaskClient) -> None:
    user = _register(gw).get_json()
    token = login(gw, user["email"], "correct horse")
    body = {"email": "x@example.org", "password": "password1", "name": "X", "roles": ["admin"]}
    problem(gw.post("/api/auth/users", headers=auth(token), json=body), 403)
    problem(gw.get("/api/auth/users", headers=auth(token)), 403)
    problem(gw.get(f"/api/auth/users/{user['id']}", headers=auth(token)), 403)
    problem(
        gw.patch(f"/api/auth/users/{user['id']}", headers=auth(token), json={"roles": ["admin"]}),
        403,
    )
    problem(gw.get("/api/auth/users"), 401)


def test_user_list_pages_without_gaps_or_repeats(gw: FlaskClient) -> None:
    admin = admin_token(gw)
    for i in range(7):
        _register(gw, email=f"p{i}@example.org", hub_id=HUB_A if i % 2 else HUB_B)
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = gw.get("/api/auth/users", headers=auth(admin), query_string=query).get_json()
        seen += [u["email"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 8
    # The kernel's cursor format: the same (key, id) pair every service list pages by.
    first = gw.get("/api/auth/users", headers=auth(admin), query_string={"limit": 3}).get_json()
    assert decode_cursor(first["next_cursor"], text_key)[0] == first["items"][-1]["email"]
    hub_a = gw.get("/api/auth/users", headers=auth(admin), query_string={"hub_id": HUB_A})
    assert {u["email"] for u in hub_a.get_json()["items"]} == {
        "p1@example.org",
        "p3@example.org",
        "p5@example.org",
    }
    admins = gw.get("/api/auth/users", headers=auth(admin), query_string={"role": "admin"})
    assert [u["email"] for u in admins.get_json()["items"]] == ["admin@example.org"]
    problem(gw.get("/api/auth/users", headers=auth(admin), query_string={"cursor": "%%%"}), 422)
    problem(gw.get("/api/auth/users", headers=auth(admin), query_string={"limit": 0}), 422)


def test_bootstrap_admin_is_created_once(make_gateway) -> None:  # type: ignore[no-untyped-def]
    first = make_gateway()
    token = admin_token(first)
    second = make_gateway(EYHUB_ADMIN_PASSWORD="a different password")
    # Not overwritten: the existing admin keeps the password it was created with.
    assert (
        second.post(
            "/api/auth/token", json={"email": "admin@example.org", "password": "admin-password"}
        ).status_code
        == 200
    )
    page = second.get("/api/auth/users", headers=auth(token), query_string={"role": "admin"})
    assert len(page.get_json()["items"]) == 1
