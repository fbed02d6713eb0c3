"""Keyset pagination cursors: opaque to clients, ``(timestamp, id)`` to us.

Lists are ordered by a timestamp then the id, so a cursor is the last row's pair;
the next page is everything strictly after it, which never skips or repeats rows
while others insert.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from shared.problems import Problem


def encode_cursor(stamp: datetime, ident: uuid.UUID) -> str:
    raw = f"{stamp.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The pair inside a cursor; a 422 problem naming ``cursor`` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "Invalid request",
            "The cursor is not valid.",
            kind="validation",
            errors={"cursor": ["Not a cursor from this API."]},
        ) from exc
