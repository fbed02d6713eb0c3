"""What every page module shares: the ``web`` blueprint, CSRF, the page headers, the
menu, and ``with_api`` (the signed-in user's client of the public API).

Each area's pages live in a module of their own (``views.py`` for the practitioner's
public journey, ``programme.py``, ``cpd.py``, ``mentoring.py``, ``budget.py``,
``admin.py``) and add their routes to this one blueprint, so every endpoint is
``web.<name>`` and every page gets the same headers, CSRF check and error pages.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, flash, g, redirect, request, url_for
from flask_wtf.csrf import CSRFProtect

from gateway.limits import WEB_CLIENT_SECRET, vouch
from gateway.web import session as signin
from gateway.web.client import Api, ApiError
from gateway.web.formatting import FILTERS
from shared.web import runtime

T = TypeVar("T")

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)
csrf = CSRFProtect()


class SignInNeeded(Exception):
    """The page needs a signed-in user (none, or the session could not be refreshed)."""


# -- the menu ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MenuItem:
    label: str
    endpoint: str
    #: shown to users with any of these roles (empty: to everyone)
    roles: frozenset[str]
    #: the endpoint takes the user's first hub (``/hubs/<hub_id>/...``)
    per_hub: bool
    order: int


MENU: list[MenuItem] = []


def menu_item(
    label: str, endpoint: str, roles: set[str] | None = None, *, per_hub: bool = False, order: int
) -> None:
    """Add a link to the service navigation (each page module adds its own)."""
    MENU.append(MenuItem(label, endpoint, frozenset(roles or ()), per_hub, order))
    MENU.sort(key=lambda m: m.order)


def _menu(user: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    roles = set(user["roles"]) if user else set()
    hubs = list(user.get("hub_ids") or []) if user else []
    out = []
    for item in MENU:
        if item.roles and not (roles & item.roles):
            continue
        if item.per_hub:
            if not hubs:
                continue
            href = url_for(item.endpoint, hub_id=hubs[0])
        else:
            href = url_for(item.endpoint)
        out.append((item.label, href, item.endpoint.removeprefix("web.")))
    return out


# -- plumbing ------------------------------------------------------------------------------
@bp.record_once
def _filters(state: Any) -> None:
    state.app.jinja_env.filters.update(FILTERS)


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def page_headers(resp: Response) -> Response:
    """What every HTML page answers with: its own CSP (GOV.UK Frontend's inline
    bootstrap runs with a nonce), and no caching of pages that may show personal data."""
    if resp.mimetype == "text/html":
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{csp_nonce()}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        )
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.app_context_processor
def _context() -> dict[str, Any]:
    user = signin.user()
    return {
        "current_user": user,
        "csp_nonce": csp_nonce(),
        "navigation": _menu(user),
        "active_page": (request.endpoint or "").removeprefix("web."),
        "new_form_id": new_form_id,
    }


@bp.before_request
def _protect() -> None:
    if request.method == "POST":
        csrf.protect()


bp.after_request(page_headers)


def base_api() -> Api:
    """Calls on behalf of this browser: its address goes along, vouched for, so the
    API's per-IP limits count the person, not the gateway (gateway/limits.py)."""
    secret = current_app.config[WEB_CLIENT_SECRET]
    client = vouch(secret, request.remote_addr or "unknown")
    return Api(runtime().settings.gateway_url, None, g.get("request_id"), client)


def user_api(required: bool) -> Api:
    base = base_api()
    token = signin.access_token(base)
    if token is None and required:
        raise SignInNeeded
    return base.with_token(token)


def with_api(fn: Callable[[Api], T], *, required: bool = True) -> T:
    """Run ``fn`` with the user's API client; on a 401, refresh the tokens once and retry
    (an access token can stop working early: a role change, a sign-out everywhere)."""
    api = user_api(required)
    try:
        return fn(api)
    except ApiError as exc:
        if exc.status != 401 or api.token is None:
            raise
    if not signin.refresh(base_api()):
        raise SignInNeeded
    return fn(user_api(True))


def safe_next(target: str | None) -> str:
    """Only a path on this site: where to go after signing in. No //host or /\\host,
    and no control characters or backslashes anywhere (browsers drop tabs and newlines
    from URLs, so "/<tab>/evil.example" would become "//evil.example")."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("web.home")


def field_errors(errors: list[dict[str, str]]) -> dict[str, str]:
    return {e["field"]: e["text"] for e in errors}


def api_field_errors(exc: ApiError, fields: dict[str, str]) -> list[dict[str, str]]:
    """The API's 422 ``errors`` as error-summary entries for the form's fields."""
    out = []
    for name, messages in exc.errors.items():
        text = messages[0] if isinstance(messages, list) and messages else str(messages)
        out.append({"field": fields.get(name, next(iter(fields.values()))), "text": str(text)})
    return out or [{"field": next(iter(fields.values())), "text": exc.detail}]


def download(path: str, filename: str, accept: str = "text/csv", **params: Any) -> Response:
    """An API export (e.g. ``?format=csv``) handed to the browser as a file to save, with
    the API's own bytes (its formula-safe cells) and file name when it gives one
    (``filename`` otherwise), never cached."""
    answer = with_api(lambda api: api.download(path, accept, **params))
    disposition = answer.headers.get("Content-Disposition", "")
    resp = Response(answer.content, content_type=answer.headers.get("Content-Type", accept))
    resp.headers["Content-Disposition"] = (
        disposition
        if disposition.startswith("attachment")
        else f'attachment; filename="{filename}"'
    )
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- forms that create things: once ------------------------------------------------------
#: How many submitted forms a browser session remembers (the newest).
DONE_FORMS_KEPT = 5  # the cookie also carries the tokens: keep it small


def new_form_id() -> str:
    """An id for a form that creates something, drawn with it (hidden ``form_id``)."""
    return uuid.uuid4().hex


def done_before(form_id: str) -> str | None:
    """Where a form already submitted went (a double click, Back and submit again, a
    retry after a lost answer): the page to show instead of creating it twice."""
    done = signin.session.get("done_forms") or {}
    return str(done[form_id]) if form_id and form_id in done else None


def remember_done(form_id: str, where: str) -> None:
    """Note that ``form_id`` created what ``where`` shows (kept in the signed session)."""
    if not form_id:
        return
    done = dict(signin.session.get("done_forms") or {})
    done[form_id] = where
    signin.session["done_forms"] = dict(list(done.items())[-DONE_FORMS_KEPT:])


def revoke_calendar_link(api_path: str, back: str) -> Any:
    """Turn a calendar link off (an already-gone one counts as off) and go back to the
    page's calendar section: My bookings and a mentor's caseload do the same."""
    try:
        with_api(lambda api: api.delete(api_path))
    except ApiError as exc:
        if exc.status != 404:
            raise
    flash("The calendar link is turned off. Calendars using it will stop updating.", "success")
    return redirect(url_for(back) + "#calendar")
