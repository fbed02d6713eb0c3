"""Schemathesis hooks for tests/e2e/test_gateway_schemathesis.py (``SCHEMATHESIS_HOOKS``).

What OpenAPI 3.0 cannot state, random data almost never meets, so without this the run
would only ever test the refusal:

- a body field that must name something that exists (an event's or a registration's
  ``hub_id``, a booking's ``session_id``, a refresh token) or keep a rule between two
  fields (a session ends after it starts, within 12 hours): set from
  ``EYHUB_FUZZ_BODIES`` (``{"POST /api/bookings": {"session_id": "..."}, ...}``; a null
  value removes the field);
- rules between fields that the operations' descriptions state: where an event happens
  (``venue`` for in-person and hybrid, ``online_url`` for online and hybrid), a feed's
  ``hub_id`` only with ``scope: hub``, each booking once in an attendance list.
  A reconciliation window reads forwards, within 2000-04-01..2099-03-31, at most 400 days.

Only *positive* cases are changed, in every phase (the config file's ``body.*``
parameters would reach the fuzzing phase only); negative cases stay as generated, to be
refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import schemathesis
from schemathesis import GenerationMode

BODIES: dict[str, dict[str, Any]] = json.loads(os.environ.get("EYHUB_FUZZ_BODIES", "{}"))
VENUE = "Hub room 1"
ONLINE_URL = "https://meet.example.org/fuzz"


def _where(body: dict[str, Any]) -> None:
    fmt = body.get("format")
    if fmt in ("in_person", "hybrid") and not body.get("venue"):
        body["venue"] = VENUE
    if fmt in ("online", "hybrid") and not body.get("online_url"):
        body["online_url"] = ONLINE_URL


def _meeting(body: dict[str, Any]) -> None:
    fmt = body.get("format")
    if fmt == "in_person":
        body["location"] = body.get("location") or VENUE
        body["online_url"] = None
    elif fmt == "online":
        body["online_url"] = body.get("online_url") or ONLINE_URL
        body["location"] = None


def _feed(body: dict[str, Any]) -> None:
    if body.get("scope") == "me":
        body.pop("hub_id", None)


def _attendance(body: dict[str, Any]) -> None:
    records = body.get("records")
    if isinstance(records, list):
        seen: dict[Any, Any] = {}
        for record in records:
            if isinstance(record, dict):
                seen.setdefault(record.get("booking_id"), record)
        body["records"] = list(seen.values()) or records[:1]


#: The days the budget keeps (its financial years 2000-01 to 2098-99).
FIRST_DAY, LAST_DAY = date(2000, 4, 1), date(2099, 3, 31)


def _date_range(query: dict[str, Any]) -> None:
    """A reconciliation window reads forwards, within the years the budget keeps, and
    spans at most 400 days (documented);
    a missing end is filled in so that the other one cannot break the rule alone."""
    days = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(str(query[name])) if name in query else None
        except ValueError:
            return  # not a date: the schema refuses it, as it should
    first, last = days["from"], days["to"]
    if first is None and last is None:
        return
    first = first or last - timedelta(days=30)  # type: ignore[operator]
    last = last or first + timedelta(days=30)
    first, last = (min(max(d, FIRST_DAY), LAST_DAY) for d in (first, last))
    if first > last:
        first, last = last, first
    last = min(last, first + timedelta(days=399))  # 400 days, both ends included
    query["from"], query["to"] = first.isoformat(), last.isoformat()


#: The same, for query strings.
QUERY_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "GET /api/budget/hubs/{hub_id}/reconciliation": _date_range,
}


RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "POST /api/catalogue/events": _where,
    "PATCH /api/catalogue/events/{event_id}": _where,
    "POST /api/bookings/calendar-feeds": _feed,
    "POST /api/bookings/sessions/{session_id}/attendance": _attendance,
    "POST /api/mentoring/matches/{match_id}/meetings": _meeting,
    "PATCH /api/mentoring/meetings/{meeting_id}": _meeting,
}


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    label = case.operation.label
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and label in QUERY_RULES and isinstance(case.query, dict):
        QUERY_RULES[label](case.query)
    if not isinstance(case.body, dict) or (label not in BODIES and label not in RULES):
        return
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return
    for name, value in BODIES.get(label, {}).items():
        if value is None:
            case.body.pop(name, None)
        else:
            case.body[name] = value
    if label in RULES:
        RULES[label](case.body)
