"""Pages: mentoring (issue 14) for the three people in it.

- a practitioner's ``/mentoring``: ask a hub for a mentor, see the requests, the mentor
  matched and the meetings arranged;
- a mentor's ``/caseload``: load against capacity, proposals to accept or decline, the
  active mentees, a mentee's page to arrange and log meetings, the calendar link;
- a hub lead's ``/hubs/<hub_id>/mentoring``: open requests, a matching run with why each
  pair was proposed, the mentors' caseloads.

Every page reads the mentoring API (``/api/mentoring``) in one round of parallel calls
(``/mentoring`` takes every match's meetings from ``GET /api/mentoring/meetings``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import abort, flash, get_flashed_messages, redirect, render_template, request, url_for

from gateway.web import session as signin
from gateway.web.base import (
    api_field_errors,
    bp,
    done_before,
    field_errors,
    menu_item,
    remember_done,
    revoke_calendar_link,
    with_api,
)
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import SETTING_LABELS, TOPIC_LABELS, api_utc, parse_utc
from gateway.web.forms import london_time, parse_date, parse_time, parse_whole, skipped_in_london

menu_item("Mentoring", "web.mentoring", {"practitioner"}, order=50)
menu_item("Caseload", "web.caseload", {"mentor"}, order=50)
menu_item("Hub mentoring", "web.hub_mentoring", {"hub_lead"}, per_hub=True, order=45)

#: The mentoring service's request and meeting formats (services/mentoring/models.py).
MENTORING_FORMATS = {"online": "Online", "in_person": "In person"}
MAX_TOPICS = 5
DURATIONS = {"30": "30 minutes", "45": "45 minutes", "60": "1 hour", "90": "1 hour 30 minutes"}
#: What each term of a pair's score means (services/mentoring/matching.py score_pair).
WHY = {
    "topics": "Topics the mentor specialises in",
    "setting_type": "Knows this kind of setting",
    "language": "Speaks a language asked for",
    "region": "Same region, for meeting in person",
    "load_balance": "Mentees the mentor already has",
}
UNMATCHED = {
    "no_mentor_with_capacity": "No mentor has a free place",
    "no_compatible_format": "No mentor meets in this format",
    "all_candidates_excluded": "Every possible mentor was declined before or works in the "
    "same setting",
}
REQUEST_STATUSES = {
    "open": ("Waiting for a match", "govuk-tag--yellow"),
    "matched": ("Matched", "govuk-tag--green"),
    "withdrawn": ("Withdrawn", "govuk-tag--grey"),
    "closed": ("Finished", "govuk-tag--grey"),
}
MATCH_STATUSES = {
    "proposed": ("Waiting for the mentor to accept", "govuk-tag--light-blue"),
    "active": ("Active", "govuk-tag--green"),
    "declined": ("Declined", "govuk-tag--grey"),
    "withdrawn": ("Withdrawn", "govuk-tag--grey"),
    "closed": ("Finished", "govuk-tag--grey"),
}
REQUEST_FIELDS = {
    "hub_id": "hub_id",
    "topics": "topics",
    "goals": "goals",
    "format": "format",
    "setting_type": "setting_type",
    "setting_name": "setting_name",
    "languages": "languages",
    "region": "region",
}
MEETING_FIELDS = {
    "starts_at": "day",
    "ends_at": "duration",
    "format": "format",
    "location": "location",
    "online_url": "online_url",
}
LOG_FIELDS = {"minutes": "minutes", "notes": "notes", "next_steps": "next_steps"}


# -- pure helpers (tests/unit/test_web_mentoring.py) ----------------------------------------
def meeting_times(
    form: dict[str, str], errors: list[dict[str, str]]
) -> tuple[datetime, datetime] | None:
    """The meeting's start and end in UTC from the London date, time and duration typed;
    adds an error per field that is wrong."""
    day = parse_date(form.get("day", ""), form.get("month", ""), form.get("year", ""))
    if day is None:
        errors.append({"field": "day", "text": "Enter a real date for the meeting"})
    clock = parse_time(form.get("time", ""))
    if clock is None:
        errors.append({"field": "time", "text": "Enter a start time, like 14:30 or 2:30pm"})
    if form.get("duration") not in DURATIONS:
        errors.append({"field": "duration", "text": "Select how long the meeting lasts"})
    if day is not None and clock is not None and (why := skipped_in_london(day, clock)):
        errors.append({"field": "time", "text": why})
        return None
    if day is None or clock is None or form.get("duration") not in DURATIONS:
        return None
    starts = london_time(day, clock).astimezone(UTC)
    return starts, starts + timedelta(minutes=int(form["duration"]))


def why_pair(breakdown: dict[str, int]) -> list[tuple[str, int]]:
    """A pair's score breakdown as (reason, points), most points first: what made the
    pair comes before what did not count and what counted against it."""
    rows = [(WHY.get(k, k.replace("_", " ").capitalize()), v) for k, v in breakdown.items()]
    return sorted(rows, key=lambda r: -r[1])


def load_tag(load: int, capacity: int | None) -> tuple[str, str]:
    """The caseload's GOV.UK tag: full, nearly full or with places."""
    if not capacity:
        return "No profile yet", "govuk-tag--grey"
    if load >= capacity:
        return "Full", "govuk-tag--red"
    if capacity - load == 1:
        return "1 place left", "govuk-tag--yellow"
    return f"{capacity - load} places left", "govuk-tag--green"


