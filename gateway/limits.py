"""Rate limits (flask-limiter 4): in memory embedded, in Redis when EYHUB_REDIS_URL is set.

- failed logins per (client IP, email): counted only when the answer is 401, so a
  user who types the password right is never slowed down, and one account under
  attack does not lock out the others behind the same IP;
- registrations per client IP;
- every API call (own routes and proxied ones) per user, or per IP when anonymous.

A breach is a 429 problem document with ``Retry-After`` in seconds.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from shared.auth import current_identity
from shared.config import Settings
from shared.problems import Problem, problem_response


def client_ip() -> str:
    """The caller's address (ProxyFix has applied EYHUB_TRUSTED_PROXY_HOPS by now)."""
    return request.remote_addr or "unknown"


def login_key() -> str:
    from gateway.operations import normalise_email

    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    email = normalise_email(email) if isinstance(email, str) else ""
    return f"{client_ip()}|{email[:254]}"


def api_key() -> str:
    """Per verified user; a missing or bad token counts against the IP instead."""
    try:
        identity = current_identity(optional=True)
    except Problem:
        identity = None
    return f"user:{identity.user_id}" if identity else f"ip:{client_ip()}"


def validate(settings: Settings) -> None:
    """Fail at start, naming the variable, rather than on the first request."""
    for var, value in (
        ("EYHUB_RATE_LIMIT_LOGIN", settings.rate_limit_login),
        ("EYHUB_RATE_LIMIT_REGISTER", settings.rate_limit_register),
        ("EYHUB_RATE_LIMIT_API", settings.rate_limit_api),
    ):
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{var}={value!r} is not a rate limit like '10/minute'") from exc


#: Paths with their own limits instead of the per-user API limit.
_OWN_LIMITS = frozenset({"/api/auth/token", "/api/auth/register"})


def install_api_limit(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """The per-user limit on every API and calendar call, own routes and proxied alike.

    Checked once in ``before_request`` against the limiter's own storage and strategy:
    a decorator on every proxied route would evaluate the limits twice per request
    (middleware and decorator), and this sits on the hot path of every call.
    """
    items = parse_many(settings.rate_limit_api)

    @app.before_request
    def _api_limit() -> None:
        path = request.path
        if not path.startswith(("/api/", "/calendar/")) or path in _OWN_LIMITS:
            return
        key = api_key()
        for item in items:
            if not limiter.limiter.hit(item, "eyhub-gateway", "api", key):
                reset_at, _ = limiter.limiter.get_window_stats(item, "eyhub-gateway", "api", key)
                wait = max(1, math.ceil(reset_at - time.time()))
                raise Problem(
                    429,
                    "Too many requests",
                    f"Rate limit {item} exceeded; try again in {wait} s.",
                    kind="rate-limited",
                    headers={"Retry-After": str(wait)},
                )


def build_limiter(app: Flask, settings: Settings) -> Limiter:
    validate(settings)
    limiter = Limiter(
        client_ip,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        strategy="fixed-window",
        key_prefix="eyhub-gateway",
        headers_enabled=False,
    )

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        wait = math.ceil(current.window[0] - time.time()) if current else 60
        return problem_response(
            429,
            "Too many requests",
            f"Rate limit {exc.description} exceeded; try again in {max(wait, 1)} s.",
            kind="rate-limited",
            headers={"Retry-After": str(max(wait, 1))},
        )

    @limiter.request_filter
    def _no_decorated_limits() -> bool:
        # Only login and register carry flask-limiter decorators; skip its per-request
        # bookkeeping on everything else (the proxied hot path).
        return request.path not in _OWN_LIMITS

    install_api_limit(app, limiter, settings)
    return limiter
