"""What the identity API accepts and answers (marshmallow 4)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

from shared.auth import ROLES
from shared.fields import UTCDateTime
from shared.pagination import Cursor, NextCursor
from shared.vocabulary import SETTING_TYPES

_password = fields.String(
    required=True,
    load_only=True,
    validate=validate.Length(min=8, max=256),
    metadata={"description": "At least 8 characters."},
)
_email = fields.Email(required=True, validate=validate.Length(max=254))
_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
_setting_type = fields.String(validate=validate.OneOf(SETTING_TYPES), allow_none=True)
_setting_name = fields.String(validate=validate.Length(max=200), allow_none=True)
_urn = fields.String(
    validate=validate.Regexp(r"^(?:[A-Za-z]{1,2})?\d{6,8}$", error="Not an Ofsted URN."),
    allow_none=True,
    metadata={"description": "Ofsted unique reference number, e.g. EY123456."},
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
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=256))


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


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
    name = fields.String(validate=validate.Length(min=1, max=200))
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
    q = fields.String(validate=validate.Length(min=1, max=100))


class UserPageSchema(Schema):
    items = fields.List(fields.Nested(UserSchema), required=True)
    next_cursor = NextCursor(required=True)


class JwksSchema(Schema):
    keys = fields.List(fields.Dict(), required=True)
