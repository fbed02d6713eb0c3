"""No 500 from any input at the gateway's own routes (issue 15, "No 500 from any input").

Schema-guided fuzzing (tests/e2e/test_gateway_schemathesis.py) does not send these, so
each is pinned here: a lone surrogate escape in login and registration JSON, JSON nested
1,000 levels deep (own route and proxied route), and control characters in a name.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.gateway.conftest import admin_token, auth, problem

REGISTER = {
    "email": "ann.smith@example.org",
    "password": "correct horse",
    "name": "Ann Smith",
    "setting_type": "childminder",
}
#: ``"\ud800"`` as a JSON escape: valid JSON, not valid Unicode text.
LONE_SURROGATE = "\\ud800"


def _post_raw(client: FlaskClient, path: str, body: str, **headers: str) -> Any:
    return client.post(path, data=body.encode(), content_type="application/json", headers=headers)


def _with(field: str, raw_value: str, base: dict[str, str]) -> str:
    """``base`` as JSON with ``field``'s value written raw (escapes kept as sent)."""
    parts = [f'"{k}": "{raw_value if k == field else v}"' for k, v in base.items()]
    return "{" + ", ".join(parts) + "}"


@pytest.mark.parametrize("field", ["email", "password"])
def test_a_lone_surrogate_in_login_json_is_a_400_problem(gw: FlaskClient, field: str) -> None:
    creds = {"email": "admin@example.org", "password": "admin-password"}
    body = _with(field, f"x{LONE_SURROGATE}y", creds)
    found = problem(_post_raw(gw, "/api/auth/token", body), 400)
    assert found["type"] == "urn:eyhub:problem:invalid-json"
    assert "surrogate" in found["detail"]
    # A surrogate pair is an ordinary character (U+1F600): refused for the password, not
    # as a body.
    pair = _with(field, "x\\ud83d\\ude00y", creds)
    assert _post_raw(gw, "/api/auth/token", pair).status_code == 401


@pytest.mark.parametrize("field", ["email", "password", "name"])
def test_a_lone_surrogate_in_register_json_is_a_400_problem(gw: FlaskClient, field: str) -> None:
    body = _with(field, f"Ann{LONE_SURROGATE}", REGISTER)
    found = problem(_post_raw(gw, "/api/auth/register", body), 400)
    assert found["type"] == "urn:eyhub:problem:invalid-json"
    assert gw.post("/api/auth/register", json=REGISTER).status_code == 202  # nothing half-made


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/token", "/api/catalogue/echo"])
def test_json_nested_1000_levels_is_a_400_problem_at_the_gateway(
    gw: FlaskClient, path: str
) -> None:
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    found = problem(_post_raw(gw, path, body), 400)
    assert "nested" in found["detail"]


@pytest.mark.parametrize("name", ["Ann\x00Smith", "Ann\r\nSmith", "Ann\nSmith", "Ann\u2028Smith"])
def test_control_characters_in_a_registration_name_are_a_422(gw: FlaskClient, name: str) -> None:
    found = problem(gw.post("/api/auth/register", json={**REGISTER, "name": name}), 422)
    assert set(found["errors"]) == {"name"}
    # Nor through the admin's door, nor by a later change.
    token = admin_token(gw)
    made = gw.post(
        "/api/auth/users", headers=auth(token), json={**REGISTER, "name": name, "roles": ["mentor"]}
    )
    assert set(problem(made, 422)["errors"]) == {"name"}


def test_registration_names_are_stored_nfc(gw: FlaskClient) -> None:
    decomposed = "Zoe\u0301 Smith"  # e + combining acute
    assert gw.post("/api/auth/register", json={**REGISTER, "name": decomposed}).status_code == 202
    page = gw.get(
        "/api/auth/users",
        headers=auth(admin_token(gw)),
        query_string={"q": "ann.smith@example.org"},
    ).get_json()
    assert [u["name"] for u in page["items"]] == ["Zo\u00e9 Smith"]
