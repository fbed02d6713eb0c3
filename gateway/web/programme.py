"""Pages: a hub lead's programme (events, their sessions, series) and session rosters.

Everything goes through the catalogue and bookings APIs with the lead's token, so the
API's own rules apply (who leads which hub, no change to a started session, attendance
only once a session has started) and its answers show as they are: a 403 is the
permission page, a 409/422 is a GOV.UK error on the form. Times are typed and shown in
London time; a series is sent as an RRULE and the catalogue keeps its wall-clock time
across the clock changes (services/catalogue/recurrence.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for

from gateway.web import session as signin
from gateway.web.base import (
    SignInNeeded,
    api_field_errors,
    bp,
    done_before,
    download,
    field_errors,
    menu_item,
    remember_done,
    with_api,
)
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import (
    FORMATS,
    KINDS,
    LONDON,
    SETTING_LABELS,
    TOPIC_LABELS,
    now_utc,
    parse_utc,
)
from gateway.web.forms import (
    london_utc,
    london_wall,
    parse_date,
    parse_pounds,
    parse_time,
    parse_whole,
    skipped_in_london,
)

menu_item("Programme", "web.programme", {"hub_lead"}, per_hub=True, order=40)

#: Events on one programme page (the API's own maximum is 100).
EVENTS_PER_PAGE = 50
#: How a series repeats: the form's choice → the RRULE's FREQ (and INTERVAL).
REPEATS = {
    "none": ("Does not repeat", None),
    "daily": ("Every day", "FREQ=DAILY"),
    "weekly": ("Every week", "FREQ=WEEKLY"),
    "fortnightly": ("Every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
    "monthly": ("Every month", "FREQ=MONTHLY"),
}
MAX_SESSIONS = 60  # services/catalogue/recurrence.py MAX_OCCURRENCES
EVENT_TAGS = {
    "draft": ("Draft", "govuk-tag--grey"),
    "published": ("Published", "govuk-tag--green"),
    "cancelled": ("Cancelled", "govuk-tag--red"),
}
SESSION_TAGS = {
    "scheduled": ("Scheduled", "govuk-tag--blue"),
    "cancelled": ("Cancelled", "govuk-tag--red"),
}
#: Bookings whose attendance can be recorded (services/bookings/operations.py ATTENDABLE).
ATTENDABLE = frozenset({"confirmed", "attended", "no_show"})

#: API field → the form field its error links to.
EVENT_FIELDS = {
    "title": "title",
    "kind": "kind",
    "topics": "topics",
    "audience": "audience",
    "format": "format",
    "venue": "venue",
    "online_url": "online_url",
    "cpd_hours": "cpd_hours",
    "capacity": "capacity",
    "price_pence": "price",
    "funded_places": "funded_places",
    "starts_at": "start-day",
    "ends_at": "end_time",
    "rrule": "repeat",
    "hub_id": "title",
}
SESSION_FIELDS = {
    "starts_at": "start-day",
    "ends_at": "end_time",
    "capacity": "capacity",
    "venue": "capacity",
    "_schema": "start-day",
}


@bp.app_template_filter("programme_tag")
def programme_tag(code: str | None, kind: str = "event") -> tuple[str, str]:
    """(words, GOV.UK tag class) of an event's or a session's status."""
    tags = EVENT_TAGS if kind == "event" else SESSION_TAGS
    return tags.get(code or "", ((code or "").replace("_", " ").capitalize(), "govuk-tag--grey"))


@bp.app_template_filter("programme_time")
def programme_time(value: str | None) -> str:
    """A UTC instant as the London wall-clock time a form shows ("18:30")."""
    moment = parse_utc(value)
    return moment.astimezone(LONDON).strftime("%H:%M") if moment else ""


# -- pure helpers (tests/unit/test_web_programme.py) ----------------------------------------
def repeat_rule(repeat: str, count: int | None, until: date | None) -> str | None:
    """The RRULE of the form's repeat choice (None: one session)."""
    base = REPEATS.get(repeat, ("", None))[1]
    if base is None:
        return None
    if count is not None:
        return f"{base};COUNT={count}"
    if until is not None:
        return f"{base};UNTIL={until:%Y%m%d}"
    return None


def _started(item: dict[str, Any]) -> bool:
    starts = parse_utc(item.get("starts_at"))
    return starts is None or starts <= datetime.now(UTC)


