"""Reliable messaging on kombu (docs/architecture.md, "Messages"): outbox, relay, inbox,
retries, dead letters.

Public API:

- ``publish(session, event_type, data, *, causation_id=None, correlation_id=None)``:
  write an event in the caller's transaction (``shared.messaging.outbox``).
- ``Registry(service).handles(*event_types, queue=purpose)``: register a consumer
  handler ``fn(session, event: Event, ctx: HandlerContext)`` (``shared.messaging.inbox``;
  convention: a ``handlers`` registry in ``services/<svc>/handlers.py``, which the
  launcher hands to the worker; the topology is derived from the registries).
- ``is_stale(current_version, incoming_version)``: the version check for snapshot events.
- Topology (names, queues, bindings): ``shared.messaging.topology``.
- Test helpers (waiters): ``shared.messaging.testing``.
"""

from shared.messaging.envelope import Event, causation_id_var
from shared.messaging.inbox import HandlerContext, Registry, is_stale
from shared.messaging.outbox import publish

__all__ = [
    "Event",
    "HandlerContext",
    "Registry",
    "causation_id_var",
    "is_stale",
    "publish",
]
