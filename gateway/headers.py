"""Security headers on every answer, and CORS (closed unless EYHUB_CORS_ORIGINS lists origins).

The kernel already sets nosniff, no-referrer and frame denial; the gateway adds a
Content-Security-Policy (an API answers data, never runs script; /docs sets its own),
HSTS when the public URL is https, and keeps token answers out of caches.
"""

from __future__ import annotations

from flask import Flask, Response, request

from shared.config import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-ID"
CORS_EXPOSE = "X-Request-ID, Retry-After, ETag, Last-Modified, Location"


def install(app: Flask, settings: Settings) -> None:
    origins = frozenset(settings.cors_origins)
    hsts = settings.public_url.startswith("https://")

    @app.before_request
    def _preflight() -> Response | None:
        if (
            request.method == "OPTIONS"
            and request.headers.get("Origin") in origins
            and "Access-Control-Request-Method" in request.headers
        ):
            return Response(status=204)
        return None

    defaults = [
        ("Content-Security-Policy", API_CSP),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-site"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if hsts:
        defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    lowered = [(name.lower(), name, value) for name, value in defaults]

    @app.after_request
    def _headers(resp: Response) -> Response:
        # One pass over the headers instead of two per setdefault: every answer, proxied
        # ones included, comes through here.
        present = {key.lower() for key, _ in resp.headers.items()}
        for low, name, value in lowered:
            if low not in present:
                resp.headers.add(name, value)
        if request.path.startswith("/api/auth/"):
            resp.headers["Cache-Control"] = "no-store"
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
            resp.headers.add("Vary", "Origin")
            if request.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                resp.headers["Access-Control-Max-Age"] = "600"
        return resp
