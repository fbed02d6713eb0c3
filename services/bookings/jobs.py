"""Periodic work of the bookings worker: reminders the day before a session, payment
holds and offers past due, refunds waiting to be sent to Stripe."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from services.bookings.models import CONFIRMED, Booking, SessionReplica
from shared.config import Settings
from shared.db import Database, utcnow
from shared.mail import new_message, queue_mail
from shared.worker import Worker

log = logging.getLogger("eyhub.bookings.jobs")

REMIND_BEFORE = timedelta(hours=24)


def send_reminders(db: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """Queue one reminder per confirmed booking whose session starts within a day.

    A booking made inside that day already had its confirmation (with the same
    details) and gets no reminder. Safe with several workers: rows are claimed with
    ``SKIP LOCKED`` on PostgreSQL (SQLite serialises transactions).
    """
    from services.bookings import notify

    now = now or utcnow()
    sent = 0
    with db.transaction() as s:
        query = (
            select(Booking)
            .join(SessionReplica, Booking.session_id == SessionReplica.id)
            .where(
                Booking.status == CONFIRMED,
                Booking.reminder_sent_at.is_(None),
                SessionReplica.status == "scheduled",
                SessionReplica.event_status == "published",
                SessionReplica.starts_at > now,
                SessionReplica.starts_at <= now + REMIND_BEFORE,
            )
            .order_by(SessionReplica.starts_at, Booking.id)
            .limit(200)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Booking)
        for booking in s.scalars(query):
            row = booking.session
            booking.reminder_sent_at = now
            if booking.confirmed_at and booking.confirmed_at > row.starts_at - REMIND_BEFORE:
                continue
            body = notify.render("reminder", row, person=booking.user_name)
            queue_mail(
                s,
                new_message(
                    settings,
                    to=booking.user_email,
                    subject=f"Reminder: {row.title}",
                    text=body.text,
                    html=body.html,
                ),
            )
            sent += 1
    return sent


def register(worker: Worker) -> None:
    """Add the bookings service's periodic jobs to its worker (one replica at a time)."""

    @worker.every(60.0, "bookings-reminders", singleton_lock=True)
    def _reminders() -> None:
        send_reminders(worker.db, worker.settings)

    from services.bookings import payments

    @worker.every(15.0, "bookings-payment-holds", singleton_lock=True)
    def _holds() -> None:
        payments.expire_holds(worker.db, worker.settings)

    @worker.every(5.0, "bookings-refunds", singleton_lock=True)
    def _refunds() -> None:
        payments.execute_refunds(worker.db, worker.settings)
