"""The envelope every bus message is (docs/architecture.md, "Messages"), and the causation
context.

``{"id", "type", "occurred_at", "source", "correlation_id", "causation_id", "version",
"data"}``. ``data`` is validated by the event's schema in ``shared.events``; the
envelope itself by ``EnvelopeSchema`` here, so a consumer can tell "not one of our
messages" from "one of ours with a type it does not know".
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

#: Id of the message whose handler is running (events it publishes are caused by it).
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)


class EnvelopeSchema(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    occurred_at = fields.AwareDateTime(required=True)
    source = fields.String(required=True)
    correlation_id = fields.String(allow_none=True, load_default=None)
    causation_id = fields.String(allow_none=True, load_default=None)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    data = fields.Dict(required=True)


#: One instance for every message: building a marshmallow schema costs more than using it,
#: and ``load``/``dump`` keep no per-call state on the instance.
_ENVELOPE = EnvelopeSchema()


class BadEnvelope(ValueError):
    """The body is not an eyhub envelope at all."""


@dataclass(frozen=True)
class Event:
    """A received message: envelope fields plus ``data`` loaded by its schema."""

    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    source: str
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]
    #: the envelope exactly as received (JSON form)
    raw: dict[str, Any]


def parse_envelope(body: Any) -> dict[str, Any]:
    """Validate the envelope (not the data); returns the loaded fields."""
    if not isinstance(body, dict):
        raise BadEnvelope(f"message body is {type(body).__name__}, not an envelope object")
    try:
        return _ENVELOPE.load(body, unknown=EXCLUDE)
    except ValidationError as exc:
        raise BadEnvelope(f"not an eyhub envelope: {exc.messages}") from exc


def make_envelope(
    *,
    id: uuid.UUID,
    event_type: str,
    version: int,
    occurred_at: datetime,
    source: str,
    correlation_id: str | None,
    causation_id: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    return _ENVELOPE.dump(
        {
            "id": id,
            "type": event_type,
            "occurred_at": occurred_at,
            "source": source,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "version": version,
            "data": data,
        }
    )
