"""RFC 9457 problem documents for every error a component answers.

Every error leaves as ``application/problem+json``: clients (and the gateway) never
see an HTML error page, and bad input never turns into a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from marshmallow import Schema, fields
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from shared.db import is_lock_unavailable

log = logging.getLogger("eyhub.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Seconds a client should wait after a lock timeout: long enough for a jam to clear,
#: short enough that a person retrying by hand does not notice.
LOCK_RETRY_AFTER = 2


class ProblemSchema(Schema):
    """What every error body looks like (documented in each OpenAPI spec)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document.

    ``kind`` becomes the problem ``type`` (``urn:eyhub:problem:<kind>``), so clients
    can branch on it without parsing English.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = headers or {}


def unauthorized(detail: str, *, invalid_token: bool = False) -> Problem:
    """401 with the ``WWW-Authenticate`` challenge (RFC 6750); ``invalid_token`` tells a
    client its token was refused (sign in again), not that it sent none."""
    challenge = 'Bearer realm="eyhub"' + (', error="invalid_token"' if invalid_token else "")
    return Problem(
        401,
        "Authentication required",
        detail,
        kind="unauthenticated",
        headers={"WWW-Authenticate": challenge},
    )


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    kind: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:eyhub:problem:{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _flatten_webargs_messages(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {"field": [...]}}); clients want fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict[str, Any] = {}
    for location, errs in messages.items():
        if isinstance(errs, dict):
            for key, value in errs.items():
                name = str(key) if location in ("json", "form", "files") else f"{location}.{key}"
                flat[name] = value
        else:
            flat[str(location)] = errs
    return flat


_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = None
    if "messages" in data:
        errors = _flatten_webargs_messages(data["messages"])
    detail = data.get("message") if isinstance(data, dict) else None
    if detail is None and exc.description and status != 404:
        detail = exc.description
    if status == 404 and detail is None:
        detail = "No resource at this URL."
    if status == 422 and errors and not detail:
        detail = "Some fields are missing or invalid; see errors."
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    if isinstance(data, dict) and data.get("headers"):
        headers.update(data["headers"])
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return problem_response(
        status,
        _TITLES.get(status, exc.name or "Error"),
        detail,
        kind="validation" if status == 422 else None,
        errors=errors,
        headers=headers,
    )


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _from_http_exception(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return _from_http_exception(exc)
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            500, "Internal server error", "Something went wrong on our side; it was logged."
        )

    @app.errorhandler(OperationalError)
    def _database(exc: OperationalError) -> Response:
        """A lock not granted within the database's lock timeout (``shared/db.py``) is
        load, not a bug: the request gave up instead of holding a worker thread, and the
        same request succeeds later. Anything else is a 500."""
        if not is_lock_unavailable(exc):
            return _unexpected(exc)
        log.warning("database lock not granted in time", extra={"error": str(exc.orig)})
        return problem_response(
            503,
            _TITLES[503],
            "The service is busy; retry shortly.",
            kind="database-busy",
            headers={"Retry-After": str(LOCK_RETRY_AFTER)},
        )
