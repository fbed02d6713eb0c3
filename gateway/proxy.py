"""The reverse proxy: an explicit route table from public paths to services.

Path convention: a service sees the same path the client used. The catalogue serves
``/api/catalogue/sessions`` at ``/api/catalogue/sessions`` on its own port (services
register their blueprints under their public prefix), so nothing is rewritten and a
service's own OpenAPI document already carries public paths.

For each request the proxy:

- strips hop-by-hop headers both ways, and every client-sent identity or forwarding
  header (``X-User-*``, ``X-Forwarded-*``, ``Forwarded``, ``X-Real-IP``), then sets
  ``X-Forwarded-For/Proto/Host`` itself and forwards ``X-Request-ID``; the
  ``Authorization`` header goes through unchanged (services verify the token);
- pools connections (one ``requests.Session``), with connect and read timeouts;
- retries an idempotent method once when the connection fails;
- keeps a circuit breaker per service (pybreaker): while open, it answers 503 at once
  instead of letting requests pile up on a dead service;
- streams large or unsized bodies (CSV exports, calendar feeds) through untouched
  (still compressed if the service compressed them).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pybreaker
import requests
from flask import Flask, Response, g, request
from prometheus_client import Counter, Gauge
from requests.adapters import HTTPAdapter

from shared.config import SERVICES, Settings
from shared.problems import Problem
from shared.web import scrub_path

log = logging.getLogger("eyhub.gateway.proxy")

CIRCUIT_OPEN = Gauge(
    "eyhub_gateway_circuit_open", "1 while the circuit to a service is open", ["service"]
)
UPSTREAM_FAILURES = Counter(
    "eyhub_gateway_upstream_failures_total",
    "Requests to a service that failed (refused, timed out, cut off)",
    ["service"],
)

#: Public path prefix → the service that owns it. Longest prefixes are not needed:
#: the prefixes do not overlap.
ROUTES: tuple[tuple[str, str], ...] = (
    *((f"/api/{s}", s) for s in SERVICES),
    ("/calendar/hubs", "catalogue"),
    ("/calendar/feeds", "bookings"),
    ("/calendar/mentoring", "mentoring"),
)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers the client may not set: the gateway states them itself, or no one does.
_CLIENT_STRIPPED = frozenset({"host", "content-length", "forwarded", "x-real-ip"})
_STRIPPED_PREFIXES = ("x-user-", "x-forwarded-", "x-identity-", "x-auth-")
#: Response headers the gateway's own server sets.
_RESPONSE_STRIPPED = frozenset({"date", "server", "content-length"})
#: Bodies up to this size are read whole (frees the upstream connection at once).
BUFFER_LIMIT = 256 * 1024
CHUNK = 64 * 1024


def route_for(path: str) -> str | None:
    for prefix, service in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The pooled session is shared by every caller: it must never keep a cookie."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def new_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy/netrc lookups per request
    session.headers.clear()  # forward the client's headers, not requests' defaults
    session.cookies.set_policy(_NoCookies())
    adapter = HTTPAdapter(
        pool_connections=len(SERVICES),
        pool_maxsize=max(10, settings.web_threads * 2),
        max_retries=0,  # our own retry: only idempotent methods, only connect errors
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Upstream(pybreaker.CircuitBreakerListener):
    """One service behind the gateway, with its circuit breaker.

    pybreaker's ``call`` holds the breaker's lock for the whole guarded call, which
    would serialise every request to a service. So the HTTP call runs outside it:
    ``admit`` refuses while the circuit is open, and the outcome is then replayed
    through ``breaker.call`` (instant) so pybreaker counts failures, opens, half-opens
    and closes as usual. While half-open several requests may probe at once.
    """

    def __init__(self, name: str, base_url: str, settings: Settings) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.reset_seconds = settings.breaker_reset_seconds
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_seconds,
            name=name,
            listeners=[self],
        )
        self._opened_at = 0.0
        self._lock = threading.Lock()

    # -- pybreaker listener ----------------------------------------------------
    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            with self._lock:
                self._opened_at = time.monotonic()
            CIRCUIT_OPEN.labels(self.name).set(1)
            log.warning("circuit opened", extra={"upstream": self.name})
        elif new_state.name == pybreaker.STATE_CLOSED and old_state is not None:
            CIRCUIT_OPEN.labels(self.name).set(0)
            log.info("circuit closed", extra={"upstream": self.name})

    # -- gate and record ---------------------------------------------------------
    def retry_after(self) -> int:
        with self._lock:
            left = self.reset_seconds - (time.monotonic() - self._opened_at)
        return max(1, int(left + 0.999))

    def admit(self) -> None:
        if self.breaker.current_state == pybreaker.STATE_OPEN:
            with self._lock:
                waiting = time.monotonic() - self._opened_at < self.reset_seconds
            if waiting:
                raise self.unavailable("its circuit breaker is open after repeated failures")

    def record(self, error: BaseException | None) -> None:
        if error is not None:
            UPSTREAM_FAILURES.labels(self.name).inc()

        def replay() -> None:
            if error is not None:
                raise error

        with contextlib.suppress(pybreaker.CircuitBreakerError, requests.RequestException):
            self.breaker.call(replay)

    def unavailable(self, why: str) -> Problem:
        return Problem(
            503,
            "Service unavailable",
            f"The {self.name} service is unavailable ({why}); try again shortly.",
            kind="upstream-unavailable",
            headers={"Retry-After": str(self.retry_after() if self.is_open else 5)},
        )

    @property
    def is_open(self) -> bool:
        return self.breaker.current_state == pybreaker.STATE_OPEN


class Proxy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = new_session(settings)
        self.timeout = (settings.upstream_connect_timeout, settings.upstream_read_timeout)
        self.upstreams = {s: Upstream(s, settings.service_url(s), settings) for s in SERVICES}

    # -- request side --------------------------------------------------------------
    @staticmethod
    def _target_path() -> str:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
        if raw.startswith("/"):
            return raw
        path = quote(request.path, safe="/:@!$&'()*+,;=-._~")
        qs = request.environ.get("QUERY_STRING", "")
        return f"{path}?{qs}" if qs else path

    @staticmethod
    def _request_headers() -> dict[str, str]:
        connection_named = {
            h.strip().lower() for h in request.headers.get("Connection", "").split(",") if h.strip()
        }
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            low = key.lower()
            if (
                low in HOP_BY_HOP
                or low in connection_named
                or low in _CLIENT_STRIPPED
                or low.startswith(_STRIPPED_PREFIXES)
            ):
                continue
            headers[key] = value
        headers["X-Forwarded-For"] = request.remote_addr or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        rid = g.get("request_id")
        if rid:
            headers["X-Request-ID"] = rid
        return headers

    def _send(self, upstream: Upstream, method: str, url: str, **kw: Any) -> requests.Response:
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                return self.session.request(
                    method, url, stream=True, allow_redirects=False, timeout=self.timeout, **kw
                )
            except requests.ConnectionError:
                if attempt + 1 >= attempts:
                    raise
                log.info("retrying after connect error", extra={"upstream": upstream.name})
        raise AssertionError("unreachable")

    def forward(self, service: str) -> Response:
        upstream = self.upstreams[service]
        upstream.admit()
        body = request.get_data(cache=False) if request.method not in ("GET", "HEAD") else None
        url = upstream.base_url + self._target_path()
        try:
            resp = self._send(
                upstream, request.method, url, headers=self._request_headers(), data=body
            )
        except requests.ConnectTimeout as exc:
            upstream.record(exc)
            raise upstream.unavailable("it did not accept the connection in time") from exc
        except requests.ConnectionError as exc:
            upstream.record(exc)
            raise upstream.unavailable("it refused the connection") from exc
        except requests.Timeout as exc:
            upstream.record(exc)
            raise Problem(
                504,
                "Gateway timeout",
                f"The {service} service did not answer in time.",
                kind="upstream-timeout",
            ) from exc
        upstream.record(None)
        return self._response(upstream, resp)

    # -- response side ---------------------------------------------------------------
    def _response(self, upstream: Upstream, resp: requests.Response) -> Response:
        connection_named = {
            h.strip().lower() for h in resp.headers.get("Connection", "").split(",") if h.strip()
        }
        headers = [
            (k, v)
            for k, v in resp.raw.headers.items()
            if k.lower() not in HOP_BY_HOP
            and k.lower() not in connection_named
            and k.lower() not in _RESPONSE_STRIPPED
        ]
        length = resp.headers.get("Content-Length")
        if request.method == "HEAD" or resp.status_code in (204, 304):
            resp.close()
            out = Response(b"", status=resp.status_code, headers=headers)
            if request.method == "HEAD" and length is not None:
                out.headers["Content-Length"] = length
        elif length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT:
            try:
                data = resp.raw.read(decode_content=False)
            except Exception as exc:
                resp.close()
                upstream.record(requests.ConnectionError(str(exc)))
                raise upstream.unavailable("the response was cut off") from exc
            out = Response(data, status=resp.status_code, headers=headers)
        else:
            if length is not None:
                headers.append(("Content-Length", length))
            out = Response(_stream(resp), status=resp.status_code, headers=headers)
        if "content-type" not in {k.lower() for k, _ in headers}:
            out.headers.pop("Content-Type", None)
        return out


def _stream(resp: requests.Response) -> Iterator[bytes]:
    try:
        yield from resp.raw.stream(CHUNK, decode_content=False)
    except Exception:  # the client already has the status line: all we can do is stop
        path = scrub_path(urlsplit(resp.url).path)  # feed tokens never reach the logs
        log.warning("upstream stream broken", extra={"path": path}, exc_info=True)
    finally:
        resp.close()


def install(app: Flask, proxy: Proxy, decorate: Any = None) -> None:
    """Add one URL rule pair per route table entry (prefix and prefix/...)."""
    for prefix, service in ROUTES:

        def view(service: str = service, **_: Any) -> Response:
            return proxy.forward(service)

        view.__name__ = f"proxy_{service}_{prefix.strip('/').replace('/', '_')}"
        view.__qualname__ = view.__name__
        func = decorate(view) if decorate else view
        endpoint = view.__name__
        app.add_url_rule(prefix, endpoint, func, methods=METHODS, strict_slashes=False)
        app.add_url_rule(f"{prefix}/<path:rest>", endpoint, func, methods=METHODS)
