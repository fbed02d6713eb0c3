"""The event-schema registry: one marshmallow schema per (event type, version).

Producer (``shared.messaging.publish``) and consumers load every payload through the
same schema, so a field that one side renamed fails at the producer's commit, not in
another service's worker at 3am. Schemas live next to this file, one module per
producing service (``shared/events/bookings.py``, ``catalogue.py``...); each module
exposes ``SCHEMAS: dict[event_type, Schema class]`` (version 1) and, when a type has
more versions, ``VERSIONED: dict[(event_type, version), Schema class]``. The modules are
discovered on first use; tests and tools may ``register`` more.

A consumer that meets a type or version it has no schema for does not crash: the
message goes to dead letters with the reason (see ``shared.messaging.inbox``).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

__all__ = [
    "InvalidEventData",
    "UnknownEvent",
    "dump",
    "known_types",
    "latest_version",
    "load",
    "register",
    "schema_for",
]


class UnknownEvent(LookupError):
    """No schema for this (type, version): the message cannot be understood here."""


class InvalidEventData(ValueError):
    """The data does not fit the schema of its type and version."""

    def __init__(self, event_type: str, version: int, errors: Any) -> None:
        super().__init__(f"{event_type} v{version}: invalid data: {errors}")
        self.errors = errors


_SCHEMAS: dict[tuple[str, int], type[Schema]] = {}
_lock = threading.Lock()
_discovered = False


def register(event_type: str, schema: type[Schema], *, version: int = 1) -> None:
    """Add a schema; registering the same class twice is harmless, a different one is not."""
    key = (event_type, version)
    with _lock:
        existing = _SCHEMAS.get(key)
        if existing is not None and existing is not schema:
            raise ValueError(f"{event_type} v{version} already has schema {existing.__name__}")
        _SCHEMAS[key] = schema


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for event_type, schema in getattr(module, "SCHEMAS", {}).items():
            register(event_type, schema, version=1)
        for (event_type, version), schema in getattr(module, "VERSIONED", {}).items():
            register(event_type, schema, version=version)
    _discovered = True


def known_types() -> dict[str, list[int]]:
    """Every registered type with its versions (for docs and checks)."""
    _discover()
    out: dict[str, list[int]] = {}
    for event_type, version in sorted(_SCHEMAS):
        out.setdefault(event_type, []).append(version)
    return out


def latest_version(event_type: str) -> int:
    _discover()
    versions = [v for (t, v) in _SCHEMAS if t == event_type]
    if not versions:
        raise UnknownEvent(f"unknown event type {event_type!r}: no schema in shared/events")
    return max(versions)


#: Schema instances by (type, version): one per schema class, as building one costs more
#: than a load or dump with it (which keep no per-call state on the instance).
_INSTANCES: dict[tuple[str, int], tuple[type[Schema], Schema]] = {}


def schema_for(event_type: str, version: int | None = None) -> Schema:
    _discover()
    version = latest_version(event_type) if version is None else version
    schema = _SCHEMAS.get((event_type, version))
    if schema is None:
        known = known_types().get(event_type)
        if not known:
            raise UnknownEvent(f"unknown event type {event_type!r}: no schema in shared/events")
        raise UnknownEvent(f"unknown version {version} of {event_type!r} (known: {known})")
    cached = _INSTANCES.get((event_type, version))
    if cached is None or cached[0] is not schema:
        cached = _INSTANCES[(event_type, version)] = (schema, schema())
    return cached[1]


def dump(event_type: str, data: dict[str, Any], version: int | None = None) -> dict[str, Any]:
    """Producer side: validate ``data`` (Python values or JSON form) and return JSON form.

    Unknown fields are refused here, so a producer cannot send what no schema names.
    """
    version = latest_version(event_type) if version is None else version
    schema = schema_for(event_type, version)
    try:
        loaded = schema.load(data, unknown=RAISE)
    except ValidationError as exc:
        raise InvalidEventData(event_type, version, exc.messages) from exc
    return schema.dump(loaded)


def load(event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Consumer side: JSON form → Python values. Unknown fields are ignored (tolerant reader)."""
    schema = schema_for(event_type, version)
    try:
        return schema.load(payload, unknown=EXCLUDE)
    except ValidationError as exc:
        raise InvalidEventData(event_type, version, exc.messages) from exc
