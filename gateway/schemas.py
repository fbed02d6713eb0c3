"""What the identity API accepts and answers (marshmallow 4).

Every text a client sends is a ``shared.fields.Text`` (bounded, NFC, no control
characters), so the OpenAPI states the lengths, enums and patterns enforced here.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

from shared.auth import ROLES
from shared.fields import Text, UTCDateTime
from shared.pagination import Cursor, NextCursor
from shared.vocabulary import SETTING_TYPES

#: An email address as the API checks it (marshmallow's Email validator): documented as a
#: pattern too, so generated clients send addresses it takes.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$"
)
URN_PATTERN = r"^(?:[A-Za-z]{1,2})?\d{6,8}$"
# Passwords are compared byte for byte: taken as sent (Text(exact=True)).
_password = Text(
    required=True,
    load_only=True,
    exact=True,
    min_length=8,
    max_length=256,
    metadata={"description": "At least 8 characters."},
)
_email = Text(
    required=True,
    max_length=254,
    validate=validate.Email(),
    metadata={"format": "email", "pattern": EMAIL_PATTERN},
)
_name = Text(required=True, min_length=1, max_length=200)
_setting_type = fields.String(validate=validate.OneOf(SETTING_TYPES), allow_none=True)
_setting_name = Text(max_length=200, allow_none=True)
_urn = Text(
    max_length=10,
    validate=validate.Regexp(URN_PATTERN, error="Not an Ofsted URN."),
    allow_none=True,
    metadata={
        "description": "Ofsted unique reference number, e.g. EY123456.",
        "pattern": URN_PATTERN,
    },
)


class _EmailInput(Schema):
    """People paste addresses with stray spaces; accept them (case is normalised later)."""

    @pre_load
    def _strip_email(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            return {**data, "email": data["email"].strip()}
        return data


class RegisterSchema(_EmailInput):
    email = _email
    password = _password
    name = _name
    setting_type = fields.String(required=True, validate=validate.OneOf(SETTING_TYPES))
    setting_name = _setting_name
    ofsted_urn = _urn
    hub_id = fields.UUID(allow_none=True, metadata={"description": "The practitioner's hub."})


class TokenRequestSchema(_EmailInput):
    email = Text(required=True, min_length=1, max_length=254)
    password = Text(required=True, load_only=True, exact=True, max_length=256)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})
    refresh_token = fields.String(
        required=True,
        metadata={"description": "Single use: trade it at /api/auth/refresh for a new pair."},
    )
    refresh_expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


class UserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True)
    hub_ids = fields.List(fields.UUID(), required=True)
    setting_type = fields.String(allow_none=True)
    setting_name = fields.String(allow_none=True)
    ofsted_urn = fields.String(allow_none=True)
    is_active = fields.Boolean(required=True)
    created_at = UTCDateTime(required=True)


_roles = fields.List(
    fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(min=1, max=4)
)
_hub_ids = fields.List(fields.UUID(), validate=validate.Length(max=50))


class UserCreateSchema(_EmailInput):
    email = _email
    password = _password
    name = _name
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        load_default=lambda: ["practitioner"],
        validate=validate.Length(min=1, max=4),
    )
    hub_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=50))
    setting_type = _setting_type
    setting_name = _setting_name
    ofsted_urn = _urn


class UserUpdateSchema(Schema):
    name = Text(min_length=1, max_length=200)
    roles = _roles
    hub_ids = _hub_ids
    setting_type = _setting_type
    setting_name = _setting_name
    ofsted_urn = _urn
    is_active = fields.Boolean()


class UserQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = Cursor()
    role = fields.String(validate=validate.OneOf(ROLES))
    hub_id = fields.UUID()
    q = Text(min_length=1, max_length=100)


class UserPageSchema(Schema):
    items = fields.List(fields.Nested(UserSchema), required=True)
    next_cursor = NextCursor(required=True)


class JwksSchema(Schema):
    keys = fields.List(fields.Dict(), required=True)


class RefreshRequestSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LogoutSchema(Schema):
    refresh_token = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "End this session (its refresh token family)."},
    )
    everywhere = fields.Boolean(
        load_default=False,
        metadata={"description": "End every session of the account, access tokens included."},
    )


class RegistrationSchema(Schema):
    email = fields.String(required=True)
    detail = fields.String(required=True)


class ConfirmEmailSchema(Schema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4000),
        metadata={"description": "From the link in the confirmation email."},
    )
