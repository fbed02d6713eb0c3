"""Marshmallow fields every API shares, so the platform speaks one dialect.

``Text`` is the only field for text a user sends (names, titles, reasons, queries):
NFC-normalised, length-bounded (the bound is required and documented as
``minLength``/``maxLength``), and free of what breaks the places text goes: control
characters (a CR/LF in a title split mail headers, a NUL in a name broke ICS lines
and CSV, and PostgreSQL refuses NUL outright), lone surrogates (not encodable as
UTF-8), and in one-line fields the Unicode line and paragraph separators. Multi-line
fields keep tab and newlines (CRLF and CR become LF). The rule is documented as the
property's ``pattern`` so clients generated from the OpenAPI send valid text; the
test over the input schemas (``tests/unit/test_input_fields.py``) refuses a plain
``fields.String`` for user text.

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

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields, validate
from marshmallow.types import Validator

#: The marker's key and value in the field's OpenAPI property.
OPENAPI_MARKER = "x-eyhub-field"
UTC_DATETIME = "UTCDateTime"
TEXT = "Text"
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


#: Refused in every text: C0 controls but tab/LF/CR, DEL and C1 controls (U+0085 NEL among
#: them, a line break to ``str.splitlines`` and so to mail headers).
_MULTI_LINE_BAD = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
#: One-line text also refuses tab, LF, CR and the Unicode line/paragraph separators.
_ONE_LINE_BAD = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
#: The documented rule (ECMA and Python regex alike); lone surrogates are refused too,
#: but a JSON body carrying one is already a 400 (``shared/web.py``).
MULTI_LINE_PATTERN = f"^[^{_MULTI_LINE_BAD}]*$"
ONE_LINE_PATTERN = f"^[^{_ONE_LINE_BAD}]*$"
_MULTI_LINE_REFUSED = re.compile(f"[{_MULTI_LINE_BAD}]")
_ONE_LINE_REFUSED = re.compile(f"[{_ONE_LINE_BAD}]")
_NEWLINES = re.compile(r"\r\n?")


class Text(fields.String):
    """User-supplied text: NFC, bounded, no control characters (see the module docstring).

    ``max_length`` is required: every text ends up in a column or a header of some size.
    ``multiline`` keeps tab and newlines. ``exact`` leaves the characters as sent (no
    NFC, no newline folding, control characters allowed; lone surrogates still refused)
    for secrets compared byte for byte, i.e. passwords: normalising them now would lock
    out whoever chose a non-NFC one.
    """

    default_error_messages = {
        "control": "Control characters and line breaks are not allowed here.",
        "control_multiline": "Control characters other than tab and newlines are not allowed.",
        "surrogate": "Not valid Unicode text (lone surrogate).",
    }

    def __init__(
        self,
        *,
        max_length: int,
        min_length: int = 0,
        multiline: bool = False,
        exact: bool = False,
        validate: Validator | Iterable[Validator] | None = None,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        extra = [validate] if callable(validate) else list(validate or ())
        marks: dict[str, Any] = {OPENAPI_MARKER: TEXT}
        if not exact:
            marks["pattern"] = MULTI_LINE_PATTERN if multiline else ONE_LINE_PATTERN
        super().__init__(
            validate=[_length(min_length, max_length), *extra],
            metadata={**marks, **(metadata or {})},
            **kwargs,
        )
        self.multiline = multiline
        self.exact = exact

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_utf8(text):
            raise self.make_error("surrogate")
        if self.exact:
            return text
        text = unicodedata.normalize("NFC", text)
        if self.multiline:
            text = _NEWLINES.sub("\n", text)
            if _MULTI_LINE_REFUSED.search(text):
                raise self.make_error("control_multiline")
        elif _ONE_LINE_REFUSED.search(text):
            raise self.make_error("control")
        return text


def _length(low: int, high: int) -> validate.Length:
    if high < max(low, 1):
        raise ValueError("Text needs a max_length of at least 1 and at least min_length")
    return validate.Length(min=low or None, max=high)


def is_utf8(text: str) -> bool:
    """False for a string holding a lone surrogate (``"\\ud800"``): JSON can carry one,
    but no header, hash or database can store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
