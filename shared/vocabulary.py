"""The domain's shared words (docs/architecture.md, "Domain words"): one list, used by every
component."""

from __future__ import annotations

#: Where a practitioner works; also who an event is for.
SETTING_TYPES: tuple[str, ...] = (
    "childminder",
    "nursery",
    "preschool",
    "school",
    "childrens_centre",
    "health_visiting",
    "other",
)

#: CPD topics (extensible: add here, nowhere else).
TOPICS: tuple[str, ...] = (
    "communication_language",
    "psed",
    "physical",
    "literacy",
    "mathematics",
    "understanding_world",
    "expressive_arts",
    "send",
    "early_reading",
    "leadership",
    "safeguarding",
    "moderation",
    "childminding_practice",
)
