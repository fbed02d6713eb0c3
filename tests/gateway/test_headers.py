"""Security headers everywhere, CORS closed unless configured, /docs without a CDN."""

from __future__ import annotations

from tests.gateway.conftest import problem


def test_security_headers_on_own_proxied_and_error_answers(gw) -> None:  # type: ignore[no-untyped-def]
    for resp in (gw.get("/healthz"), gw.get("/api/catalogue/echo"), gw.get("/api/auth/me")):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in resp.headers  # public URL is http here


def test_hsts_when_public_url_is_https(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_PUBLIC_URL="https://eyhub.example.org")
    assert "max-age=" in gw.get("/healthz").headers["Strict-Transport-Security"]


def test_cors_closed_by_default(gw) -> None:  # type: ignore[no-untyped-def]
    resp = gw.get("/api/catalogue/echo", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_open_to_configured_origins(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(EYHUB_CORS_ORIGINS="https://app.example.org")
    pre = gw.options(
        "/api/auth/me",
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    got = gw.get("/api/catalogue/echo", headers={"Origin": "https://app.example.org"})
    assert got.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "Origin" in got.headers.get("Vary", "")
    other = gw.get("/api/catalogue/echo", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_docs_are_served_from_the_package(gw) -> None:  # type: ignore[no-untyped-def]
    page = gw.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    js = gw.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.data) > 100_000
    assert b"/openapi.json" in gw.get("/docs/init.js").data
    problem(gw.get("/docs/static/index.j2"), 404)
    problem(gw.get("/docs/static/..%2Fpyproject.toml"), 404)
