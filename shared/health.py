"""Liveness, readiness and metrics endpoints (the same on every component).

``/healthz`` says the process answers; ``/readyz`` says it can do useful work (its
database and the broker answer) and carries the backlog figures operators look at.
Readiness checks are pluggable so messaging and the gateway can add their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from shared import metrics

log = logging.getLogger("eyhub.health")

#: A check returns details (a dict) or raises; raising makes the component not ready.
Check = Callable[[], dict[str, Any] | None]


def health_blueprint() -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        rt = current_app.extensions["eyhub"]
        return jsonify({"status": "ok", "component": rt.component})

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        rt = current_app.extensions["eyhub"]
        checks: dict[str, Any] = {}
        ready = True
        for name, check in rt.readiness_checks:
            try:
                details = check() or {}
                checks[name] = {"ok": True, **details}
            except Exception as exc:  # a probe must answer, whatever broke
                ready = False
                checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        status = 200 if ready else 503
        if not ready:
            log.warning("not ready", extra={"checks": checks})
        body = {"status": "ready" if ready else "not ready", "component": rt.component}
        return jsonify({**body, "checks": checks}), status

    @bp.get("/metrics")
    def prometheus() -> Response:
        data, ctype = metrics.render()
        return Response(data, content_type=ctype)

    return bp
