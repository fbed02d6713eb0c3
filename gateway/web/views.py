"""The pages: home, sign in/out, register, find training, a session, my bookings.

Each view reads what it shows from the public API (``client.Api``) in one round of calls
(``client.parallel`` where a page needs several), and each form posts here, then to the
API, then redirects (post/redirect/get) with a one-off message, or shows the page again
with a GOV.UK error summary and inline messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)

from gateway.web import session as signin
from gateway.web.base import (
    SignInNeeded,
    api_field_errors,
    base_api,
    bp,
    csrf,
    download,
    field_errors,
    menu_item,
    revoke_calendar_link,
    safe_next,
    user_api,
    with_api,
)
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import (
    FORMATS,
    KINDS,
    SETTING_LABELS,
    TOPIC_LABELS,
    next_day,
    now_utc,
    parse_utc,
)
from gateway.web.forms import date_range, london_utc

__all__ = ["bp", "csrf"]

PAGE_SIZE = 10
#: Bookings that no longer hold or wait for a place.
ENDED = frozenset({"cancelled", "funding_declined"})
CANCELLABLE = frozenset(
    {"pending_payment", "pending_funding", "confirmed", "waitlisted", "offered"}
)

menu_item("Find training", "web.find_training", order=10)
menu_item("My bookings", "web.my_bookings", {"practitioner", "mentor", "hub_lead"}, order=20)


# -- home ----------------------------------------------------------------------------------
@bp.route("/")
def home() -> str:
    page = with_api(lambda api: api.get("/api/catalogue/sessions", limit=5), required=False)
    return render_template("web/home.html", sessions=page.get("items", []))


# -- sign in, sign out, register -----------------------------------------------------------
@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_url = safe_next(request.values.get("next"))
    errors: list[dict[str, str]] = []
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        if not email:
            errors.append({"field": "email", "text": "Enter your email address"})
        if not password:
            errors.append({"field": "password", "text": "Enter your password"})
        if not errors:
            try:
                tokens = base_api().post(
                    "/api/auth/token", json={"email": email, "password": password}
                )
            except ApiError as exc:
                if exc.status == 401:
                    errors.append(
                        {"field": "email", "text": "Enter a correct email address and password"}
                    )
                elif exc.status == 429:
                    minutes = max(1, -(-(exc.retry_after or 60) // 60))
                    errors.append(
                        {
                            "field": "email",
                            "text": f"Too many attempts to sign in. Try again in "
                            f"{minutes} minute{'s' if minutes != 1 else ''}",
                        }
                    )
                else:
                    errors += api_field_errors(exc, {"email": "email", "password": "password"})
            else:
                signin.start(tokens)
                return redirect(next_url)
    status = 400 if errors else 200
    return (
        render_template(
            "web/sign_in.html",
            errors=errors,
            by_field=field_errors(errors),
            email=email,
            next_url=request.values.get("next", ""),
        ),
        status,
    )


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Any:
    refresh_token = signin.session.get("refresh_token")
    if signin.user() is not None:
        try:
            api = user_api(False)
            if api.token:
                api.post("/api/auth/logout", json={"refresh_token": refresh_token})
        except ApiError:
            pass  # signed out here whatever the API said; the tokens expire anyway
    signin.end()
    flash("You have signed out.", "success")
    return redirect(url_for("web.home"))


REGISTER_FIELDS = {
    "name": "name",
    "email": "email",
    "password": "password",
    "setting_type": "setting_type",
    "setting_name": "setting_name",
}


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    errors: list[dict[str, str]] = []
    form = {k: request.form.get(k, "").strip() for k in ("name", "email", "setting_name")}
    form["setting_type"] = request.form.get("setting_type", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        if not form["name"]:
            errors.append({"field": "name", "text": "Enter your full name"})
        if not form["email"]:
            errors.append({"field": "email", "text": "Enter your email address"})
        if len(password) < 8:
            errors.append({"field": "password", "text": "Password must be 8 characters or more"})
        if form["setting_type"] not in SETTING_LABELS:
            errors.append({"field": "setting_type", "text": "Select where you work"})
        if not errors:
            body = {**form, "password": password}
            if not body["setting_name"]:
                body.pop("setting_name")
            try:
                answer = base_api().post("/api/auth/register", json=body)
            except ApiError as exc:
                if exc.status == 429:
                    errors.append(
                        {"field": "email", "text": "Too many registrations. Try again later"}
                    )
                else:
                    errors += api_field_errors(exc, REGISTER_FIELDS)
            else:
                return render_template("web/register_done.html", email=answer.get("email"))
    return (
        render_template(
            "web/register.html",
            errors=errors,
            by_field=field_errors(errors),
            form=form,
            settings=SETTING_LABELS,
        ),
        400 if errors else 200,
    )


@bp.route("/confirm-email")
def confirm_email() -> Any:
    """The link mailed at registration: confirm through the API, say what happened.

    Following it twice is harmless (the API confirms idempotently); a signed-in user's
    tokens are refreshed so that booking works at once."""
    token = request.args.get("token", "")
    try:
        base_api().call("POST", "/api/auth/confirm-email", params={"token": token}, json={})
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        return render_template("web/confirm_email.html", confirmed=False), 400
    if signin.user() is not None:
        signin.refresh(base_api())
    return render_template("web/confirm_email.html", confirmed=True)


# -- find training -------------------------------------------------------------------------
@bp.route("/find-training")
def find_training() -> Any:
    args = request.args
    chosen = {
        k: args.get(k, "").strip()
        for k in ("kind", "topic", "audience", "format", "from", "to", "q", "cursor")
    }
    errors: list[dict[str, str]] = []
    for key, allowed, name in (
        ("kind", KINDS, "kind of training"),
        ("topic", TOPIC_LABELS, "topic"),
        ("audience", SETTING_LABELS, "setting"),
        ("format", FORMATS, "format"),
    ):
        if chosen[key] and chosen[key] not in allowed:
            errors.append({"field": key, "text": f"Select a {name} from the list"})
    if len(chosen["q"]) > 100:
        errors.append({"field": "q", "text": "Search words must be 100 characters or fewer"})
    start, end = date_range(chosen["from"], chosen["to"], errors)

    params: dict[str, Any] = {
        "kind": chosen["kind"],
        "topic": chosen["topic"],
        "audience": chosen["audience"],
        "format": chosen["format"],
        "q": chosen["q"],
        "cursor": chosen["cursor"],
        "limit": PAGE_SIZE,
    }
    if start:
        params["from"] = max(london_utc(start), now_utc())
    if end:
        params["to"] = london_utc(next_day(end))
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    if not errors:
        try:
            page = with_api(
                lambda api: api.call("GET", "/api/catalogue/sessions", params=params),
                required=False,
            )
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            errors.append({"field": "q", "text": "Check your search and try again"})
    keep = {k: v for k, v in chosen.items() if v and k != "cursor"}
    return (
        render_template(
            "web/find_training.html",
            errors=errors,
            by_field=field_errors(errors),
            chosen=chosen,
            sessions=page.get("items", []),
            next_url=(
                url_for("web.find_training", **keep, cursor=page["next_cursor"])
                if page.get("next_cursor")
                else None
            ),
            first_url=url_for("web.find_training", **keep) if chosen["cursor"] else None,
            kinds=KINDS,
            topics=TOPIC_LABELS,
            settings=SETTING_LABELS,
            formats=FORMATS,
        ),
        400 if errors else 200,
    )


# -- one session ---------------------------------------------------------------------------
def _session_view(session_id: uuid.UUID, errors: list[dict[str, str]] | None = None) -> Any:
    user = signin.user()

    def load(api: Api) -> list[Any]:
        calls: list[Callable[[], Any]] = [
            lambda: api.get(f"/api/catalogue/sessions/{session_id}"),
            lambda: api.get(f"/api/bookings/sessions/{session_id}/availability"),
        ]
        if api.token:
            calls.append(lambda: api.get("/api/bookings", session_id=str(session_id), limit=200))
        return parallel(*calls)

    try:
        results = with_api(load, required=False)
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        raise
    item, availability = results[0], results[1]
    mine = None
    if len(results) > 2 and user:
        mine = next(
            (
                b
                for b in results[2].get("items", [])
                if b.get("user_id") == user["id"] and b.get("status") not in ENDED
            ),
            None,
        )
    starts = parse_utc(item.get("starts_at"))
    open_for_booking = (
        item.get("status") == "scheduled"
        and item.get("event_status", "published") == "published"
        and starts is not None
        and starts > datetime.now(UTC)
    )
    errors = errors or []
    return (
        render_template(
            "web/session.html",
            item=item,
            availability=availability,
            mine=mine,
            open_for_booking=open_for_booking,
            idempotency_key=str(uuid.uuid4()),
            funding_key=str(uuid.uuid4()),
            errors=errors,
            by_field=field_errors(errors),
        ),
        409 if errors else 200,
    )


@bp.route("/sessions/<uuid:session_id>")
def session_page(session_id: uuid.UUID) -> Any:
    return _session_view(session_id)


@bp.route("/sessions/<uuid:session_id>/book", methods=["POST"])
def book(session_id: uuid.UUID) -> Any:
    key = request.form.get("idempotency_key", "")
    try:
        key = str(uuid.UUID(key))
    except ValueError:
        key = str(uuid.uuid4())
    body: dict[str, Any] = {"session_id": str(session_id)}
    if request.form.get("funding") == "1":
        body["request_funding"] = True
    try:
        booking = with_api(
            lambda api: api.post("/api/bookings", json=body, headers={"Idempotency-Key": key})
        )
    except SignInNeeded:
        return redirect(
            url_for("web.sign_in", next=url_for("web.session_page", session_id=session_id))
        )
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 503 and exc.kind == "payments-unavailable":
            flash(
                "Your place is held, but the card payment service did not answer. "
                "Use Pay now below in a moment.",
                "error",
            )
            return redirect(url_for("web.my_bookings"))
        if exc.status not in (403, 409, 422):
            raise
        return _session_view(session_id, [{"field": "book", "text": exc.detail}])
    if booking.get("status") == "pending_payment" and booking.get("checkout_url"):
        return redirect(booking["checkout_url"])  # Stripe Checkout, then back to my bookings
    title = (booking.get("session") or {}).get("title", "the session")
    status = booking.get("status")
    if status == "waitlisted":
        message = (
            f"You are on the waiting list for {title} "
            f"(number {booking.get('waitlist_position')}). We will email you if a place comes up."
        )
    elif status == "pending_funding":
        message = (
            f"Your place on {title} is held while the hub decides on funding. "
            "We will email you its answer."
        )
    else:
        message = f"You have booked a place on {title}."
    flash(message, "success")
    return redirect(url_for("web.my_bookings"))


# -- my bookings ---------------------------------------------------------------------------
@bp.route("/my-bookings")
def my_bookings() -> Any:
    bookings, feeds = with_api(
        lambda api: parallel(
            lambda: api.get("/api/bookings", limit=200),
            lambda: api.get("/api/bookings/calendar-feeds"),
        )
    )
    now = datetime.now(UTC)
    upcoming, past = [], []
    for b in bookings.get("items", []):
        starts = parse_utc((b.get("session") or {}).get("starts_at"))
        is_upcoming = starts is not None and starts > now and b.get("status") not in ENDED
        (upcoming if is_upcoming else past).append(b)
    upcoming.sort(key=lambda b: b["session"]["starts_at"])
    past.sort(key=lambda b: (b.get("session") or {}).get("starts_at", ""), reverse=True)
    messages = get_flashed_messages(with_categories=True)
    paid = request.args.get("paid")
    if paid and any(b.get("id") == paid for b in bookings.get("items", [])):
        messages.append(
            (
                "success",
                "Thank you: your payment went through. Your place is confirmed "
                "as soon as the payment service tells us, usually within seconds.",
            )
        )
    new_feed = next((m for c, m in messages if c == "feed"), None)
    return render_template(
        "web/my_bookings.html",
        upcoming=upcoming,
        past=past,
        cancellable=CANCELLABLE,
        feeds=[f for f in feeds.get("items", []) if f.get("scope") == "me"],
        new_feed=new_feed,
        messages=[(c, m) for c, m in messages if c != "feed"],
    )


@bp.route("/my-bookings/<uuid:booking_id>/cancel", methods=["POST"])
def cancel_booking(booking_id: uuid.UUID) -> Any:
    try:
        booking = with_api(lambda api: api.post(f"/api/bookings/{booking_id}/cancel", json={}))
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        flash(exc.detail, "error")
    else:
        title = (booking.get("session") or {}).get("title", "the session")
        flash(f"Your booking for {title} is cancelled.", "success")
    return redirect(url_for("web.my_bookings"))


def _to_checkout(booking_id: uuid.UUID, call: str) -> Any:
    """Post ``call`` (checkout or accept-offer) and send the browser to Stripe Checkout."""
    try:
        booking = with_api(lambda api: api.post(f"/api/bookings/{booking_id}/{call}", json={}))
    except ApiError as exc:
        if exc.status not in (404, 409, 503):
            raise
        flash(exc.detail, "error")
        return redirect(url_for("web.my_bookings"))
    if booking.get("checkout_url"):
        return redirect(booking["checkout_url"])
    return redirect(url_for("web.my_bookings"))


@bp.route("/my-bookings/<uuid:booking_id>/pay", methods=["POST"])
def pay(booking_id: uuid.UUID) -> Any:
    return _to_checkout(booking_id, "checkout")


@bp.route("/my-bookings/<uuid:booking_id>/accept", methods=["POST"])
def accept_offer(booking_id: uuid.UUID) -> Any:
    return _to_checkout(booking_id, "accept-offer")


@bp.route("/my-bookings/<uuid:booking_id>/calendar.ics")
def booking_calendar(booking_id: uuid.UUID) -> Response:
    """One booking as a calendar file (the invite's event: opening it never doubles it)."""
    return download(f"/api/bookings/{booking_id}/calendar.ics", "booking.ics", "text/calendar")


@bp.route("/my-bookings/calendar", methods=["POST"])
def subscribe() -> Any:
    feed = with_api(lambda api: api.post("/api/bookings/calendar-feeds", json={"scope": "me"}))
    flash(feed["url"], "feed")
    return redirect(url_for("web.my_bookings") + "#calendar")


@bp.route("/my-bookings/calendar/<uuid:feed_id>/revoke", methods=["POST"])
def revoke_feed(feed_id: uuid.UUID) -> Any:
    return revoke_calendar_link(f"/api/bookings/calendar-feeds/{feed_id}", "web.my_bookings")