@bp.app_template_filter("mentoring_status")
def _mentoring_status(code: str | None, kind: str = "request") -> str:
    table = REQUEST_STATUSES if kind == "request" else MATCH_STATUSES
    return table.get(code or "", ((code or "").replace("_", " ").capitalize(), ""))[0]


@bp.app_template_filter("mentoring_status_class")
def _mentoring_status_class(code: str | None, kind: str = "request") -> str:
    table = REQUEST_STATUSES if kind == "request" else MATCH_STATUSES
    return table.get(code or "", ("", "govuk-tag--grey"))[1]


def _require_role(role: str) -> None:
    """A page of one role: others get the 403 page before any API call (nobody signed in
    goes on to ``with_api``, which sends them to sign in)."""
    user = signin.user()
    if user is not None and role not in user["roles"]:
        abort(403)


# -- practitioner: /mentoring --------------------------------------------------------------
def _mentoring_view(
    form: dict[str, Any] | None = None, errors: list[dict[str, str]] | None = None
) -> Any:
    def load(api: Api) -> list[Any]:
        return parallel(
            lambda: api.get("/api/mentoring/requests", limit=50),
            lambda: api.get("/api/catalogue/hubs"),
            lambda: api.get("/api/mentoring/meetings", limit=200),
        )

    _require_role("practitioner")
    requests_page, hubs, own = with_api(load)
    user = signin.user() or {}
    items = sorted(requests_page.get("items", []), key=lambda r: r["created_at"], reverse=True)
    meetings: dict[str, list[Any]] = {}
    for meeting in own.get("items", []):
        meetings.setdefault(str(meeting["match_id"]), []).append(meeting)
    names = {h["id"]: h["name"] for h in hubs.get("items", [])}
    my_hubs = [(h, names.get(h, "Your hub")) for h in user.get("hub_ids") or []]
    live = {r["hub_id"] for r in items if r["status"] in ("open", "matched")}
    askable = [(h, n) for h, n in my_hubs if h not in live]
    errors = errors or []
    return (
        render_template(
            "web/mentoring/mentoring.html",
            requests=items,
            meetings=meetings,
            hub_names=names,
            askable=askable,
            form=form or {"topics": []},
            errors=errors,
            by_field=field_errors(errors),
            topics=TOPIC_LABELS,
            settings=SETTING_LABELS,
            formats=MENTORING_FORMATS,
            max_topics=MAX_TOPICS,
        ),
        422 if errors else 200,
    )


@bp.route("/mentoring")
def mentoring() -> Any:
    return _mentoring_view()


