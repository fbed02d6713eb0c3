"""Demo mentoring (``eyhub up --demo``): every demo mentor gets a profile in their hub,
and every demo practitioner files an open request at their hub (2-3 per hub), so a hub
lead can start a matching run straight away.

Idempotent: a mentor who has a profile keeps it as it is, and a practitioner who has
ever asked that hub is not made to ask again. Writes go through ``operations`` on the
mentoring database, in process (the launcher hands in the people with their ids).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from services.mentoring import operations as ops
from services.mentoring.models import MentoringRequest, MentorProfile
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database

#: Per mentor (in the order of the demo's mentors): specialisms, settings known, formats.
MENTOR_PLANS = [
    (["send", "psed", "communication_language"], ["nursery", "preschool", "childminder"]),
    (["early_reading", "mathematics", "literacy"], ["school", "nursery", "preschool"]),
    (["childminding_practice", "safeguarding", "leadership"], ["childminder", "other"]),
    (["physical", "expressive_arts", "psed"], ["nursery", "preschool", "school"]),
    (["childminding_practice", "safeguarding", "mathematics"], ["childminder"]),
    (["communication_language", "early_reading", "send"], ["childminder", "nursery"]),
]
#: Per practitioner (in order): topics and goals of their request.
REQUEST_PLANS = [
    (["send", "psed"], "Support a child with emerging SEND.\nWork well with parents."),
    (["communication_language"], "Build more back-and-forth talk into routines."),
    (["mathematics"], "Richer maths in continuous provision, indoors and out."),
    (["early_reading", "literacy"], "Strengthen phonics for the children who need it most."),
    (["leadership", "psed"], "Lead a small team through a change of setting."),
    (["communication_language", "send"], "Early language screening and what to do next."),
    (["expressive_arts"], "Music and rhyme for babies and toddlers."),
    (["childminding_practice", "safeguarding"], "Get ready for inspection as a childminder."),
    (["physical", "psed"], "More physical play with a small outdoor space."),
]


def _region(hubs: Iterable[Mapping[str, Any]], hub_id: str) -> str | None:
    return next((h.get("region") for h in hubs if str(h["id"]) == hub_id), None)


def seed(
    settings: Settings, hubs: list[Mapping[str, Any]], people: list[Mapping[str, Any]]
) -> dict[str, int]:
    """``people``: the demo accounts (``user_id``, ``email``, ``name``, ``roles``,
    ``hub_ids``, and ``setting_type``/``setting_name`` for practitioners)."""
    db = Database(settings.database_url("mentoring"), name="mentoring")
    try:
        mentors = [p for p in people if "mentor" in p["roles"] and p["hub_ids"]]
        practitioners = [p for p in people if "practitioner" in p["roles"] and p["hub_ids"]]
        for i, person in enumerate(mentors):
            _seed_mentor(db, hubs, person, i)
        for i, person in enumerate(practitioners):
            _seed_request(db, hubs, person, i)
        with db.read() as s:
            profiles = len(list(s.scalars(select(MentorProfile.id))))
            requests = len(list(s.scalars(select(MentoringRequest.id))))
        return {"mentor profiles": profiles, "mentoring requests": requests}
    finally:
        db.dispose()


def _seed_mentor(
    db: Database, hubs: list[Mapping[str, Any]], person: Mapping[str, Any], index: int
) -> None:
    user_id = str(person["user_id"])
    with db.read() as s:
        if s.scalar(select(MentorProfile.id).where(MentorProfile.user_id == user_id)):
            return
    hub_id = str(person["hub_ids"][0])
    specialisms, setting_types = MENTOR_PLANS[index % len(MENTOR_PLANS)]
    data = {
        "hub_id": uuid.UUID(hub_id),
        "specialisms": specialisms,
        "setting_types": setting_types,
        "formats": ["online", "in_person"],
        "region": _region(hubs, hub_id),
        "languages": ["English"],
        "capacity": 3,
        "bio": person.get("bio"),
        "available": True,
        "setting_name": f"{person['name']} (independent mentor)",
    }
    with db.transaction() as s:
        ops.save_profile(s, ops.Person(user_id, person["name"], person["email"]), data)


def _seed_request(
    db: Database, hubs: list[Mapping[str, Any]], person: Mapping[str, Any], index: int
) -> None:
    user_id = str(person["user_id"])
    hub_id = uuid.UUID(str(person["hub_ids"][0]))
    with db.read() as s:
        asked = s.scalar(
            select(MentoringRequest.id).where(
                MentoringRequest.mentee_id == user_id, MentoringRequest.hub_id == hub_id
            )
        )
    if asked is not None:
        return
    topics, goals = REQUEST_PLANS[index % len(REQUEST_PLANS)]
    who = Identity(
        user_id=user_id,
        email=person["email"],
        name=person["name"],
        roles=frozenset(person["roles"]),
        hub_ids=frozenset(str(h) for h in person["hub_ids"]),
    )
    ops.create_request(
        db,
        who,
        {
            "hub_id": hub_id,
            "topics": topics,
            "goals": goals,
            "format": "online" if index % 3 else "in_person",
            "setting_type": person.get("setting_type") or "other",
            "setting_name": person.get("setting_name") or f"{person['name']}'s setting",
            "languages": ["English"],
            "region": _region(hubs, str(hub_id)),
        },
    )
