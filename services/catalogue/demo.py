"""Demo catalogue: four hubs and a term's programme each (``eyhub up --demo``).

Idempotent: hub and event ids are uuid5 of their names, so a rerun finds what exists
and adds only what is missing. Everything goes through ``operations`` (as an admin),
so published sessions reach the outbox exactly as real ones do. Sessions whose time
has already passed when the seed runs are left out (operations refuse past times).
Expects a migrated catalogue database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.catalogue import operations as ops
from services.catalogue.recurrence import LONDON
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database, utcnow
from shared.vocabulary import SETTING_TYPES

NAMESPACE = uuid.UUID("5b7c1f0e-3f0e-4c8e-9d55-6f1f6a0c2a11")

SEEDER = Identity(
    user_id="demo-seed",
    email="admin@example.org",
    name="Demo seed",
    roles=frozenset({"admin"}),
    hub_ids=frozenset(),
)

HUBS = [
    {
        "name": "East Sussex Early Years Hub",
        "region": "South East",
        "host_setting": "Hollybank Primary School, Hastings",
        "eip": "Hastings and Rother Education Improvement Partnership",
    },
    {
        "name": "Tees Valley Stronger Practice Hub",
        "region": "North East",
        "host_setting": "Riverside Nursery School, Stockton-on-Tees",
        "eip": None,
    },
    {
        "name": "Greater Manchester Stronger Practice Hub",
        "region": "North West",
        "host_setting": "Ashgrove Children's Centre, Salford",
        "eip": None,
    },
    {
        "name": "Bristol and North Somerset Early Years Hub",
        "region": "South West",
        "host_setting": "St Anne's Infant School, Brislington",
        "eip": "South Bristol Education Improvement Partnership",
    },
]

ALL_SETTINGS = list(SETTING_TYPES)


@dataclass
class Plan:
    """One demo event and its dates (London wall-clock)."""

    slug: str
    fields: dict[str, Any]
    dates: list[tuple[datetime, timedelta]] = field(default_factory=list)
    rrule: str | None = None
    publish: bool = True


def _at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


def _plans(hub_index: int, hub_name: str) -> list[Plan]:
    """The programme of one hub; the index shifts days so hubs do not clash."""
    k = hub_index
    town = hub_name.split(" Stronger")[0].split(" Early")[0]
    venue = (
        f"{town} Hub training room, "
        + [
            "Hollybank Primary School, Hastings TN34 2RA",
            "Riverside Nursery School, Stockton-on-Tees TS18 1AB",
            "Ashgrove Children's Centre, Salford M6 5FX",
            "St Anne's Infant School, Bristol BS4 4AB",
        ][k % 4]
    )
    url = f"https://meet.example.org/{town.lower().replace(' ', '-')}"
    return [
        Plan(
            "language-webinar",
            {
                "title": "Supporting early language: talk, stories and songs",
                "kind": "webinar",
                "format": "online",
                "summary": "Practical ways to build vocabulary and conversation in everyday "
                "routines, drawing on the EEF early language evidence.",
                "description": "A 90-minute webinar with time for questions. Slides and a "
                "short reading list are shared afterwards.",
                "audience": ALL_SETTINGS,
                "topics": ["communication_language", "early_reading"],
                "cpd_hours": 1.5,
                "capacity": 100,
                "online_url": f"{url}/language",
            },
            [(_at(2026, 12, 2 + k, 16, 0), timedelta(minutes=90))],
        ),
        Plan(
            "maths-training",
            {
                "title": "Early maths through play",
                "kind": "training",
                "format": "in_person",
                "summary": "Counting, pattern and shape in continuous provision, indoors and out.",
                "description": "A hands-on morning: bring a photo of your maths area.",
                "audience": ["childminder", "nursery", "preschool", "school"],
                "topics": ["mathematics"],
                "cpd_hours": 3,
                "price_pence": 2500,
                "funded_places": 10,
                "cost_per_funded_place_pence": 2500,
                "capacity": 24,
                "venue": venue,
            },
            [
                (_at(2026, 12, 8 + k, 9, 30), timedelta(hours=3)),
                (_at(2027, 2, 2 + k, 9, 30), timedelta(hours=3)),
            ],
        ),
        Plan(
            "send-training",
            {
                "title": "SEND: noticing needs early and the graduated approach",
                "kind": "training",
                "format": "hybrid",
                "summary": "Assess, plan, do, review in practice, with the local SENCo team.",
                "description": "Join in the room or online; both groups work on case studies.",
                "audience": ["childminder", "nursery", "preschool", "childrens_centre"],
                "topics": ["send", "psed"],
                "cpd_hours": 2.5,
                "price_pence": 1500,
                "funded_places": 6,
                "cost_per_funded_place_pence": 1500,
                "capacity": 30,
                "venue": venue,
                "online_url": f"{url}/send",
            },
            [(_at(2027, 1, 19 + k, 13, 0), timedelta(hours=2, minutes=30))],
        ),
        Plan(
            "moderation",
            {
                "title": "EYFS profile moderation for reception teachers",
                "kind": "moderation",
                "format": "in_person",
                "summary": "Agree judgements on the early learning goals with colleagues, "
                "using anonymised evidence from your class.",
                "description": "Bring three pieces of evidence for literacy and maths.",
                "audience": ["school"],
                "topics": ["moderation", "literacy", "mathematics"],
                "cpd_hours": 2,
                "capacity": 20,
                "venue": venue,
            },
            [(_at(2027, 3, 9 + k, 15, 45), timedelta(hours=2))],
        ),
        Plan(
            "childminder-network",
            {
                "title": "Childminder network meeting",
                "kind": "network_meeting",
                "format": "in_person",
                "summary": "An evening to share practice, news from the hub and peer "
                "support for childminders.",
                "description": "Tea and biscuits from 6.15pm. Each meeting has a short "
                "practice focus chosen by the group.",
                "audience": ["childminder"],
                "topics": ["childminding_practice", "psed"],
                "cpd_hours": 1.5,
                "capacity": 25,
                "venue": venue,
            },
            # Monthly across the March clock change: still 18:30 in London in April.
            [(_at(2027, 1, 12 + k, 18, 30), timedelta(minutes=90))],
            rrule="FREQ=MONTHLY;COUNT=4",
        ),
        Plan(
            "safeguarding-webinar",
            {
                "title": "Safeguarding refresher: the designated lead role",
                "kind": "webinar",
                "format": "online",
                "summary": "What changed in statutory guidance and how to keep records "
                "that stand up.",
                "description": "Certificates are issued to everyone who attends.",
                "audience": ["childminder", "nursery", "preschool", "childrens_centre"],
                "topics": ["safeguarding", "leadership"],
                "cpd_hours": 1,
                "price_pence": 1000,
                "capacity": 80,
                "online_url": f"{url}/safeguarding",
            },
            [(_at(2027, 2, 24 + k % 2, 19, 0), timedelta(hours=1))],
        ),
        *(
            [
                Plan(
                    "leadership-draft",
                    {
                        "title": "Leading a learning culture (summer programme)",
                        "kind": "training",
                        "format": "in_person",
                        "summary": "Draft: a three-part programme for room leaders and managers.",
                        "audience": ["nursery", "preschool"],
                        "topics": ["leadership"],
                        "cpd_hours": 3,
                        "price_pence": 4500,
                        "capacity": 16,
                        "venue": venue,
                    },
                    [(_at(2027, 5, 11, 9, 30), timedelta(hours=3))],
                    publish=False,
                )
            ]
            if k == 0
            else []
        ),
    ]


def _hub_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"hub/{name}")


def _event_id(hub_id: uuid.UUID, slug: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"event/{hub_id}/{slug}")


def _seed_event(db: Database, hub_id: uuid.UUID, plan: Plan) -> None:
    event_id = _event_id(hub_id, plan.slug)
    now = utcnow()
    dates = [(start, length) for start, length in plan.dates if start > now]
    if not dates:
        return
    sessions: list[Mapping[str, Any]] = []
    for start, length in dates:
        body: dict[str, Any] = {"starts_at": start, "ends_at": start + length}
        if plan.rrule:
            body["rrule"] = plan.rrule
        sessions.append(body)
    fields = {"id": event_id, "hub_id": hub_id, **plan.fields}
    ops.seed_event(db, SEEDER, fields, sessions, publish=plan.publish)


def seed(settings: Settings) -> dict[str, Any]:
    """Create the demo hubs and programmes that are missing; return what there is."""
    db = Database(settings.database_url("catalogue"), name="catalogue")
    try:
        hubs = []
        for index, spec in enumerate(HUBS):
            hub_id = _hub_id(spec["name"])
            ops.ensure_hub(db, {"id": hub_id, **spec})
            for plan in _plans(index, spec["name"]):
                _seed_event(db, hub_id, plan)
            hubs.append({"id": str(hub_id), "name": spec["name"], "region": spec["region"]})
        events, sessions = ops.programme_size(db, [uuid.UUID(h["id"]) for h in hubs])
        return {"hubs": hubs, "events": events, "sessions": sessions}
    finally:
        db.dispose()
