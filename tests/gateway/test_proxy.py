"""The proxy against a real (fake) upstream on a socket: headers, paths, streaming, failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from unittest import mock

import requests
from flask.testing import FlaskClient

from tests.gateway.conftest import BIG, FakeUpstream, problem
from tests.support.backends import METRICS_AUTH


def test_route_table_is_explicit() -> None:
    from gateway.proxy import route_for

    assert route_for("/api/catalogue/sessions") == "catalogue"
    assert route_for("/api/bookings") == "bookings"
    assert route_for("/api/bookingsx") is None
    assert route_for("/calendar/hubs/x.ics") == "catalogue"
    assert route_for("/calendar/feeds/t.ics") == "bookings"
    assert route_for("/calendar/mentoring/t.ics") == "mentoring"
    assert route_for("/calendar/other.ics") is None
    assert route_for("/api/auth/me") is None


def test_same_path_and_query_reach_the_service(gw: FlaskClient) -> None:
    resp = gw.get("/api/catalogue/echo/a%20b/c?x=1&y=%C3%A9&x=2")
    assert resp.status_code == 200
    seen = resp.get_json()
    assert seen["path"] == "/api/catalogue/echo/a b/c"
    assert seen["query"] == "x=1&y=%C3%A9&x=2"
    post = gw.post("/api/catalogue/echo", data=b'{"a": 1}', content_type="application/json")
    assert post.status_code == 200, post.get_data(as_text=True)
    assert post.get_json()["body"] == '{"a": 1}'
    assert post.get_json()["method"] == "POST"


def test_identity_and_forwarding_headers_are_the_gateways(gw: FlaskClient) -> None:
    resp = gw.get(
        "/api/catalogue/echo",
        headers={
            "Authorization": "Bearer abc.def.ghi",
            "X-User-Id": "00000000-0000-4000-8000-000000000001",
            "X-User-Roles": "admin",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=6.6.6.6",
            "X-Real-IP": "6.6.6.6",
            "X-Request-ID": "req-123",
            "Connection": "X-Private-Hop",
            "X-Private-Hop": "1",
            "Keep-Alive": "timeout=1",
            "Idempotency-Key": "k1",
        },
    )
    assert resp.status_code == 200
    seen = resp.get_json()["headers"]
    assert seen["authorization"] == "Bearer abc.def.ghi"  # forwarded unchanged
    for stripped in ("x-user-id", "x-user-roles", "forwarded", "x-real-ip", "x-private-hop"):
        assert stripped not in seen, stripped
    assert "keep-alive" not in seen or seen["keep-alive"] != "timeout=1"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-host"] == "localhost"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-request-id"] == "req-123"
    assert seen["idempotency-key"] == "k1"
    assert resp.headers["X-Request-ID"] == "req-123"
    # Hop-by-hop answers from the service do not leak to the client.
    assert "X-Upstream-Private" not in resp.headers
    assert "Keep-Alive" not in resp.headers


def test_upstream_cookies_are_never_shared_between_callers(gw: FlaskClient) -> None:
    first = gw.get("/api/catalogue/echo")
    assert "upstream=1" in first.headers.get("Set-Cookie", "")
    fresh = gw.application.test_client(use_cookies=False)  # another caller
    second = fresh.get("/api/catalogue/echo").get_json()["headers"]
    assert "cookie" not in second


def test_large_bodies_stream_through_intact(gw: FlaskClient) -> None:
    resp = gw.get("/api/catalogue/big.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.is_streamed
    assert resp.get_data() == BIG


def test_calendar_routes_go_to_their_owner(gw: FlaskClient) -> None:
    resp = gw.get("/calendar/hubs/h1.ics")
    assert resp.status_code == 200 and b"X-HUB:h1" in resp.data
    assert resp.mimetype == "text/calendar"
    problem(gw.get("/calendar/feeds/secret-token.ics"), 503)  # bookings is down in this fixture


def test_status_codes_pass_through(gw: FlaskClient) -> None:
    assert gw.get("/api/catalogue/status/304").status_code == 304
    assert gw.get("/api/catalogue/status/204").status_code == 204
    assert gw.get("/api/catalogue/status/418").status_code == 418
    problem(gw.get("/api/nowhere"), 404)


def test_down_service_is_503_fast_then_the_circuit_opens_and_recovers(
    make_gateway: Callable[..., FlaskClient], upstream: FakeUpstream
) -> None:
    # Open for 4 s: long enough that a slow machine still finds it open for the checks
    # below (with 1 s, a loaded CI once saw it half-open and the mock below answered).
    gw = make_gateway(EYHUB_BREAKER_RESET_SECONDS="4")
    upstream.stop()
    for _ in range(3):  # EYHUB_BREAKER_FAIL_MAX=3
        body = problem(gw.get("/api/catalogue/echo"), 503)
        assert "refused" in body["detail"]
    opened = gw.get("/api/catalogue/echo")
    body = problem(opened, 503)
    assert "circuit breaker" in body["detail"]
    assert int(opened.headers["Retry-After"]) >= 1
    assert 'eyhub_gateway_circuit_open{service="catalogue"} 1.0' in gw.get(
        "/metrics", headers=METRICS_AUTH
    ).get_data(as_text=True)
    proxy = gw.application.extensions["eyhub"].extras["proxy"]
    with mock.patch.object(proxy.session, "request") as never:
        problem(gw.get("/api/catalogue/echo"), 503)  # open: answered without trying
        never.assert_not_called()
    upstream.start()
    deadline = time.monotonic() + 15
    while gw.get("/api/catalogue/echo").status_code != 200:
        assert time.monotonic() < deadline, "did not recover"
        time.sleep(0.1)
    assert gw.get("/api/catalogue/echo").status_code == 200


def test_slow_service_is_504_not_a_hang(gw: FlaskClient) -> None:
    # The upstream answers after 3 s; the gateway's read timeout here is 1 s, so a 504
    # (rather than the upstream's 200) is the proof that it did not wait.
    problem(gw.get("/api/catalogue/slow?s=3"), 504)


def test_idempotent_methods_retry_once_on_connect_errors(gw: FlaskClient) -> None:
    proxy = gw.application.extensions["eyhub"].extras["proxy"]
    real = proxy.session.request
    calls = []

    def flaky(method: str, url: str, **kw):  # type: ignore[no-untyped-def]
        calls.append(method)
        if len(calls) == 1:
            raise requests.ConnectionError("connection reset")
        return real(method, url, **kw)

    with mock.patch.object(proxy.session, "request", side_effect=flaky):
        assert gw.get("/api/catalogue/echo").status_code == 200
    assert calls == ["GET", "GET"]
    calls.clear()
    with mock.patch.object(proxy.session, "request", side_effect=flaky):
        problem(gw.post("/api/catalogue/echo", json={}), 503)
    assert calls == ["POST"]  # never replayed: it might have been applied
