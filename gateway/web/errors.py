"""Error pages in the GOV.UK style, for the web pages only.

Inside the web blueprint's views every error is a page (404, 403, 500, an expired form,
a service that did not answer). For URLs no route matches, a browser (``Accept`` names
``text/html``) asking for a path outside the API's prefixes gets the 404/405 page; every
other client keeps the API's problem documents (shared/problems.py).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from gateway.web.base import SignInNeeded, bp, page_headers
from gateway.web.client import ApiError

log = logging.getLogger("eyhub.gateway.web")

#: Paths that belong to the API and machines: their errors stay problem documents.
API_PREFIXES = (
    "/api/",
    "/calendar/",
    "/.well-known/",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/assets/",
)

PAGES = {
    400: ("Sorry, there is a problem with the page", "Go back and try again."),
    403: ("You do not have permission to see this page", "Sign in with a different account."),
    404: (
        "Page not found",
        "If you typed the web address, check it is correct. If you pasted the web address, "
        "check you copied the entire address.",
    ),
    405: ("Page not found", "This page cannot be used in this way."),
    429: ("Sorry, there have been too many requests", "Wait a minute, then try again."),
    500: ("Sorry, there is a problem with the service", "Try again later."),
    503: ("Sorry, the service is unavailable", "Try again in a few minutes."),
}


def error_page(status: int, detail: str | None = None) -> Response:
    title, advice = PAGES.get(status, PAGES[500])
    html = render_template(
        "web/error.html", status=status, title=title, advice=advice, detail=detail
    )
    return page_headers(Response(html, status=status, mimetype="text/html"))


def register(bp: Blueprint) -> None:
    """Handlers for errors raised in the web views; done once, at import, before the
    blueprint is first registered (Flask refuses handlers added later)."""

    @bp.errorhandler(SignInNeeded)
    def _sign_in(_exc: SignInNeeded) -> Any:
        target = request.full_path.rstrip("?") if request.method == "GET" else request.path
        if request.method != "GET":
            target = url_for("web.home")
        return redirect(url_for("web.sign_in", next=target))

    @bp.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError) -> Response:
        return error_page(
            400,
            "The form was open too long or came from another site. Go back, reload the page "
            "and try again.",
        )

    @bp.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        if exc.status >= 500:
            log.warning("API call failed for a page", extra={"status": exc.status})
        status = exc.status if exc.status in PAGES else 500
        return error_page(status, exc.detail if status in (403, 429) else None)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return error_page(exc.code or 500)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error in a page", exc_info=exc)
        return error_page(500)


register(bp)


def _wants_page() -> bool:
    return not request.path.startswith(API_PREFIXES) and "text/html" in request.headers.get(
        "Accept", ""
    )


def install(app: Flask) -> None:
    """404/405 pages for browsers on unknown non-API URLs; others keep the JSON answer."""
    api_handler = app.error_handler_spec[None][None][HTTPException]

    def _not_found(exc: HTTPException) -> Response:
        if _wants_page():
            return error_page(exc.code or 404)
        return api_handler(exc)  # type: ignore[no-any-return]

    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
