"""Rate limits: failed logins per (IP, email), per IP and per email; registrations per IP;
API calls per user."""

from __future__ import annotations

import os

import pytest

from gateway.limits import WEB_CLIENT_HEADER, WEB_CLIENT_SECRET, validate, vouch
from shared.config import load_settings
from tests.gateway.conftest import admin_token, auth, problem


def _user(gw, email: str) -> None:  # type: ignore[no-untyped-def]
    body = {"email": email, "password": "right password", "name": "P", "setting_type": "school"}
    assert gw.post("/api/auth/register", json=body).status_code == 202


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


def _login(gw, email: str, password: str, ip: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    return gw.post(
        "/api/auth/token",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_password_spraying_from_one_ip_is_stopped_by_default(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """One common password against 40 accounts from one IP: every email is new, so the
    per-(IP, email) limit never trips; the per-IP failure limit (30/10 minutes) does."""
    gw = make_gateway()
    statuses = [_login(gw, f"person{i}@example.org", "Summer2027!").status_code for i in range(40)]
    assert statuses[:30] == [401] * 30
    assert set(statuses[30:]) == {429}
    blocked = _login(gw, "person40@example.org", "Summer2027!")
    body = problem(blocked, 429)
    assert body["type"] == "urn:eyhub:problem:rate-limited"
    assert 60 < int(blocked.headers["Retry-After"]) <= 600
    # Another address is not affected, nor is the admin from it.
    problem(_login(gw, "person0@example.org", "Summer2027!", ip="198.51.100.9"), 401)
    assert _login(gw, "admin@example.org", "admin-password", ip="198.51.100.9").status_code == 200


def test_an_attacked_account_backs_off_across_ips_but_its_owner_logs_in_elsewhere(  # type: ignore[no-untyped-def]
    make_gateway,
) -> None:
    """The attacked account is the bootstrap admin: it exists and can sign in whatever
    registration asks of new accounts."""
    gw = make_gateway(
        EYHUB_RATE_LIMIT_LOGIN="3/minute",
        EYHUB_RATE_LIMIT_LOGIN_ACCOUNT="5/hour",
        EYHUB_RATE_LIMIT_LOGIN_IP="100/hour",
    )
    target, password = "admin@example.org", "admin-password"
    for _ in range(3):
        problem(_login(gw, target, "guess", ip="192.0.2.1"), 401)
    problem(_login(gw, target, password, ip="192.0.2.1"), 429)
    # Throttled per (IP, account): the owner, elsewhere, is not locked out.
    assert _login(gw, target, password, ip="198.51.100.20").status_code == 200
    # The attack spreads over other IPs: the account's own, longer back-off trips...
    problem(_login(gw, target, "guess", ip="192.0.2.2"), 401)
    problem(_login(gw, target, "guess", ip="192.0.2.3"), 401)
    blocked = _login(gw, target, "guess", ip="192.0.2.4")
    problem(blocked, 429)
    assert 60 < int(blocked.headers["Retry-After"]) <= 3600
    # ...for that account only (another is still answered), and it is a window that
    # ends, not a lock.
    problem(_login(gw, "someone.else@example.org", "guess", ip="192.0.2.4"), 401)


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


@pytest.mark.parametrize(
    "var", ["EYHUB_RATE_LIMIT_LOGIN", "EYHUB_RATE_LIMIT_LOGIN_IP", "EYHUB_RATE_LIMIT_LOGIN_ACCOUNT"]
)
def test_bad_limit_strings_fail_at_start(var: str) -> None:
    with pytest.raises(ValueError, match=f"{var}="):
        validate(load_settings({var: "lots"}))


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


def test_web_pages_pass_on_the_browsers_address_only_when_signed(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """The web pages call the API from the gateway's own address: without the vouched
    browser address every visitor would share one per-IP failure budget (and 30 wrong
    passwords anywhere would lock every web sign-in out); a forged header counts for
    nothing."""
    gw = make_gateway()
    secret = gw.application.config[WEB_CLIENT_SECRET]
    gateway_ip = "10.0.0.5"

    def via_web(browser: str, email: str, header: str | None = None):  # type: ignore[no-untyped-def]
        return gw.post(
            "/api/auth/token",
            json={"email": email, "password": "Summer2027!"},
            environ_base={"REMOTE_ADDR": gateway_ip},
            headers={WEB_CLIENT_HEADER: header or vouch(secret, browser)},
        )

    statuses = [via_web("192.0.2.1", f"p{i}@example.org").status_code for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
    # Another browser through the same gateway is not affected.
    assert via_web("192.0.2.2", "p0@example.org").status_code == 401
    # A forged claim (to the blocked browser's address) is ignored: the caller is the
    # address it comes from, which has no failures yet.
    forged = f"192.0.2.1 {'0' * 64}"
    assert via_web("", "p1@example.org", header=forged).status_code == 401
    assert via_web("", "p2@example.org", header="192.0.2.1 nonsense").status_code == 401
