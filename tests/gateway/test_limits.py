"""Rate limits: failed logins per (IP, email), registrations per IP, API calls per user."""

from __future__ import annotations

import os

import pytest

from gateway.limits import validate
from shared.config import load_settings
from tests.gateway.conftest import admin_token, auth, problem


def _user(gw, email: str) -> None:  # type: ignore[no-untyped-def]
    body = {"email": email, "password": "right password", "name": "P", "setting_type": "school"}
    assert gw.post("/api/auth/register", json=body).status_code == 201


def test_failed_logins_lock_one_account_not_the_others(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_RATE_LIMIT_LOGIN="3/minute")
    _user(gw, "target@example.org")
    _user(gw, "other@example.org")
    for _ in range(3):
        problem(
            gw.post("/api/auth/token", json={"email": "target@example.org", "password": "guess"}),
            401,
        )
    blocked = gw.post(
        "/api/auth/token", json={"email": "TARGET@example.org", "password": "right password"}
    )
    body = problem(blocked, 429)
    assert body["type"] == "urn:eyhub:problem:rate-limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    ok = gw.post(
        "/api/auth/token", json={"email": "other@example.org", "password": "right password"}
    )
    assert ok.status_code == 200


def test_successful_logins_are_not_counted(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_RATE_LIMIT_LOGIN="2/minute")
    _user(gw, "p@example.org")
    for _ in range(4):
        resp = gw.post(
            "/api/auth/token", json={"email": "p@example.org", "password": "right password"}
        )
        assert resp.status_code == 200


def test_registrations_are_limited_per_ip(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_RATE_LIMIT_REGISTER="2/hour")
    _user(gw, "a@example.org")
    _user(gw, "b@example.org")
    body = {
        "email": "c@example.org",
        "password": "right password",
        "name": "C",
        "setting_type": "school",
    }
    resp = gw.post("/api/auth/register", json=body)
    problem(resp, 429)
    assert int(resp.headers["Retry-After"]) > 60


def test_api_calls_are_limited_per_user(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_RATE_LIMIT_API="4/minute")
    token = admin_token(gw)
    statuses = [gw.get("/api/catalogue/echo", headers=auth(token)).status_code for _ in range(3)]
    statuses.append(gw.get("/api/auth/me", headers=auth(token)).status_code)
    assert statuses == [200, 200, 200, 200]
    problem(gw.get("/api/auth/me", headers=auth(token)), 429)
    # Anonymous callers are counted by IP, separately from that user.
    assert gw.get("/api/catalogue/echo").status_code == 200


def test_bad_limit_strings_fail_at_start() -> None:
    with pytest.raises(ValueError, match="EYHUB_RATE_LIMIT_LOGIN"):
        validate(load_settings({"EYHUB_RATE_LIMIT_LOGIN": "lots"}))


@pytest.fixture
def redis_url(tmp_path):  # type: ignore[no-untyped-def]
    """A throwaway redis-server on a free port (skipped where the binary is not installed)."""
    import shutil
    import subprocess
    import time

    import redis

    from tests.support.backends import free_port_base

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):  # CI machines have it: a missing server is a failure there
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = free_port_base(1)
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_replicas_share_counts_through_redis(make_gateway, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    env = {"EYHUB_REDIS_URL": redis_url, "EYHUB_RATE_LIMIT_LOGIN": "2/minute"}
    first, second = make_gateway(**env), make_gateway(**env)
    bad = {"email": "admin@example.org", "password": "wrong guess"}
    problem(first.post("/api/auth/token", json=bad), 401)
    problem(second.post("/api/auth/token", json=bad), 401)
    problem(first.post("/api/auth/token", json=bad), 429)
    problem(second.post("/api/auth/token", json=bad), 429)
