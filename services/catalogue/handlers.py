"""Bus consumers of the catalogue service: the identity replica (shared/identity.py), so
tokens of deactivated accounts, or carrying rights taken away, stop working here."""

from __future__ import annotations

from shared.identity import follow_identity
from shared.messaging import Registry

#: What the catalogue worker consumes; the launcher hands it to the worker and the bus
#: topology is derived from it (one queue per purpose, bound to these types).
handlers = Registry("catalogue")
follow_identity(handlers)
