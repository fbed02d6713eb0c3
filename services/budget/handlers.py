"""Bus consumers of the budget service (docs/budget.md, "The saga").

Each handler runs in the inbox transaction (applied exactly once per message) and calls
one function of ``operations``, the same functions the API calls. The booking events
share one queue, ``budget.bookings-ledger``, so they are applied in the order bookings
published them; the handlers still converge when a retried message comes late (a
cancellation before its funding request leaves a tombstone, attendance before it
waits for it, and older attendance recordings are ignored).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.budget import operations as ops
from shared.events import bookings as booking_events
from shared.events import mentoring as mentoring_events
from shared.identity import follow_identity
from shared.messaging import Event, HandlerContext, Registry

#: What the budget worker consumes; the launcher hands it to the worker and the bus
#: topology is derived from it (one queue per purpose, bound to these types).
handlers = Registry("budget")
follow_identity(handlers)


@handlers.handles(booking_events.FUNDING_REQUESTED, queue="bookings-ledger")
def on_funding_requested(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.request_funding(s, event.data, now=ctx.clock())


@handlers.handles(booking_events.BOOKING_CANCELLED, queue="bookings-ledger")
def on_booking_cancelled(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.cancel_funding(s, event.data, now=ctx.clock())


@handlers.handles(booking_events.ATTENDANCE_RECORDED, queue="bookings-ledger")
def on_attendance_recorded(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.record_attendance(s, event.data, now=ctx.clock())


@handlers.handles(booking_events.PAYMENT_SUCCEEDED, queue="bookings-ledger")
def on_payment_succeeded(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.payment_succeeded(s, event.data, now=ctx.clock())


@handlers.handles(booking_events.PAYMENT_REFUNDED, queue="bookings-ledger")
def on_payment_refunded(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.payment_refunded(s, event.data, now=ctx.clock())


@handlers.handles(mentoring_events.MEETING_LOGGED, queue="mentoring-meetings")
def on_meeting_logged(s: Session, event: Event, ctx: HandlerContext) -> None:
    ops.meeting_logged(s, event.data, now=ctx.clock())
