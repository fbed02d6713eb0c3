"""Reliable messaging on kombu (DESIGN.md §4): outbox, relay, inbox, retries, dead letters.

Public API:

- ``publish(session, event_type, data, *, causation_id=None, correlation_id=None)``:
  write an event in the caller's transaction (``shared.messaging.outbox``).
- ``@handles(*event_types, queue=purpose)``: register a consumer handler
  ``fn(session, event: Event)`` (``shared.messaging.inbox``; convention: in
  ``services/<svc>/handlers.py``).
- ``is_stale(current_version, incoming_version)``: the version check for snapshot events.
- Topology (names, queues, bindings): ``shared.messaging.topology``.
- Test helpers (waiters): ``shared.messaging.testing``.
"""

from shared.messaging.envelope import Event, causation_id_var
from shared.messaging.inbox import REGISTRY, Registry, handles, is_stale
from shared.messaging.outbox import publish

__all__ = [
    "REGISTRY",
    "Event",
    "Registry",
    "causation_id_var",
    "handles",
    "is_stale",
    "publish",
]
