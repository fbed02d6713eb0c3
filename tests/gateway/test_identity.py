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
from sqlalchemy import select

from shared.pagination import decode_cursor, text_key
from tests.gateway.conftest import HUB_A, HUB_B, admin_token, auth, login, problem


def _register(client: FlaskClient, email: str = "Ann.Smith@Example.ORG", **extra: Any):  # type: ignore[no-untyped-def]
    body = {
        "email": email,
        "password": "correct horse",
        "name": "Ann Smith",
        "setting_type": "childminder",
        **extra,
    }
    return client.post("/api/auth/register", json=body)


def _user(client: FlaskClient, email: str = "ann.smith@example.org") -> dict[str, Any]:
    """The account as an admin sees it (registration answers without it, on purpose)."""
    page = client.get(
        "/api/auth/users", headers=auth(admin_token(client)), query_string={"q": email}
    ).get_json()
    (user,) = [u for u in page["items"] if u["email"] == email]
    return user


def _mails(client: FlaskClient, to: str) -> list[tuple[str, str]]:
    """(subject, text body) of every mail queued for ``to``, oldest first."""
    from email import message_from_bytes, policy

    from shared.mail import MailOutbox

    with client.application.extensions["eyhub"].db.read() as s:
        rows = s.scalars(select(MailOutbox).where(MailOutbox.to_addr == to)).all()
        raw = [r.message for r in sorted(rows, key=lambda r: r.next_attempt_at)]
    out = []
    for data in raw:
        msg = message_from_bytes(data, policy=policy.default)
        out.append((str(msg["Subject"]), msg.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
    return out


def _confirm_link(client: FlaskClient, to: str) -> str:
    subject, text = _mails(client, to)[-1]
    assert subject == "Confirm your email address for eyhub"
    (link,) = re.findall(r"http\S+confirm-email\?token=\S+", text)
    # The mail links to the web page, which confirms through the API route tested here.
    assert link.startswith("http://127.0.0.1:8080/confirm-email?token=")
    return link.removeprefix("http://127.0.0.1:8080").replace(
        "/confirm-email", "/api/auth/confirm-email"
    )


def test_register_makes_a_practitioner_with_a_normalised_email(gw: FlaskClient) -> None:
    resp = _register(gw, setting_name="Little Acorns", hub_id=HUB_A, ofsted_urn="ey123456")
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["email"] == "ann.smith@example.org"
    assert set(resp.get_json()) == {"email", "detail"}  # nothing about the account
    user = _user(gw)
    assert user["roles"] == ["practitioner"]
    assert user["hub_ids"] == [HUB_A]
    assert user["setting_type"] == "childminder"
    assert user["ofsted_urn"] == "EY123456"
    assert "password" not in user and "password_hash" not in user
    # The platform's one datetime form (shared.fields.UTCDateTime), not "+00:00".
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", user["created_at"])


def test_an_unconfirmed_account_gets_a_token_that_cannot_book_until_confirmed(
    gw: FlaskClient,
) -> None:
    _register(gw)
    token = login(gw, "ann.smith@example.org", "correct horse")
    assert jwt.decode(token, options={"verify_signature": False})["email_verified"] is False
    link = _confirm_link(gw, "ann.smith@example.org")
    resp = gw.get(link)
    assert resp.status_code == 200, resp.get_json()
    assert gw.get(link).status_code == 200  # following it twice is harmless
    token = login(gw, "ann.smith@example.org", "correct horse")
    assert jwt.decode(token, options={"verify_signature": False})["email_verified"] is True
    # A tampered or foreign token is refused; an access token is not a confirmation.
    problem(gw.get(link[:-3] + "abc"), 400)
    problem(gw.get(f"/api/auth/confirm-email?token={token}"), 400)


def test_registering_a_taken_address_answers_the_same_and_mails_its_owner(
    gw: FlaskClient,
) -> None:
    first = _register(gw)
    again = _register(gw, email="  ANN.smith@example.org ", name="Someone Else")
    assert (first.status_code, first.get_json()) == (again.status_code, again.get_json())
    # Never confirmed: the owner gets a fresh link, not a second account.
    assert [s for s, _ in _mails(gw, "ann.smith@example.org")] == [
        "Confirm your email address for eyhub"
    ] * 2
    gw.get(_confirm_link(gw, "ann.smith@example.org"))
    assert _register(gw).status_code == 202
    subject, text = _mails(gw, "ann.smith@example.org")[-1]
    assert subject == "You already have an eyhub account" and "Sign in" in text
    assert _user(gw)["name"] == "Ann Smith"


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
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["refresh_token"] and body["refresh_expires_in"] == 30 * 24 * 3600
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
    assert 899 < claims["exp"] - claims["iat"] <= 900  # iat has milliseconds
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
    _register(gw)
    user = _user(gw)
    resp = gw.patch(f"/api/auth/users/{user['id']}", headers=auth(admin), json={"is_active": False})
    assert resp.status_code == 200
    problem(
        gw.post("/api/auth/token", json={"email": user["email"], "password": "correct horse"}), 401
    )


def test_practitioner_is_forbidden_on_admin_routes(gw: FlaskClient) -> None:
    _register(gw)
    user = _user(gw)
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
