"""Bus consumers of the mentoring service: the identity replica (shared/identity.py), so
tokens of deactivated accounts, or carrying rights taken away, stop working here."""

from __future__ import annotations

from shared.identity import follow_identity
from shared.messaging import Registry

#: What the mentoring worker consumes; the launcher hands it to the worker and the bus
#: topology is derived from it (one queue per purpose, bound to these types).
handlers = Registry("mentoring")
follow_identity(handlers)
