"""Pages: a person's CPD record, its CSV, a certificate per attended session, feedback.

All of it comes from ``GET /api/bookings/cpd-record`` (attended sessions only, with
their hours and academic year) and the public hub list (for the hubs' names), read in
one round of calls. The CSV is the API's own, passed through with the user's token; the
certificate is built here (``certificates.py``) from the same data. Feedback posts to
``POST /api/bookings/<id>/feedback``, which says (409) when it was already given.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for

from gateway.web import session as signin
from gateway.web.base import api_field_errors, bp, download, field_errors, menu_item, with_api
from gateway.web.certificates import Certificate, certificate_pdf
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import LONDON, financial_year_of, parse_utc

menu_item("CPD record", "web.cpd_record", {"practitioner", "mentor", "hub_lead"}, order=30)

#: The API's bound on a comment (services/bookings/schemas.py FeedbackCreateSchema).
COMMENT_MAX = 4000
RATINGS = {
    "5": "Very good",
    "4": "Good",
    "3": "Neither good nor poor",
    "2": "Poor",
    "1": "Very poor",
}
FEEDBACK_FIELDS = {"rating": "rating", "comment": "comment"}


# -- reading -------------------------------------------------------------------------------
def hours_by_financial_year(items: Iterable[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        starts = parse_utc(item.get("starts_at"))
        if starts is None:
            continue
        # Hubs report grant spend by financial year, so hours are shown by it too,
        # written 2026/27 like the record's academic years.
        year = financial_year_of(starts.astimezone(LONDON).date(), "/")
        out[year] = round(out.get(year, 0.0) + float(item.get("hours") or 0), 2)
    return dict(sorted(out.items()))


def _record_and_hubs(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    record, hubs = parallel(
        lambda: api.get("/api/bookings/cpd-record"),
        lambda: api.get("/api/catalogue/hubs"),
    )
    names = {str(h["id"]): str(h.get("name") or "") for h in hubs.get("items", [])}
    return record, names


# -- the record ----------------------------------------------------------------------------
@bp.route("/cpd-record")
def cpd_record() -> Any:
    record, hub_names = with_api(_record_and_hubs)
    items = sorted(record.get("items", []), key=lambda i: i.get("starts_at", ""), reverse=True)
    return render_template(
        "web/cpd/record.html",
        record=record,
        items=items,
        hub_names=hub_names,
        by_financial_year=hours_by_financial_year(items),
    )


@bp.route("/cpd-record.csv")
def cpd_record_csv() -> Response:
    """The API's CSV as it is (its formula-safe cells, its columns), as a download."""
    return download("/api/bookings/cpd-record", "cpd-record.csv", format="csv")


@bp.route("/cpd-record/<uuid:booking_id>/certificate.pdf")
def cpd_certificate(booking_id: uuid.UUID) -> Response:
    """A certificate for one of your attended sessions; 404 for any other booking."""
    user = signin.user()
    record, hub_names = with_api(_record_and_hubs)
    item = next(
        (i for i in record.get("items", []) if i.get("booking_id") == str(booking_id)), None
    )
    starts = parse_utc(item.get("starts_at")) if item else None
    if item is None or starts is None or user is None:
        abort(404)
    pdf = certificate_pdf(
        Certificate(
            name=str(user["name"]),
            title=str(item.get("title") or ""),
            starts_at=starts,
            cpd_hours=float(item.get("hours") or 0),
            reference=str(booking_id),
            hub_name=hub_names.get(str(item.get("hub_id"))) or None,
        )
    )
    day = starts.astimezone(LONDON).date().isoformat()
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="cpd-certificate-{day}.pdf"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- feedback ------------------------------------------------------------------------------
def _feedback_page(
    booking: dict[str, Any],
    *,
    form: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    state: str = "form",
    status: int = 200,
) -> Any:
    errors = errors or []
    return (
        render_template(
            "web/cpd/feedback.html",
            booking=booking,
            form=form or {"rating": "", "comment": ""},
            errors=errors,
            by_field=field_errors(errors),
            state=state,
            ratings=RATINGS,
            comment_max=COMMENT_MAX,
        ),
        status,
    )


@bp.route("/my-bookings/<uuid:booking_id>/feedback", methods=["GET", "POST"])
def cpd_feedback(booking_id: uuid.UUID) -> Any:
    try:
        booking = with_api(lambda api: api.get(f"/api/bookings/{booking_id}"))
    except ApiError as exc:
        if exc.status in (403, 404):
            abort(404)
        raise
    user = signin.user()
    if user is None or booking.get("user_id") != user["id"]:
        abort(404)  # a hub lead may read others' bookings; feedback is the attendee's own
    if booking.get("status") != "attended":
        return _feedback_page(booking, state="not-attended", status=409)
    if request.method == "GET":
        return _feedback_page(booking)

    form = {
        "rating": request.form.get("rating", ""),
        "comment": request.form.get("comment", "").strip(),
    }
    errors: list[dict[str, str]] = []
    if form["rating"] not in RATINGS:
        errors.append({"field": "rating", "text": "Select how you would rate the session"})
    if len(form["comment"]) > COMMENT_MAX:
        errors.append(
            {"field": "comment", "text": f"Comments must be {COMMENT_MAX:,} characters or fewer"}
        )
    if errors:
        return _feedback_page(booking, form=form, errors=errors, status=400)
    body: dict[str, Any] = {"rating": int(form["rating"])}
    if form["comment"]:
        body["comment"] = form["comment"]
    try:
        with_api(lambda api: api.post(f"/api/bookings/{booking_id}/feedback", json=body))
    except ApiError as exc:
        if exc.status == 404:
            abort(404)
        if exc.status == 409:
            state = "not-attended" if exc.kind == "not-attended" else "given"
            return _feedback_page(booking, state=state, status=409)
        if exc.status != 422:
            raise
        return _feedback_page(
            booking, form=form, errors=api_field_errors(exc, FEEDBACK_FIELDS), status=422
        )
    title = (booking.get("session") or {}).get("title", "the session")
    flash(f"Thank you for your feedback on {title}.", "success")
    return redirect(url_for("web.cpd_record"))
