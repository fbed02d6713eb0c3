"""Schemas of the ``catalogue.*`` events (docs/architecture.md, "Event catalogue"): the
producer and consumers share them.

Fat events: ``scheduled`` and ``rescheduled`` carry the whole session with the event
fields a booker needs, so bookings can keep its replica without calling back. Every
session event carries the session's ``sequence``: a consumer ignores anything older
than what it holds (redeliveries and reordering are harmless). Times are RFC 3339
UTC; money is integer pence.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

SESSION_SCHEDULED = "catalogue.session.scheduled"
SESSION_RESCHEDULED = "catalogue.session.rescheduled"
SESSION_CANCELLED = "catalogue.session.cancelled"
EVENT_UPDATED = "catalogue.event.updated"
HUB_CREATED = "catalogue.hub.created"

KINDS = ("webinar", "training", "moderation", "network_meeting")
FORMATS = ("online", "in_person", "hybrid")
EVENT_STATUSES = ("draft", "published", "cancelled")
SESSION_STATUSES = ("scheduled", "cancelled")
#: What a ``rescheduled`` event says changed (a session change other than cancelling).
CHANGES = ("times", "capacity", "venue")


class _EventFields(Schema):
    """The event's fields as every session event and ``event.updated`` carry them."""

    event_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    hub_name = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    summary = fields.String(required=True)
    audience = fields.List(fields.String(), required=True)
    topics = fields.List(fields.String(), required=True)
    cpd_hours = fields.Float(required=True)
    price_pence = fields.Integer(required=True, validate=validate.Range(min=0))
    funded_places = fields.Integer(required=True, validate=validate.Range(min=0))
    cost_per_funded_place_pence = fields.Integer(required=True, validate=validate.Range(min=0))
    # Added with payments and budget: older messages lack them, hence the defaults.
    funding_line = fields.String(load_default="backfill")
    funded_setting_types = fields.List(fields.String(), load_default=list)
    refund_days_before = fields.Integer(load_default=7, validate=validate.Range(min=0))
    online_url = fields.String(allow_none=True, required=True)
    event_status = fields.String(required=True, validate=validate.OneOf(EVENT_STATUSES))


class SessionSnapshot(_EventFields):
    """One bookable session and its event (the replica bookings keeps)."""

    session_id = fields.UUID(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    capacity = fields.Integer(required=True, validate=validate.Range(min=1))
    sequence = fields.Integer(required=True, validate=validate.Range(min=0))
    status = fields.String(required=True, validate=validate.OneOf(SESSION_STATUSES))
    venue = fields.String(allow_none=True, required=True)


class SessionScheduledData(SessionSnapshot):
    """A session became bookable: its event was published, or it was added to a published one."""


class SessionRescheduledData(SessionSnapshot):
    """A session changed (times, capacity or venue); ``sequence`` went up by one.

    ``starts_at``/``ends_at`` are the new times, ``old_*`` the previous ones (equal when
    only capacity or venue changed). A capacity below the places already confirmed bumps
    no one: bookings keeps them and confirms no more until the count falls under it.
    """

    old_starts_at = fields.AwareDateTime(required=True)
    old_ends_at = fields.AwareDateTime(required=True)
    old_capacity = fields.Integer(required=True)
    changes = fields.List(fields.String(validate=validate.OneOf(CHANGES)), required=True)


class SessionCancelledData(Schema):
    """A session will not happen (alone, or because its whole event was cancelled)."""

    session_id = fields.UUID(required=True)
    event_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    reason = fields.String(required=True)
    sequence = fields.Integer(required=True, validate=validate.Range(min=0))
    starts_at = fields.AwareDateTime(required=True)
    cancelled_at = fields.AwareDateTime(required=True)
    event_cancelled = fields.Boolean(required=True)


class EventUpdatedData(_EventFields):
    """An event's own fields changed (title, venue, price...); applies to all its sessions.

    ``venue`` is the event's venue; a session with its own venue keeps it.
    ``changed_at`` orders updates: an older one than a consumer holds is ignored.
    """

    venue = fields.String(allow_none=True, required=True)
    capacity = fields.Integer(required=True, validate=validate.Range(min=1))
    changed = fields.List(fields.String(), required=True)
    changed_at = fields.AwareDateTime(required=True)


class HubCreatedData(Schema):
    """A new hub: the gateway learns which hub ids exist (roles are scoped to them)."""

    hub_id = fields.UUID(required=True)
    name = fields.String(required=True)
    region = fields.String(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    HUB_CREATED: HubCreatedData,
    SESSION_SCHEDULED: SessionScheduledData,
    SESSION_RESCHEDULED: SessionRescheduledData,
    SESSION_CANCELLED: SessionCancelledData,
    EVENT_UPDATED: EventUpdatedData,
}