@bp.route("/mentoring/requests", methods=["POST"])
def request_mentor() -> Any:
    f = request.form
    form: dict[str, Any] = {
        "hub_id": f.get("hub_id", ""),
        "topics": f.getlist("topics"),
        "goals": f.get("goals", "").strip(),
        "format": f.get("format", ""),
        "setting_type": f.get("setting_type", ""),
        "setting_name": f.get("setting_name", "").strip(),
        "languages": f.get("languages", "").strip(),
        "region": f.get("region", "").strip(),
    }
    errors: list[dict[str, str]] = []
    if not form["topics"]:
        errors.append({"field": "topics", "text": "Select at least one topic"})
    elif len(form["topics"]) > MAX_TOPICS:
        errors.append({"field": "topics", "text": f"Select up to {MAX_TOPICS} topics"})
    if not form["goals"]:
        errors.append({"field": "goals", "text": "Enter what you would like to achieve"})
    if form["format"] not in MENTORING_FORMATS:
        errors.append({"field": "format", "text": "Select how you would like to meet"})
    if form["setting_type"] not in SETTING_LABELS:
        errors.append({"field": "setting_type", "text": "Select the kind of setting you work in"})
    if not form["setting_name"]:
        errors.append({"field": "setting_name", "text": "Enter the name of your setting"})
    if errors:
        return _mentoring_view(form, errors)
    body = {
        **form,
        "languages": [x.strip() for x in form["languages"].split(",") if x.strip()],
        "region": form["region"] or None,
    }
    try:
        with_api(lambda api: api.post("/api/mentoring/requests", json=body))
    except ApiError as exc:
        if exc.status in (403, 409):  # another hub's, or asked already (another tab)
            flash(exc.detail, "error")
            return redirect(url_for("web.mentoring"))
        if exc.status != 422:
            raise
        return _mentoring_view(form, api_field_errors(exc, REQUEST_FIELDS))
    flash("Your request is sent. The hub will match you with a mentor.", "success")
    return redirect(url_for("web.mentoring"))


@bp.route("/mentoring/requests/<uuid:request_id>/withdraw", methods=["POST"])
def withdraw_request(request_id: uuid.UUID) -> Any:
    try:
        with_api(lambda api: api.post(f"/api/mentoring/requests/{request_id}/withdraw"))
    except ApiError as exc:
        if exc.status not in (403, 404, 409):
            raise
        flash(exc.detail, "error")
    else:
        flash("Your request is withdrawn.", "success")
    return redirect(url_for("web.mentoring"))


# -- mentor: /caseload -----------------------------------------------------------------------
@bp.route("/caseload")
def caseload() -> Any:
    _require_role("mentor")
    load, feeds = with_api(
        lambda api: parallel(
            lambda: api.get("/api/mentoring/caseload"),
            lambda: api.get("/api/mentoring/calendar-feeds"),
        )
    )
    items = load.get("items", [])
    tag_text, tag_class = load_tag(load.get("load", 0), load.get("capacity"))
    messages = get_flashed_messages(with_categories=True)
    new_feed = next((m for c, m in messages if c == "feed"), None)
    return render_template(
        "web/mentoring/caseload.html",
        load=load,
        tag_text=tag_text,
        tag_class=tag_class,
        proposals=[i for i in items if i["status"] == "proposed"],
        active=[i for i in items if i["status"] == "active"],
        feeds=feeds.get("items", []),
        new_feed=new_feed,
        messages=[(c, m) for c, m in messages if c != "feed"],
    )


def _match_action(match_id: uuid.UUID, action: str, done: str) -> Any:
    try:
        with_api(lambda api: api.post(f"/api/mentoring/matches/{match_id}/{action}"))
    except ApiError as exc:
        if exc.status not in (403, 404, 409):
            raise
        flash(exc.detail, "error")
    else:
        flash(done, "success")
    return redirect(url_for("web.caseload"))


@bp.route("/caseload/<uuid:match_id>/accept", methods=["POST"])
def accept_match(match_id: uuid.UUID) -> Any:
    name = request.form.get("mentee_name") or "your new mentee"
    return _match_action(match_id, "accept", f"You are now mentoring {name}.")


@bp.route("/caseload/<uuid:match_id>/decline", methods=["POST"])
def decline_match(match_id: uuid.UUID) -> Any:
    return _match_action(
        match_id, "decline", "You declined the proposal. The hub will match again."
    )


