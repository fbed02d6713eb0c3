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
- keeps warm keep-alive connections to each service (one urllib3 pool per service, as
  large as the gateway's thread count), with connect and read timeouts;
- retries an idempotent method once when the connection fails;
- keeps a circuit breaker per service (pybreaker): while open, it answers 503 at once
  instead of letting requests pile up on a dead service;
- streams large or unsized bodies (CSV exports, calendar feeds) through untouched
  (still compressed if the service compressed them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pybreaker
import requests
import urllib3
from flask import Flask, Response, g, request
from prometheus_client import Counter, Gauge
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)

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
#: Request headers the client may not set: the gateway states them itself, or no one does
#: (X-Request-ID is forwarded as the kernel validated it, in ``g.request_id``).
_CLIENT_STRIPPED = frozenset({"host", "content-length", "forwarded", "x-real-ip", "x-request-id"})
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


class UpstreamSession:
    """Pooled keep-alive connections to the services, straight on urllib3.

    One pool per service origin. A pool keeps at most ``maxsize`` idle connections: at
    least the gateway's thread count (4 per EYHUB_WEB_THREADS under ``eyhub serve``, see
    ``eyhub/serving.py``), else threads would open connections the pool then discards;
    connections open only on demand, so a large size costs nothing.

    Not ``requests``: its per-call machinery (request preparation, hooks, cookie jar,
    environment merging) doubled the client-side CPU of every proxied call, and the
    proxy needs none of it (it keeps no cookies and follows no redirects). Failures are
    raised as ``requests`` exceptions (``ConnectTimeout``, ``ConnectionError``,
    ``ReadTimeout``), the vocabulary the proxy and its breaker speak.
    """

    def __init__(self, settings: Settings) -> None:
        self.maxsize = max(64, settings.web_threads * 4)
        self.timeout = urllib3.Timeout(
            connect=settings.upstream_connect_timeout, read=settings.upstream_read_timeout
        )
        self._pools: dict[str, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, origin: str) -> urllib3.HTTPConnectionPool:
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    pool = urllib3.connection_from_url(
                        origin, maxsize=self.maxsize, block=False, retries=False
                    )
                    self._pools[origin] = pool
        return pool

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: urllib3.Timeout | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; the body is left unread (``read``/``stream``, then released)."""
        parts = urlsplit(url)
        target = url[len(parts.scheme) + 3 + len(parts.netloc) :] or "/"
        pool = self._pool(f"{parts.scheme}://{parts.netloc}")
        try:
            return pool.urlopen(
                method,
                target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout or self.timeout,
                preload_content=False,
                decode_content=False,
            )
        except NewConnectionError as exc:  # refused, unreachable (subclass of the next)
            raise requests.ConnectionError(str(exc)) from exc
        except ConnectTimeoutError as exc:
            raise requests.ConnectTimeout(str(exc)) from exc
        except ReadTimeoutError as exc:
            raise requests.ReadTimeout(str(exc)) from exc
        except HTTPError as exc:  # reset, closed before answering, protocol errors
            raise requests.ConnectionError(str(exc)) from exc

    def get_json(self, url: str, timeout: urllib3.Timeout) -> Any:
        """A small JSON document (the services' OpenAPI); ValueError unless 200 JSON."""
        resp = self.request("GET", url, headers={"Accept": "application/json"}, timeout=timeout)
        try:
            data = resp.read(decode_content=True)
        except HTTPError as exc:
            raise requests.ConnectionError(str(exc)) from exc
        finally:
            release(resp)
        if resp.status != 200:
            raise ValueError(f"{url} answered {resp.status}")
        return json.loads(data)


def release(resp: urllib3.BaseHTTPResponse) -> None:
    """Give an answer's connection back to its pool.

    urllib3 already did if the body was read to its end; otherwise part of it is unread,
    so the connection cannot carry another request and is closed first.
    """
    if resp.connection is None:
        return
    resp.close()
    resp.release_conn()


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
        # Every service's series exists from the start (0: closed): the gateway's
        # /readyz no longer reflects the services (gateway/readiness.py), so this gauge
        # is what dashboards and alerts watch, and an absent series would read as fine.
        CIRCUIT_OPEN.labels(name).set(0)

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
        if error is None:
            # A success while closed with no failure counted changes nothing: skip
            # pybreaker's locked state machine on the hot path.
            breaker = self.breaker
            if breaker.current_state == pybreaker.STATE_CLOSED and breaker.fail_counter == 0:
                return
        else:
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
        self.session = UpstreamSession(settings)
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
        headers: dict[str, str] = {}
        connection = request.headers.get("Connection")
        connection_named = (
            {h.strip().lower() for h in connection.split(",")} if connection else frozenset()
        )
        for key, value in request.headers.items():
            low = key.lower()
            if (
                low in HOP_BY_HOP
                or low in _CLIENT_STRIPPED
                or low.startswith(_STRIPPED_PREFIXES)
                or low in connection_named
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

    def _send(
        self, upstream: Upstream, method: str, url: str, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                return self.session.request(method, url, **kw)
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
                upstream, request.method, url, headers=self._request_headers(), body=body
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
        return self._response(upstream, resp, url)

    # -- response side ---------------------------------------------------------------
    def _response(self, upstream: Upstream, resp: urllib3.BaseHTTPResponse, url: str) -> Response:
        connection = resp.headers.get("Connection")
        connection_named = (
            {h.strip().lower() for h in connection.split(",")} if connection else frozenset()
        )
        headers: list[tuple[str, str]] = []
        has_type = False
        for k, v in resp.headers.items():
            low = k.lower()
            if low in HOP_BY_HOP or low in _RESPONSE_STRIPPED or low in connection_named:
                continue
            has_type = has_type or low == "content-type"
            headers.append((k, v))
        length = resp.headers.get("Content-Length")
        status = resp.status
        bodiless = request.method == "HEAD" or status in (204, 304)
        if bodiless or (length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT):
            try:
                data = resp.read(decode_content=False)  # b"" when bodiless
            except Exception as exc:
                release(resp)
                upstream.record(requests.ConnectionError(str(exc)))
                raise upstream.unavailable("the response was cut off") from exc
            release(resp)  # read to the end: the connection goes back to the pool
            out = Response(b"" if bodiless else data, status=status, headers=headers)
            if request.method == "HEAD" and length is not None:
                out.headers["Content-Length"] = length
        else:
            if length is not None:
                headers.append(("Content-Length", length))
            out = Response(_stream(resp, url), status=status, headers=headers)
        if not has_type:
            out.headers.pop("Content-Type", None)
        return out


def _stream(resp: urllib3.BaseHTTPResponse, url: str) -> Iterator[bytes]:
    try:
        yield from resp.stream(CHUNK, decode_content=False)
    except Exception:  # the client already has the status line: all we can do is stop
        path = scrub_path(urlsplit(url).path)  # feed tokens never reach the logs
        log.warning("upstream stream broken", extra={"path": path}, exc_info=True)
    finally:
        release(resp)


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