# -- access --------------------------------------------------------------------------------
def _require_lead(hub_id: uuid.UUID) -> None:
    """A lead of this hub or an admin: the events listing is public (published events),
    so the programme's own pages check this; every change is checked again by the API."""
    user = signin.user()
    if user is None:
        raise SignInNeeded
    roles = set(user.get("roles") or ())
    if "admin" in roles:
        return
    if "hub_lead" in roles and str(hub_id) in {str(h) for h in user.get("hub_ids") or ()}:
        return
    abort(403)


def _back(hub_id: uuid.UUID) -> Any:
    return redirect(url_for("web.programme", hub_id=hub_id))


# -- the programme -------------------------------------------------------------------------
@bp.route("/hubs/<uuid:hub_id>/programme")
def programme(hub_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    cursor = request.args.get("cursor", "")

    def load(api: Api) -> list[Any]:
        return parallel(
            lambda: api.get(f"/api/catalogue/hubs/{hub_id}"),
            lambda: api.get(
                "/api/catalogue/events",
                hub_id=str(hub_id),
                with_sessions="true",
                order="newest",  # what the lead made last (or just now) first
                limit=EVENTS_PER_PAGE,
                cursor=cursor,
            ),
            lambda: api.get(f"/api/bookings/hubs/{hub_id}/availability"),
        )

    try:
        hub, events, availability = with_api(load)
    except ApiError as exc:
        if exc.status in (404, 422):
            abort(404)
        raise
    return render_template(
        "web/programme/programme.html",
        hub=hub,
        events=events.get("items", []),
        taken={a["session_id"]: a for a in availability.get("items", [])},
        next_url=(
            url_for("web.programme", hub_id=hub_id, cursor=events["next_cursor"])
            if events.get("next_cursor")
            else None
        ),
        now=now_utc(),
    )


# -- a new event and its sessions ----------------------------------------------------------
@dataclass
class EventForm:
    """The create form's fields as typed, and what they mean for the API."""

    values: dict[str, Any]
    errors: list[dict[str, str]]
    event: dict[str, Any]
    sessions: dict[str, Any]


TEXT_FIELDS = (
    "title",
    "kind",
    "format",
    "venue",
    "online_url",
    "cpd_hours",
    "capacity",
    "price",
    "funded_places",
    "start-day",
    "start-month",
    "start-year",
    "start_time",
    "end_time",
    "repeat",
    "count",
    "until-day",
    "until-month",
    "until-year",
    "event_id",
)


def read_event_form(form: Any) -> EventForm:
    """Check what the API cannot (dates and times in London, pounds) and build its bodies."""
    v: dict[str, Any] = {k: (form.get(k) or "").strip() for k in TEXT_FIELDS}
    v["topics"] = form.getlist("topics")
    v["audience"] = form.getlist("audience")
    v["repeat"] = v["repeat"] or "none"
    errors: list[dict[str, str]] = []

    def err(field: str, text: str) -> None:
        errors.append({"field": field, "text": text})

    if not v["title"]:
        err("title", "Enter a title")
    if v["kind"] not in KINDS:
        err("kind", "Select the kind of event")
    if not v["audience"]:
        err("audience", "Select who the event is for")
    if v["format"] not in FORMATS:
        err("format", "Select how the event is run")
    cpd: float | None = None
    try:
        cpd = float(v["cpd_hours"])
    except ValueError:
        err("cpd_hours", "Enter CPD hours as a number, like 1.5")
    capacity = parse_whole(v["capacity"])
    if capacity is None or capacity < 1:
        err("capacity", "Enter the number of places, like 20")
    price = parse_pounds(v["price"]) if v["price"] else 0  # empty: free
    if price is None:
        err("price", "Enter a price in pounds, like 12.50, or leave it empty for free")
    funded = parse_whole(v["funded_places"]) if v["funded_places"] else 0
    if funded is None:
        err("funded_places", "Enter funded places as a whole number, like 5")
    day = parse_date(v["start-day"], v["start-month"], v["start-year"])
    if day is None:
        err("start-day", "Enter a real date for the first session, like 23 3 2027")
    starts, ends = parse_time(v["start_time"]), parse_time(v["end_time"])
    if starts is None:
        err("start_time", "Enter a start time, like 18:30 or 6:30pm")
    if ends is None:
        err("end_time", "Enter an end time, like 20:00 or 8pm")
    elif starts is not None and ends <= starts:
        err("end_time", "The end time must be after the start time")
    count: int | None = None
    until: date | None = None
    if v["repeat"] not in REPEATS:
        err("repeat", "Select how often the event repeats")
    elif v["repeat"] != "none":
        if v["count"]:
            count = parse_whole(v["count"])
            if count is None or not 1 <= count <= MAX_SESSIONS:
                err("count", f"Enter a number of sessions from 1 to {MAX_SESSIONS}")
        elif any(v[f"until-{p}"] for p in ("day", "month", "year")):
            until = parse_date(v["until-day"], v["until-month"], v["until-year"])
            if until is None:
                err("until-day", "Enter a real date for the last session")
            elif day is not None and until < day:
                err("until-day", "The last date must be on or after the first session")
        else:
            err("count", "Enter how many sessions there are, or the date of the last one")
    event: dict[str, Any] = {
        "title": v["title"],
        "kind": v["kind"],
        "topics": v["topics"],
        "audience": v["audience"],
        "format": v["format"],
        "venue": v["venue"] or None,
        "online_url": v["online_url"] or None,
        "cpd_hours": cpd,
        "capacity": capacity,
        "price_pence": price,
        "funded_places": funded,
    }
    sessions: dict[str, Any] = {}
    for field, clock in (("start_time", starts), ("end_time", ends)):
        if day is not None and clock is not None and (why := skipped_in_london(day, clock)):
            err(field, why)
    if day is not None and starts is not None and ends is not None:
        sessions = {"starts_at": london_utc(day, starts), "ends_at": london_utc(day, ends)}
        if sessions["starts_at"] <= now_utc():
            # Checked here too, so a refused series does not leave an empty draft behind.
            err("start-day", "The first session must be in the future")
        rule = repeat_rule(v["repeat"], count, until)
        if rule:
            sessions["rrule"] = rule
    return EventForm(v, errors, event, sessions)


def _new_event_page(hub: dict[str, Any], form: EventForm | None, status: int = 200) -> Any:
    blank: dict[str, Any] = {**dict.fromkeys(TEXT_FIELDS, ""), "repeat": "none"}
    values = form.values if form else {**blank, "topics": [], "audience": []}
    errors = form.errors if form else []
    return (
        render_template(
            "web/programme/new_event.html",
            hub=hub,
            v=values,
            errors=errors,
            by_field=field_errors(errors),
            kinds=KINDS,
            formats=FORMATS,
            topics=TOPIC_LABELS,
            settings=SETTING_LABELS,
            repeats={k: text for k, (text, _rule) in REPEATS.items()},
        ),
        status,
    )


@bp.route("/hubs/<uuid:hub_id>/events/new", methods=["GET", "POST"])
def new_event(hub_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    hub = with_api(lambda api: api.get(f"/api/catalogue/hubs/{hub_id}"))
    if request.method == "GET":
        return _new_event_page(hub, None)
    form_id = request.form.get("form_id", "")
    if where := done_before(form_id):
        flash("That event is saved already.", "success")
        return redirect(where)
    form = read_event_form(request.form)
    if form.errors:
        return _new_event_page(hub, form, 400)
    event_id = form.values["event_id"]
    try:
        if event_id:
            # A second go after the sessions were refused: the draft exists, fix it up.
            uuid.UUID(event_id)
            with_api(
                lambda api: api.call("PATCH", f"/api/catalogue/events/{event_id}", json=form.event)
            )
        else:
            made = with_api(
                lambda api: api.post(
                    "/api/catalogue/events", json={"hub_id": str(hub_id), **form.event}
                )
            )
            event_id = str(made["id"])
            form.values["event_id"] = event_id
    except ValueError:
        abort(400)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        form.errors += api_field_errors(exc, EVENT_FIELDS)
        return _new_event_page(hub, form, exc.status)
    try:
        added = with_api(
            lambda api: api.post(f"/api/catalogue/events/{event_id}/sessions", json=form.sessions)
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        form.errors += api_field_errors(exc, EVENT_FIELDS)
        return _new_event_page(hub, form, exc.status)
    n = len(added.get("items", []))
    flash(
        f"{form.event['title']} is saved as a draft with {n} session{'s' if n != 1 else ''}. "
        "Publish it to open bookings.",
        "success",
    )
    where = url_for("web.programme", hub_id=hub_id) + f"#event-{event_id}"
    remember_done(form_id, where)
    return redirect(where)


# -- publish, cancel -----------------------------------------------------------------------
@bp.route("/hubs/<uuid:hub_id>/events/<uuid:event_id>/publish", methods=["POST"])
def publish_event(hub_id: uuid.UUID, event_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    try:
        event = with_api(lambda api: api.post(f"/api/catalogue/events/{event_id}/publish"))
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        flash(exc.detail, "error")
    else:
        flash(f"{event['title']} is published: its sessions can be booked.", "success")
    return redirect(url_for("web.programme", hub_id=hub_id) + f"#event-{event_id}")


def _event_page(
    hub_id: uuid.UUID,
    event_id: uuid.UUID,
    errors: list[dict[str, str]],
    reason: str = "",
    status: int = 400,
) -> Any:
    try:
        event = with_api(lambda api: api.get(f"/api/catalogue/events/{event_id}"))
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        raise
    if str(event.get("hub_id")) != str(hub_id):
        abort(404)
    return (
        render_template(
            "web/programme/cancel_event.html",
            event=event,
            hub_id=hub_id,
            reason=reason,
            errors=errors,
            by_field=field_errors(errors),
        ),
        status if errors else 200,
    )


@bp.route("/hubs/<uuid:hub_id>/events/<uuid:event_id>/cancel", methods=["GET", "POST"])
def cancel_event(hub_id: uuid.UUID, event_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    if request.method == "GET":
        return _event_page(hub_id, event_id, [])
    reason = request.form.get("reason", "").strip()
    if not reason:
        return _event_page(hub_id, event_id, [{"field": "reason", "text": "Enter a reason"}])
    try:
        event = with_api(
            lambda api: api.post(
                f"/api/catalogue/events/{event_id}/cancel", json={"reason": reason}
            )
        )
    except ApiError as exc:
        if exc.status == 422:
            return _event_page(
                hub_id, event_id, api_field_errors(exc, {"reason": "reason"}), reason, 422
            )
        if exc.status != 409:
            raise
        flash(exc.detail, "error")
        return _back(hub_id)
    flash(f"{event['title']} is cancelled. Everyone booked is told.", "success")
    return _back(hub_id)


# -- one session: reschedule, capacity, cancel ---------------------------------------------
def _load_session(hub_id: uuid.UUID, session_id: uuid.UUID) -> dict[str, Any]:
    try:
        item: dict[str, Any] = with_api(
            lambda api: api.get(f"/api/catalogue/sessions/{session_id}")
        )
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        raise
    if str(item.get("hub_id")) != str(hub_id):
        abort(404)
    return item


def _session_page(
    hub_id: uuid.UUID,
    item: dict[str, Any],
    values: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Any:
    errors = errors or []
    if values is None:
        starts = parse_utc(item["starts_at"])
        local = starts.astimezone(LONDON) if starts else None
        values = {
            "start-day": str(local.day) if local else "",
            "start-month": str(local.month) if local else "",
            "start-year": str(local.year) if local else "",
            "start_time": programme_time(item["starts_at"]),
            "end_time": programme_time(item["ends_at"]),
            "capacity": str(item.get("capacity", "")),
            "reason": "",
        }
    return (
        render_template(
            "web/programme/session.html",
            hub_id=hub_id,
            item=item,
            v=values,
            errors=errors,
            by_field=field_errors(errors),
            started=_started(item),
        ),
        status,
    )


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>")
def manage_session(hub_id: uuid.UUID, session_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    return _session_page(hub_id, _load_session(hub_id, session_id))


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>/change", methods=["POST"])
def change_session(hub_id: uuid.UUID, session_id: uuid.UUID) -> Any:
    """Reschedule and/or change capacity in one form; only what changed is sent."""
    _require_lead(hub_id)
    item = _load_session(hub_id, session_id)
    keys = ("start-day", "start-month", "start-year", "start_time", "end_time", "capacity")
    v = {k: request.form.get(k, "").strip() for k in keys}
    v["reason"] = ""
    errors: list[dict[str, str]] = []
    day = parse_date(v["start-day"], v["start-month"], v["start-year"])
    starts, ends = parse_time(v["start_time"]), parse_time(v["end_time"])
    capacity = parse_whole(v["capacity"])
    if day is None:
        errors.append({"field": "start-day", "text": "Enter a real date, like 23 3 2027"})
    if starts is None:
        errors.append({"field": "start_time", "text": "Enter a start time, like 18:30"})
    if ends is None:
        errors.append({"field": "end_time", "text": "Enter an end time, like 20:00"})
    elif starts is not None and ends <= starts:
        errors.append({"field": "end_time", "text": "The end time must be after the start time"})
    if capacity is None or capacity < 1:
        errors.append({"field": "capacity", "text": "Enter the number of places, like 20"})
    for field, clock in (("start_time", starts), ("end_time", ends)):
        if day is not None and clock is not None and (why := skipped_in_london(day, clock)):
            errors.append({"field": field, "text": why})
    if errors:
        return _session_page(hub_id, item, v, errors, 400)
    assert day and starts and ends and capacity  # checked above
    body: dict[str, Any] = {}
    # Times go to the API only when the lead changed what the form showed: a time in the
    # hour the clocks go back reads the same twice, so sending it back could move it.
    shown = (london_wall(item["starts_at"]), london_wall(item["ends_at"]))
    if ((day, starts), (day, ends)) != shown:
        body.update(starts_at=london_utc(day, starts), ends_at=london_utc(day, ends))
    if capacity != item.get("capacity"):
        body["capacity"] = capacity
    if not body:
        flash("Nothing changed.", "success")
        return redirect(url_for("web.manage_session", hub_id=hub_id, session_id=session_id))
    try:
        with_api(lambda api: api.call("PATCH", f"/api/catalogue/sessions/{session_id}", json=body))
    except ApiError as exc:
        if exc.status == 409:
            return _session_page(hub_id, item, v, [{"field": "start-day", "text": exc.detail}], 409)
        if exc.status != 422:
            raise
        return _session_page(hub_id, item, v, api_field_errors(exc, SESSION_FIELDS), 422)
    flash("The session is changed. Everyone booked is told.", "success")
    return _back(hub_id)


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>/cancel", methods=["POST"])
def cancel_session(hub_id: uuid.UUID, session_id: uuid.UUID) -> Any:
    _require_lead(hub_id)
    reason = request.form.get("reason", "").strip()
    if not reason:
        item = _load_session(hub_id, session_id)
        return _session_page(
            hub_id, item, None, [{"field": "reason", "text": "Enter a reason"}], 400
        )
    try:
        with_api(
            lambda api: api.post(
                f"/api/catalogue/sessions/{session_id}/cancel", json={"reason": reason}
            )
        )
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        flash(exc.detail, "error")
        return redirect(url_for("web.manage_session", hub_id=hub_id, session_id=session_id))
    flash("The session is cancelled. Everyone booked is told.", "success")
    return _back(hub_id)


# -- the roster ----------------------------------------------------------------------------
def _roster_page(
    hub_id: uuid.UUID, session_id: uuid.UUID, errors: list[dict[str, str]] | None = None
) -> Any:
    _require_lead(hub_id)

    def load(api: Api) -> list[Any]:
        return parallel(
            lambda: api.get(f"/api/catalogue/sessions/{session_id}"),
            lambda: api.get(f"/api/bookings/sessions/{session_id}/roster"),
            lambda: api.get(f"/api/bookings/sessions/{session_id}/feedback-summary"),
        )

    try:
        item, roster, feedback = with_api(load)
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        raise
    if str(item.get("hub_id")) != str(hub_id):
        abort(404)
    errors = errors or []
    people = roster.get("items", [])
    return (
        render_template(
            "web/programme/roster.html",
            hub_id=hub_id,
            item=item,
            roster=roster,
            attendable=[p for p in people if p.get("status") in ATTENDABLE],
            others=[p for p in people if p.get("status") not in ATTENDABLE],
            feedback=feedback,
            started=_started(item),
            errors=errors,
            by_field=field_errors(errors),
        ),
        (409 if errors else 200),
    )


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>/roster")
def roster(hub_id: uuid.UUID, session_id: uuid.UUID) -> Any:
    return _roster_page(hub_id, session_id)


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>/attendance", methods=["POST"])
def record_attendance(hub_id: uuid.UUID, session_id: uuid.UUID) -> Any:
    """Every listed booking in one submit: ticked came, unticked did not."""
    _require_lead(hub_id)
    listed = request.form.getlist("booking")
    came = set(request.form.getlist("attended"))
    records = []
    for raw in dict.fromkeys(listed):
        try:
            records.append({"booking_id": str(uuid.UUID(raw)), "attended": raw in came})
        except ValueError:
            abort(400)
    if not records:
        return _roster_page(hub_id, session_id, [{"field": "attendance", "text": "No one to mark"}])
    try:
        with_api(
            lambda api: api.post(
                f"/api/bookings/sessions/{session_id}/attendance", json={"records": records}
            )
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        return _roster_page(hub_id, session_id, [{"field": "attendance", "text": exc.detail}])
    n = sum(1 for r in records if r["attended"])
    flash(f"Attendance is saved: {n} of {len(records)} came.", "success")
    return redirect(url_for("web.roster", hub_id=hub_id, session_id=session_id))


@bp.route("/hubs/<uuid:hub_id>/sessions/<uuid:session_id>/roster.csv")
def roster_csv(hub_id: uuid.UUID, session_id: uuid.UUID) -> Response:
    _require_lead(hub_id)
    return download(
        f"/api/bookings/sessions/{session_id}/roster", f"roster-{session_id}.csv", format="csv"
    )
