"""docs/architecture.md's event catalogue follows the code: every type with a schema
is listed, and each consumer named is one the handler registries actually have."""

from __future__ import annotations

import re
from pathlib import Path

from eyhub.components import subscriptions
from shared import events

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _catalogue_rows() -> dict[str, str]:
    text = DOC.read_text()
    section = text.split("## Event catalogue", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z]+\.[a-z_.]+)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_every_event_type_is_in_the_catalogue() -> None:
    rows = _catalogue_rows()
    real = {t for t in events.known_types() if not t.startswith("test.")}
    assert set(rows) == real


def test_the_consumers_listed_are_the_registered_ones() -> None:
    rows = _catalogue_rows()
    bound = {
        key: f"`{sub.service}.{sub.purpose}`" for sub in subscriptions() for key in sub.binding_keys
    }
    for event_type, line in rows.items():
        consumers = line.split("|")[3]
        if event_type in bound:
            assert bound[event_type] in consumers, event_type
        else:
            assert "none yet" in consumers, f"{event_type}: no handler takes it"
