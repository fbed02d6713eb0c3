"""The one paginator: keyset pages behind an opaque cursor, ``(sort key, id)`` to us.

Every list is ordered by one sort column (a timestamp, or a unique text such as an
email) then the id, so a cursor is the last row's pair; the next page is everything
strictly after it, which never skips or repeats rows while others insert. Every list
answers ``{"items": [...], "next_cursor": str | null}`` and takes ``limit`` and
``cursor`` query parameters; ``Cursor`` and ``NextCursor`` are the fields that say so
in each schema, and mark their OpenAPI output so the merged-document test
(``tests/gateway/test_openapi.py``) can check every list uses them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.fields import OPENAPI_MARKER
from shared.problems import Problem

#: Room for the longest text key we page by (a 254-character email) plus the id.
MAX_CURSOR = 400
#: What a cursor is made of (unpadded base64url), stated in the OpenAPI.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
CURSOR = "Cursor"
NEXT_CURSOR = "NextCursor"


def encode_cursor(key: datetime | str, ident: uuid.UUID) -> str:
    """The cursor after a row whose sort key is ``key`` (an aware datetime or a text)."""
    text = key.isoformat() if isinstance(key, datetime) else key
    raw = f"{text}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def aware_datetime(text: str) -> datetime:
    """A timestamp sort key back from a cursor (naive ones were never ours)."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("naive")
    return when


def text_key(text: str) -> str:
    """A text sort key back from a cursor."""
    if not text:
        raise ValueError("empty")
    return text


def decode_cursor(
    cursor: str, parse: Callable[[str], Any] = aware_datetime
) -> tuple[Any, uuid.UUID]:
    """The pair inside a cursor; a 422 problem naming ``cursor`` if it is not ours."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        key, _, ident = raw.decode().rpartition("|")  # the id has no "|"; an email may
        return parse(key), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "Invalid request",
            "The cursor is not valid.",
            kind="validation",
            errors={"cursor": ["Not a cursor from this API."]},
        ) from exc


def after(
    key: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[Any],
    pair: tuple[Any, uuid.UUID],
    *,
    descending: bool = False,
) -> ColumnElement[bool]:
    """Rows strictly after ``pair`` in ``(key, ident)`` order (or in its reverse)."""
    value, last_id = pair
    if descending:
        return or_(key < value, and_(key == value, ident < last_id))
    return or_(key > value, and_(key == value, ident > last_id))


def page(
    session: Session,
    query: Select[Any],
    *,
    key: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
    parse: Callable[[str], Any] = aware_datetime,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` (a ``select`` of one entity) in ``(key, ident)`` order, or
    newest first with ``descending``.

    Fetches ``limit + 1`` rows so the last page is known without a count.
    """
    if cursor:
        pair = decode_cursor(cursor, parse)
        query = query.where(after(key, ident, pair, descending=descending))
    order = (key.desc(), ident.desc()) if descending else (key, ident)
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)).unique())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, key.key), getattr(last, ident.key))


def _marked(kind: str, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {OPENAPI_MARKER: kind, **(metadata or {})}


#: A cursor every list takes (before the first row of any list): the OpenAPI example, so
#: a client or fuzzer trying the documented example gets a page, not a 422.
CURSOR_EXAMPLE = encode_cursor(datetime(2000, 1, 1, tzinfo=UTC), uuid.UUID(int=0))


class Cursor(fields.String):
    """The ``cursor`` query parameter of a list."""

    def __init__(self, *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        about = {
            "description": "The next_cursor of the previous page.",
            "pattern": CURSOR_PATTERN,
            "example": CURSOR_EXAMPLE,
        }
        kwargs.setdefault("validate", validate.Length(max=MAX_CURSOR))
        super().__init__(metadata=_marked(CURSOR, {**about, **(metadata or {})}), **kwargs)


class NextCursor(fields.String):
    """A page's ``next_cursor``: pass it as ``cursor`` for the next page; null on the last."""

    def __init__(self, *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        about = {"description": "Pass as cursor to get the next page; null on the last page."}
        kwargs.setdefault("allow_none", True)
        super().__init__(metadata=_marked(NEXT_CURSOR, {**about, **(metadata or {})}), **kwargs)
