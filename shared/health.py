"""Liveness, readiness and metrics endpoints (the same on every component).

``/healthz`` says the process answers; ``/readyz`` says it can do useful work (its
database and the broker answer) and carries the backlog figures operators look at.
Readiness checks are pluggable so messaging and the gateway can add their own.

``/readyz`` is what a load balancer or an orchestrator polls, so it reports only this
component's own state. Checks of what it depends on elsewhere (the gateway's services)
are *deep* checks, run only for ``/readyz?deep=1``: otherwise one slow service would
take every replica of the component that calls it out of rotation at once.

``/metrics`` needs ``Authorization: Bearer <EYHUB_METRICS_TOKEN>``, and is not served
at all without that setting: the gateway's port is public, and its figures (routes,
error rates, backlogs) are for the operators' Prometheus, not for everyone.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from shared import metrics
from shared.problems import Problem

log = logging.getLogger("eyhub.health")

#: A check returns details (a dict) or raises; raising makes the component not ready.
Check = Callable[[], dict[str, Any] | None]

#: Key in ``Runtime.extras`` of the deep checks (``add_deep_check``).
DEEP_CHECKS = "deep_readiness_checks"


class NotReady(Exception):
    """What a check raises to say why it fails *and* show its details (e.g. which of the
    gateway's services are down), which a bare exception's message would flatten."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


def add_deep_check(rt: Any, name: str, check: Check) -> None:
    """Register a check that runs only for ``/readyz?deep=1`` (``rt``: the component's
    ``shared.web.Runtime``)."""
    rt.extras.setdefault(DEEP_CHECKS, []).append((name, check))


def _wants_deep() -> bool:
    return request.args.get("deep", "").strip().lower() in ("1", "true", "yes", "on")


def _run(checks: list[tuple[str, Check]]) -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    ready = True
    for name, check in checks:
        try:
            details = check() or {}
            results[name] = {"ok": True, **details}
        except NotReady as exc:
            ready = False
            results[name] = {"ok": False, "error": str(exc)[:300], **exc.details}
        except Exception as exc:  # a probe must answer, whatever broke
            ready = False
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return ready, results


def require_metrics_token(expected: str | None) -> None:
    """404 while no token is configured, 401 unless the request carries it."""
    if expected is None:
        raise Problem(
            404,
            "Not found",
            "Metrics are served only with EYHUB_METRICS_TOKEN set.",
            kind="not-found",
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise Problem(
            401,
            "Authentication required",
            "Send the metrics token: Authorization: Bearer <EYHUB_METRICS_TOKEN>.",
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="eyhub-metrics"'},
        )


def health_blueprint() -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        rt = current_app.extensions["eyhub"]
        return jsonify({"status": "ok", "component": rt.component})

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        rt = current_app.extensions["eyhub"]
        deep = _wants_deep()
        checks = list(rt.readiness_checks)
        if deep:
            checks += rt.extras.get(DEEP_CHECKS, [])
        ready, results = _run(checks)
        status = 200 if ready else 503
        if not ready:
            log.warning("not ready", extra={"checks": results, "deep": deep})
        body = {"status": "ready" if ready else "not ready", "component": rt.component}
        return jsonify({**body, "deep": deep, "checks": results}), status

    @bp.get("/metrics")
    def prometheus() -> Response:
        require_metrics_token(current_app.extensions["eyhub"].settings.metrics_token)
        data, ctype = metrics.render()
        return Response(data, content_type=ctype)

    return bp