def _mentee_view(
    match_id: uuid.UUID,
    form: dict[str, Any] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> Any:
    load, meetings = with_api(
        lambda api: parallel(
            lambda: api.get("/api/mentoring/caseload"),
            lambda: api.get(f"/api/mentoring/matches/{match_id}/meetings"),
        )
    )
    item = next((i for i in load.get("items", []) if i["match_id"] == str(match_id)), None)
    if item is None:
        abort(404)
    now = datetime.now(UTC)
    for m in meetings.get("items", []):
        starts = parse_utc(m["starts_at"])
        m["can_log"] = (
            m["status"] == "scheduled" and not m["logged"] and starts is not None and starts <= now
        )
    errors = errors or []
    return (
        render_template(
            "web/mentoring/mentee.html",
            item=item,
            meetings=meetings,
            form=form or {"format": item.get("format") or "online", "duration": "60"},
            errors=errors,
            by_field=field_errors(errors),
            formats=MENTORING_FORMATS,
            durations=DURATIONS,
        ),
        422 if errors else 200,
    )


@bp.route("/caseload/<uuid:match_id>")
def mentee(match_id: uuid.UUID) -> Any:
    return _mentee_view(match_id)


@bp.route("/caseload/<uuid:match_id>/meetings", methods=["POST"])
def schedule_meeting(match_id: uuid.UUID) -> Any:
    keys = ("day", "month", "year", "time", "duration", "format", "location", "online_url")
    form = {k: request.form.get(k, "").strip() for k in keys}
    form_id = request.form.get("form_id", "")
    if where := done_before(form_id):
        flash("That meeting is arranged already.", "success")
        return redirect(where)
    errors: list[dict[str, str]] = []
    times = meeting_times(form, errors)
    if form["format"] not in MENTORING_FORMATS:
        errors.append({"field": "format", "text": "Select how you will meet"})
    elif form["format"] == "online" and not form["online_url"]:
        errors.append({"field": "online_url", "text": "Enter the joining link"})
    elif form["format"] == "in_person" and not form["location"]:
        errors.append({"field": "location", "text": "Enter where you will meet"})
    if errors or times is None:
        return _mentee_view(match_id, form, errors)
    body = {
        "starts_at": api_utc(times[0]),
        "ends_at": api_utc(times[1]),
        "format": form["format"],
        "location": form["location"] if form["format"] == "in_person" else None,
        "online_url": form["online_url"] if form["format"] == "online" else None,
    }
    try:
        with_api(lambda api: api.post(f"/api/mentoring/matches/{match_id}/meetings", json=body))
    except ApiError as exc:
        if exc.status not in (403, 409, 422):
            raise
        found = api_field_errors(exc, MEETING_FIELDS) if exc.status == 422 else []
        return _mentee_view(match_id, form, found or [{"field": "day", "text": exc.detail}])
    flash("The meeting is arranged. You and your mentee have been sent an invite.", "success")
    where = url_for("web.mentee", match_id=match_id)
    remember_done(form_id, where)
    return redirect(where)


@bp.route("/caseload/<uuid:match_id>/meetings/<uuid:meeting_id>/log", methods=["GET", "POST"])
def log_meeting(match_id: uuid.UUID, meeting_id: uuid.UUID) -> Any:
    form = {k: request.form.get(k, "").strip() for k in ("minutes", "notes", "next_steps")}
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        minutes = parse_whole(form["minutes"]) or 0
        if not 1 <= minutes <= 600:
            errors.append(
                {"field": "minutes", "text": "Enter how many minutes you met, from 1 to 600"}
            )
        if not form["notes"]:
            errors.append({"field": "notes", "text": "Enter notes of the meeting"})
        if not errors:
            body = {"minutes": minutes, "notes": form["notes"], "next_steps": form["next_steps"]}
            try:
                with_api(
                    lambda api: api.post(f"/api/mentoring/meetings/{meeting_id}/log", json=body)
                )
            except ApiError as exc:
                if exc.status not in (403, 404, 409, 422):
                    raise
                found = api_field_errors(exc, LOG_FIELDS) if exc.status == 422 else []
                errors += found or [{"field": "minutes", "text": exc.detail}]
            else:
                flash("The meeting is logged.", "success")
                return redirect(url_for("web.mentee", match_id=match_id))
    load, meetings = with_api(
        lambda api: parallel(
            lambda: api.get("/api/mentoring/caseload"),
            lambda: api.get(f"/api/mentoring/matches/{match_id}/meetings"),
        )
    )
    item = next((i for i in load.get("items", []) if i["match_id"] == str(match_id)), None)
    meeting = next((m for m in meetings.get("items", []) if m["id"] == str(meeting_id)), None)
    if item is None or meeting is None:
        abort(404)
    return (
        render_template(
            "web/mentoring/log.html",
            item=item,
            meeting=meeting,
            form=form,
            errors=errors,
            by_field=field_errors(errors),
        ),
        422 if errors else 200,
    )


@bp.route("/caseload/calendar", methods=["POST"])
def caseload_subscribe() -> Any:
    try:
        feed = with_api(lambda api: api.post("/api/mentoring/calendar-feeds"))
    except ApiError as exc:
        if exc.status != 409:
            raise
        flash("You can get a calendar link once you have a mentee.", "error")
        return redirect(url_for("web.caseload"))
    flash(feed["url"], "feed")
    return redirect(url_for("web.caseload") + "#calendar")


@bp.route("/caseload/calendar/<uuid:feed_id>/revoke", methods=["POST"])
def caseload_revoke_feed(feed_id: uuid.UUID) -> Any:
    return revoke_calendar_link(f"/api/mentoring/calendar-feeds/{feed_id}", "web.caseload")


# -- hub lead: /hubs/<hub_id>/mentoring ------------------------------------------------------
@bp.route("/hubs/<uuid:hub_id>/mentoring")
def hub_mentoring(hub_id: uuid.UUID) -> Any:
    run_id = request.args.get("run", "")
    try:
        run_id = str(uuid.UUID(run_id)) if run_id else ""
    except ValueError:
        run_id = ""

    def load(api: Api) -> list[Any]:
        calls: list[Callable[[], Any]] = [
            lambda: api.get("/api/mentoring/requests", hub_id=str(hub_id), limit=200),
            lambda: api.get(f"/api/mentoring/hubs/{hub_id}/caseloads"),
            lambda: api.get(f"/api/catalogue/hubs/{hub_id}"),
        ]
        if run_id:
            calls.append(lambda: api.get(f"/api/mentoring/hubs/{hub_id}/matching-runs/{run_id}"))
        return parallel(*calls)

    try:
        results = with_api(load)
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        raise
    requests_page, caseloads, hub = results[:3]
    run = results[3] if len(results) > 3 else None
    reqs = {r["id"]: r for r in requests_page.get("items", [])}
    mentors = {m["user_id"]: m for m in caseloads.get("mentors", [])}
    pairs = []
    for m in (run or {}).get("matches", []):
        pairs.append(
            {
                **m,
                "request": reqs.get(m["request_id"], {}),
                "mentor_name": mentors.get(m["mentor_id"], {}).get("name", "A mentor"),
                "why": why_pair(m.get("breakdown") or {}),
            }
        )
    unmatched = [
        {
            "request": reqs.get(u["request_id"], {}),
            "reason": UNMATCHED.get(u["reason"], u["reason"]),
        }
        for u in (run or {}).get("unmatched", [])
    ]
    open_requests = sorted(
        (r for r in reqs.values() if r["status"] == "open"), key=lambda r: r["created_at"]
    )
    return render_template(
        "web/mentoring/hub.html",
        hub=hub,
        hub_id=hub_id,
        open_requests=open_requests,
        mentors=caseloads.get("mentors", []),
        run=run,
        pairs=pairs,
        unmatched=unmatched,
    )


@bp.route("/hubs/<uuid:hub_id>/mentoring/run", methods=["POST"])
def run_matching(hub_id: uuid.UUID) -> Any:
    run = with_api(lambda api: api.post(f"/api/mentoring/hubs/{hub_id}/matching-runs"))
    count = len(run.get("matches", []))
    if count:
        flash(
            f"Matching proposed {count} pair{'s' if count != 1 else ''}. "
            "Each mentor is asked to accept.",
            "success",
        )
    else:
        flash("Matching proposed no new pairs.", "success")
    return redirect(url_for("web.hub_mentoring", hub_id=hub_id, run=run["id"]) + "#run")
