"""The Flask app factory every component builds on.

``create_component_app`` gives a service, in one call, what every component owes its
clients (docs/architecture.md, "The HTTP contract"): problem documents for every error,
request ids, JSON access logs, health, readiness and metrics, OpenAPI at
``/openapi.json`` via flask-smorest, a size limit on request bodies, and a guard on
JSON bodies (``check_json_body``). A service adds its blueprints and its own readiness
checks.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_smorest import Api, Blueprint

from shared import metrics
from shared.config import Settings, load_settings
from shared.db import Database
from shared.fields import is_utf8
from shared.health import Check, health_blueprint
from shared.logs import configure_logging, correlation_id_var, request_id_var
from shared.messaging import broker
from shared.messaging.runtime import install_web
from shared.problems import Problem, ProblemSchema, register_problem_handlers

access_log = logging.getLogger("eyhub.access")

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
#: Secrets that may travel in a path (calendar feed tokens) are scrubbed from logs.
_SECRET_PATHS = re.compile(r"(/calendar/(?:feeds|mentoring)/)[^/]+")
#: A JSON escape of a UTF-16 surrogate (\\ud800-\\udfff): the cheap sign that a body may
#: hold a lone one, which no UTF-8 column, header or hash can take.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: Deeper than any body the API takes (attendance records are 3 levels); far shallower
#: than the recursion limit the JSON parser and marshmallow run into.
MAX_JSON_DEPTH = 32


class EyhubApi(Api):
    """flask-smorest's Api, documenting our problem document as the error body."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:  # ours are registered by the factory
        return None


@dataclass
class Runtime:
    """What a component's request handlers need: settings, its database, its checks."""

    component: str
    settings: Settings
    db: Database
    readiness_checks: list[tuple[str, Check]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def runtime() -> Runtime:
    return current_app.extensions["eyhub"]


def current_db() -> Database:
    return runtime().db


def scrub_path(path: str) -> str:
    return _SECRET_PATHS.sub(r"\1[redacted]", path)


def _install_request_ids(app: Flask, component: str) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        rid = given if _REQUEST_ID_OK.match(given) else str(uuid.uuid4())
        g.request_id = rid
        g.started = time.perf_counter()
        g.log_tokens = (request_id_var.set(rid), correlation_id_var.set(rid))

    @app.after_request
    def _finish(resp: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            resp.headers["X-Request-ID"] = rid
        started = g.get("started")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        if started is not None:
            elapsed = time.perf_counter() - started
            status = resp.status_code
            metrics.HTTP_REQUESTS.labels(component, request.method, endpoint, status).inc()
            metrics.HTTP_LATENCY.labels(component, request.method, endpoint).observe(elapsed)
            if endpoint not in ("/healthz", "/readyz", "/metrics"):
                access_log.info(
                    "%s %s %s",
                    request.method,
                    scrub_path(request.path),
                    resp.status_code,
                    extra={
                        "method": request.method,
                        "path": scrub_path(request.path),
                        "status": resp.status_code,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
        return resp

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        tokens = g.pop("log_tokens", None)
        if tokens:
            request_id_var.reset(tokens[0])
            correlation_id_var.reset(tokens[1])


def check_json_body(raw: bytes) -> str | None:
    """Why a JSON body is refused (a lone surrogate, nesting deeper than MAX_JSON_DEPTH),
    or None.

    Every request with a JSON body passes here, so the common case costs two byte scans:
    the body is parsed only when it holds a surrogate escape or more brackets than
    MAX_JSON_DEPTH. What is not JSON at all is left to the parser's own 400.
    """
    if not (_SURROGATE_ESCAPE.search(raw) or raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH):
        return None
    try:
        doc = json.loads(raw)
    except RecursionError:
        return f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
    except ValueError:
        return None
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not is_utf8(node):
                return "The body holds a lone surrogate (\\ud800-\\udfff), which is not text."
        elif isinstance(node, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
            items = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((item, depth + 1) for item in items)
    return None


def _install_json_guard(app: Flask) -> None:
    """Refuse, as a 400 problem, the JSON bodies that would otherwise end in a 500 deep
    inside a handler: a lone surrogate (UnicodeEncodeError at a header, a hash or the
    database) or very deep nesting (RecursionError in the parser or the schema).

    Runs before every other hook but the request id, so the login rate limit's key and
    the gateway's proxy never see such a body. The body is read once and cached for
    the request's own parser.
    """

    @app.before_request
    def _guard_json() -> None:
        if not request.is_json:
            return
        reason = check_json_body(request.get_data(cache=True))
        if reason:
            raise Problem(400, "Bad request", reason, kind="invalid-json")


def _security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp


def create_component_app(
    component: str,
    *,
    title: str,
    migrations: Path | None = None,
    description: str = "",
    settings: Settings | None = None,
    blueprints: Iterable[Blueprint] = (),
    readiness_checks: Iterable[tuple[str, Check]] = (),
    configure: Callable[[Flask, Runtime], None] | None = None,
) -> Flask:
    """Build a component's Flask app with the whole kernel wired in.

    ``migrations``: the component's own Alembic folder, applied (after the kernel's
    tables) at start when ``settings.should_migrate_at_start``.
    """
    settings = settings or load_settings()
    configure_logging(component, settings.log_level)
    if settings.should_migrate_at_start(component):
        from shared.migrations import upgrade

        upgrade(component, settings, migrations)

    app = Flask(component)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE=title,
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": description or title}},
        JSON_SORT_KEYS=False,
    )
    db = Database(
        settings.database_url(component),
        name=component,
        lock_timeout=settings.lock_timeout_seconds,
    )
    rt = Runtime(component=component, settings=settings, db=db)
    rt.readiness_checks.append(("database", lambda: db.ping() or {"dialect": db.dialect}))
    rt.readiness_checks.append(("broker", lambda: broker.ping(settings)))
    rt.readiness_checks.append(install_web(component, db))
    rt.readiness_checks.extend(readiness_checks)
    app.extensions["eyhub"] = rt

    register_problem_handlers(app)
    _install_request_ids(app, component)
    _install_json_guard(app)
    _security_headers(app)
    app.register_blueprint(health_blueprint())

    api = EyhubApi(app)
    rt.extras["api"] = api
    for bp in blueprints:
        api.register_blueprint(bp)
    if configure:
        configure(app, rt)
    return app
