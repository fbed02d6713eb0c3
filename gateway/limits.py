"""Rate limits (flask-limiter 4): in memory embedded, in Redis when EYHUB_REDIS_URL is set.

- failed logins, three ways (``login_limits``), each counted only when the answer is
  401, so a user who types the password right is never slowed down:
  per (client IP, email), so one account under attack does not lock out the others
  behind the same IP; per client IP whatever the email, against password spraying
  (one common password tried on many accounts); and per email from every IP, a larger
  limit over a longer window, against an attack spread over many addresses. The owner
  of an account attacked from one IP still logs in from another: only the larger,
  expiring per-account back-off ever reaches them, never a hard lock;
- registrations per client IP;
- every API call (own routes and proxied ones) per user, or per IP when anonymous.

A breach is a 429 problem document with ``Retry-After`` in seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many

from shared.auth import current_identity
from shared.config import Settings
from shared.problems import Problem, problem_response
from shared.web import runtime

View = TypeVar("View", bound=Callable[..., object])


#: The web pages (gateway/web/) call the API over HTTP on the user's behalf, so every
#: page's call would come from the gateway's own address and share its limits; the page
#: sends the browser's address in this header, signed with a secret only gateways have.
WEB_CLIENT_HEADER = "X-Eyhub-Web-Client"
#: ``app.config`` key of that secret (set by gateway/web/session.py).
WEB_CLIENT_SECRET = "EYHUB_WEB_CLIENT_SECRET"


def _signature(secret: bytes, address: str) -> str:
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()


def vouch(secret: bytes, address: str) -> str:
    """The header value by which a web page passes on its browser's address."""
    return f"{address} {_signature(secret, address)}"


def client_ip() -> str:
    """The caller's address (ProxyFix has applied EYHUB_TRUSTED_PROXY_HOPS by now), or
    the browser's, when a web page of this gateway vouches for it (else ignored)."""
    claimed = request.headers.get(WEB_CLIENT_HEADER)
    secret = current_app.config.get(WEB_CLIENT_SECRET)
    if claimed and secret:
        address, _, signature = claimed.rpartition(" ")
        if address and hmac.compare_digest(signature, _signature(secret, address)):
            return address
    return request.remote_addr or "unknown"


def _login_email() -> str:
    """The email a login names, as accounts store it ("" when the body has none)."""
    from gateway.operations import normalise_email

    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return normalise_email(email)[:254] if isinstance(email, str) else ""


def login_key() -> str:
    """Per (client IP, email): an attacker on one IP throttles only that pair."""
    return f"{client_ip()}|{_login_email()}"


def login_ip_key() -> str:
    """Per client IP, whatever the email: password spraying across accounts."""
    return f"ip:{client_ip()}"


def login_account_key() -> str:
    """Per email, from every IP: the account's longer back-off."""
    return f"account:{_login_email()}"


def _failed_login(resp: Response) -> bool:
    return resp.status_code == 401


def login_limits(limiter: Limiter) -> Callable[[View], View]:
    """The failed-login limits of ``POST /api/auth/token``, as one decorator.

    Placed where a flask-limiter decorator goes (under the route, above the
    arguments). Before the view runs each limit is only tested; a 401 answer then
    counts against all three (``deduct_when``), so a breach of any one answers 429
    with the Retry-After of the limit breached.
    """

    def settings() -> Settings:
        return runtime().settings

    decorators = (
        limiter.limit(
            lambda: settings().rate_limit_login,
            key_func=login_key,
            scope="login",
            deduct_when=_failed_login,
        ),
        limiter.limit(
            lambda: settings().rate_limit_login_ip,
            key_func=login_ip_key,
            scope="login-ip",
            deduct_when=_failed_login,
        ),
        limiter.limit(
            lambda: settings().rate_limit_login_account,
            key_func=login_account_key,
            scope="login-account",
            deduct_when=_failed_login,
        ),
    )

    def decorate(view: View) -> View:
        for decorator in reversed(decorators):
            view = decorator(view)
        return view

    return decorate


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
        ("EYHUB_RATE_LIMIT_LOGIN_IP", settings.rate_limit_login_ip),
        ("EYHUB_RATE_LIMIT_LOGIN_ACCOUNT", settings.rate_limit_login_account),
        ("EYHUB_RATE_LIMIT_REGISTER", settings.rate_limit_register),
        ("EYHUB_RATE_LIMIT_API", settings.rate_limit_api),
    ):
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{var}={value!r} is not a rate limit like '10/minute'") from exc


#: Paths with their own limits instead of the per-user API limit.
_OWN_LIMITS = frozenset({"/api/auth/token", "/api/auth/register"})


class LocalWindows:
    """Fixed-window counters in this process: the per-user API limit without Redis.

    The same rule as limits' fixed window (a key's window opens at its first hit and
    lasts the limit's period; every hit counts, refused ones too), without limits'
    MemoryStorage, which starts a timer thread on every hit once the previous timer has
    run out: a thread start per proxied call, which cost the gateway as much CPU as the
    whole upstream HTTP call.
    Expired windows are swept at most every SWEEP_SECONDS, inside ``hit``.
    """

    SWEEP_SECONDS = 10.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[int, str], list[float]] = {}  # key → [ends at, hits]
        self._next_sweep = 0.0

    def hit(self, key: tuple[int, str], amount: int, period: float) -> float | None:
        """Count a call: None while within ``amount``, else seconds until the window ends."""
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep:
                self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
                self._next_sweep = now + self.SWEEP_SECONDS
            window = self._windows.get(key)
            if window is None or window[0] <= now:
                window = self._windows[key] = [now + period, 0]
            window[1] += 1
            return None if window[1] <= amount else window[0] - now


def install_api_limit(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """The per-user limit on every API and calendar call, own routes and proxied alike.

    Checked once in ``before_request``: a decorator on every proxied route would
    evaluate the limits twice per request (middleware and decorator), and this sits on
    the hot path of every call. With Redis (several replicas) the counts are the
    limiter's, shared; otherwise they are this process's own (``LocalWindows``).
    """
    items = parse_many(settings.rate_limit_api)
    local = None if settings.redis_url else LocalWindows()

    def over_limit(key: str) -> tuple[RateLimitItem, float] | None:
        for i, item in enumerate(items):
            if local is not None:
                wait = local.hit((i, key), item.amount, item.get_expiry())
                if wait is not None:
                    return item, wait
            elif not limiter.limiter.hit(item, "eyhub-gateway", "api", key):
                reset_at, _ = limiter.limiter.get_window_stats(item, "eyhub-gateway", "api", key)
                return item, reset_at - time.time()
        return None

    @app.before_request
    def _api_limit() -> None:
        path = request.path
        if not path.startswith(("/api/", "/calendar/")) or path in _OWN_LIMITS:
            return
        breach = over_limit(api_key())
        if breach is not None:
            item, left = breach
            wait = max(1, math.ceil(left))
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

    # flask-limiter also runs a before_request check on every request, for default and
    # blueprint limits; there are none here. Login and register carry decorators, which
    # check their own limits when the view is called, so the hook only cost every proxied
    # call its bookkeeping (~45 us of CPU, see README). ValueError here: flask-limiter
    # changed how it hooks in, and the login/register limit tests say whether it matters.
    app.before_request_funcs[None].remove(limiter._check_request_limit)

    install_api_limit(app, limiter, settings)
    return limiter
