"""Marshmallow fields every API shares, so the platform speaks one dialect.

``UTCDateTime`` is the only datetime field an API schema may use: it always answers
``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds, UTC, as the bookings API always has), and on
input takes ISO 8601 with ``Z`` or an offset, converted to aware UTC. Naive times are
refused because "10:00" means different instants in winter and summer in the UK.

The field marks its OpenAPI property with ``x-eyhub-field`` so the schema test over the
merged document (``tests/gateway/test_openapi.py``) can tell it from a plain
``fields.DateTime``, which documents the same ``format: date-time`` but renders
``+00:00``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields

#: The marker's key and value in the field's OpenAPI property.
OPENAPI_MARKER = "x-eyhub-field"
UTC_DATETIME = "UTCDateTime"
EXAMPLE = "2027-03-01T09:30:00Z"
WIRE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Longer input is not a date-time; refusing it early bounds the parser's work.
MAX_INPUT = 40
#: A sane window: rejects typos like year 20027 and keeps arithmetic clear of overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class UTCDateTime(fields.DateTime):
    """An aware UTC datetime on the wire as ``...Z``; input needs ``Z`` or an offset."""

    default_error_messages = {
        "invalid": "Not a valid ISO 8601 date-time, e.g. " + EXAMPLE + ".",
        "naive": "Give a time zone: end with Z or an offset like +01:00, e.g. " + EXAMPLE + ".",
        "range": "Must be between the years {earliest} and {last}.",
    }

    def __init__(
        self,
        *,
        earliest: datetime = EARLIEST,
        latest: datetime = LATEST,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        marks = {"example": EXAMPLE, OPENAPI_MARKER: UTC_DATETIME}
        super().__init__(metadata={**marks, **(metadata or {})}, **kwargs)
        self.earliest = earliest
        self.latest = latest

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # Same rule as shared.db.UTCDateTime: a naive value is a bug upstream, not UTC.
            raise ValueError(f"naive datetime given to UTCDateTime field {attr!r}")
        return value.astimezone(UTC).strftime(WIRE_FORMAT)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or len(value) > MAX_INPUT:
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if parsed.tzinfo is None:
            raise self.make_error("naive")
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00
            raise self.make_error("invalid") from exc
        if not self.earliest <= parsed < self.latest:
            raise self.make_error("range", earliest=self.earliest.year, last=self.latest.year - 1)
        return parsed
