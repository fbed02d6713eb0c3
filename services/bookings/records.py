"""Read models: the roster, the CPD record and the feedback summary (and their CSV forms)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from services.bookings.models import ATTENDED, ENDED, WAITLISTED, Booking, Feedback, SessionReplica
from services.bookings.operations import counts

LONDON = ZoneInfo("Europe/London")
#: Comments are shown only from this many responses on, so no one is identifiable.
MIN_RESPONSES_FOR_COMMENTS = 3


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (CSV injection) in text cells."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def roster(s: Session, row: SessionReplica) -> dict[str, Any]:
    """Everyone with an active booking: places first, then the waiting list in order."""
    waiting_last = case((Booking.status == WAITLISTED, 1), else_=0)
    bookings = s.scalars(
        select(Booking)
        .where(Booking.session_id == row.id, Booking.status.not_in(ENDED))
        .order_by(waiting_last, Booking.waitlist_position, Booking.created_at, Booking.id)
    )
    c = counts(s, row.id)
    return {
        "session": row,
        "capacity": row.capacity,
        "confirmed": c["confirmed"],
        "waitlisted": c["waitlisted"],
        "items": [
            {
                "booking_id": b.id,
                "user_id": b.user_id,
                "name": b.user_name,
                "email": b.user_email,
                "setting_type": b.setting_type,
                "status": b.status,
                "waitlist_position": b.waitlist_position,
                "booked_at": b.created_at,
            }
            for b in bookings
        ],
    }


ROSTER_CSV_HEADER = (
    "booking_id",
    "name",
    "email",
    "setting_type",
    "status",
    "waitlist_position",
    "booked_at",
)


def roster_csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            str(i["booking_id"]),
            i["name"],
            i["email"],
            i["setting_type"] or "",
            i["status"],
            "" if i["waitlist_position"] is None else i["waitlist_position"],
            i["booked_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        ]
        for i in data["items"]
    ]


def academic_year(row: SessionReplica) -> str:
    """English school year (September to August) of the session, e.g. ``2026/27``."""
    local = row.starts_at.astimezone(LONDON)
    start = local.year if local.month >= 9 else local.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def session_hours(row: SessionReplica) -> Decimal:
    """The event's CPD hours, or the session's length when the event gives none."""
    if row.cpd_hours and row.cpd_hours > 0:
        return Decimal(row.cpd_hours)
    seconds = Decimal(int((row.ends_at - row.starts_at).total_seconds()))
    return (seconds / Decimal(3600)).quantize(Decimal("0.01"))


def cpd_record(s: Session, user_id: str) -> dict[str, Any]:
    """Hours from attended sessions, in total, per topic and per academic year."""
    bookings = list(
        s.scalars(
            select(Booking)
            .join(SessionReplica, Booking.session_id == SessionReplica.id)
            .where(Booking.user_id == user_id, Booking.status == ATTENDED)
            .order_by(SessionReplica.starts_at, Booking.id)
        )
    )
    given = set(
        s.scalars(
            select(Feedback.booking_id).where(Feedback.booking_id.in_([b.id for b in bookings]))
        )
    )
    total = Decimal(0)
    by_topic: dict[str, Decimal] = {}
    by_year: dict[str, Decimal] = {}
    items = []
    for b in bookings:
        row = b.session
        hours = session_hours(row)
        year = academic_year(row)
        total += hours
        by_year[year] = by_year.get(year, Decimal(0)) + hours
        for topic in row.topics or []:
            by_topic[topic] = by_topic.get(topic, Decimal(0)) + hours
        items.append(
            {
                "booking_id": b.id,
                "session_id": row.id,
                "title": row.title,
                "kind": row.kind,
                "hub_id": row.hub_id,
                "topics": list(row.topics or []),
                "starts_at": row.starts_at,
                "ends_at": row.ends_at,
                "hours": float(hours),
                "year": year,
                "feedback_given": b.id in given,
            }
        )
    return {
        "total_hours": float(total),
        "by_topic": {k: float(v) for k, v in sorted(by_topic.items())},
        "by_year": {k: float(v) for k, v in sorted(by_year.items())},
        "items": items,
    }


CPD_CSV_HEADER = ("date", "title", "kind", "topics", "hours", "year", "session_id")


def cpd_csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            i["starts_at"].astimezone(LONDON).strftime("%Y-%m-%d"),
            i["title"],
            i["kind"],
            ";".join(i["topics"]),
            f"{i['hours']:.2f}",
            i["year"],
            str(i["session_id"]),
        ]
        for i in data["items"]
    ]


def feedback_summary(s: Session, session_id: uuid.UUID) -> dict[str, Any]:
    """Ratings for a hub lead; comments only once there are enough to stay anonymous."""
    rows = list(s.scalars(select(Feedback).where(Feedback.session_id == session_id)))
    ratings = {str(n): 0 for n in range(1, 6)}
    for f in rows:
        ratings[str(f.rating)] += 1
    enough = len(rows) >= MIN_RESPONSES_FOR_COMMENTS
    return {
        "session_id": session_id,
        "responses": len(rows),
        "average_rating": round(sum(f.rating for f in rows) / len(rows), 2) if rows else None,
        "ratings": ratings,
        # Sorted, not in arrival order, so a comment cannot be matched to a booking by time.
        "comments": sorted(f.comment for f in rows if f.comment) if enough else None,
        "comments_withheld": not enough,
    }
