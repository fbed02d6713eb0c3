"""Demo people and ``eyhub users create``."""

from __future__ import annotations

import uuid

from click.testing import CliRunner

from eyhub.cli import main
from gateway.demo import DEMO_PASSWORD, people, seed
from shared.vocabulary import SETTING_TYPES
from tests.gateway.conftest import admin_token, auth, login
from tests.support.backends import Backend

HUBS = [
    {"id": str(uuid.uuid4()), "name": "Sussex Stronger Practice Hub", "region": "South East"},
    {"id": str(uuid.uuid4()), "name": "Hastings Hub for Excellence", "region": "South East"},
]


def test_demo_people_cover_every_role_and_setting() -> None:
    everyone = people(HUBS)
    emails = [p["email"] for p in everyone]
    assert len(emails) == len(set(emails))
    assert all(e.endswith("@example.org") for e in emails)
    leads = [p for p in everyone if p["roles"] == ["hub_lead"]]
    assert sorted(h for p in leads for h in p["hub_ids"]) == sorted(h["id"] for h in HUBS)
    assert 2 <= sum(p["roles"] == ["mentor"] for p in everyone) <= 6  # one or more per hub
    assert {p.get("setting_type") for p in everyone if p["roles"] == ["practitioner"]} == set(
        SETTING_TYPES
    )


def test_seed_is_idempotent_and_its_logins_work(backend: Backend, make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway()
    settings = backend.settings()
    rows = seed(settings, HUBS)
    assert rows == seed(settings, HUBS)
    assert [r[0] for r in rows] == ["admin", "hub_lead", "mentor", "practitioner"]
    for _role, email, password in rows:
        login(gw, email, password)
    total = gw.get("/api/auth/users", headers=auth(admin_token(gw)), query_string={"limit": 100})
    assert len(total.get_json()["items"]) == 1 + len(people(HUBS))
    assert rows[1][2] == DEMO_PASSWORD


def test_users_create_command(backend: Backend, make_gateway) -> None:  # type: ignore[no-untyped-def]
    hub = str(uuid.uuid4())
    env = backend.env()
    args = [
        "users",
        "create",
        "--email",
        "Lead@Example.org",
        "--name",
        "Lia Lead",
        "--password",
        "lead password",
        "--role",
        "hub_lead",
        "--role",
        "mentor",
        "--hub",
        hub,
    ]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, args, env=env)
    assert again.exit_code != 0 and "already exists" in again.output
    gw = make_gateway()
    me = gw.get("/api/auth/me", headers=auth(login(gw, "lead@example.org", "lead password")))
    assert me.get_json()["roles"] == ["hub_lead", "mentor"] and me.get_json()["hub_ids"] == [hub]
