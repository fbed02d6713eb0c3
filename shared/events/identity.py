"""Schemas of the ``identity.*`` events: the gateway tells every service who may act.

The gateway owns accounts; each service keeps a small replica (``shared.identity``) so
a token signed before a change stops working everywhere within seconds instead of at
its expiry. Both events carry the whole current state of the account (fat events), so
a replica needs nothing else, and ``changed_at`` orders them: a consumer ignores an
event older than what it holds (redelivery and reordering are harmless).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

USER_CHANGED = "identity.user.changed"
USER_DEACTIVATED = "identity.user.deactivated"

ROLES = ("practitioner", "mentor", "hub_lead", "admin")


class UserStateData(Schema):
    """An account as it is now, and the instant before which its tokens are void."""

    user_id = fields.UUID(required=True)
    is_active = fields.Boolean(required=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True)
    hub_ids = fields.List(fields.UUID(), required=True)
    #: Who to write to and how to address them (mentoring and budget mail people they
    #: only know by id); null in events from before these fields existed.
    email = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True)
    #: Tokens issued (``iat``) before this instant are refused; null: none are.
    tokens_valid_after = fields.AwareDateTime(required=True, allow_none=True)
    changed_at = fields.AwareDateTime(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    USER_CHANGED: UserStateData,
    USER_DEACTIVATED: UserStateData,
}
