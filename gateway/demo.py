"""Demo people for ``eyhub up --demo``: an admin, a lead per hub, mentors, practitioners.

Idempotent (existing emails are skipped), every address at example.org, every demo
password ``DEMO_PASSWORD`` (the admin keeps EYHUB_ADMIN_PASSWORD).
"""

from __future__ import annotations

from typing import Any

from gateway import operations
from shared.config import Settings
from shared.db import Database

#: Every demo login but the admin's (shown by ``eyhub up --demo``).
DEMO_PASSWORD = "demo-password"

LEADS = [
    ("Helen Whitfield", "helen.whitfield"),
    ("Rajinder Sandhu", "rajinder.sandhu"),
    ("Claire Donnelly", "claire.donnelly"),
    ("Tom Okafor", "tom.okafor"),
    ("Gemma Pritchard", "gemma.pritchard"),
    ("Sian Llewellyn", "sian.llewellyn"),
]
MENTORS = [
    ("Margaret Ellison", "margaret.ellison", "Former nursery manager; SEND and transitions."),
    ("David Achterberg", "david.achterberg", "Reception teacher; early reading and maths."),
    ("Nasreen Qureshi", "nasreen.qureshi", "Childminding network coordinator."),
    ("Hannah Osei", "hannah.osei", "Early years teacher; outdoor learning and physical play."),
    ("Gareth Pugh", "gareth.pugh", "Childminder of twenty years; inspection readiness."),
    ("Fatima Begum", "fatima.begum", "Speech and language specialist; EAL and early talk."),
]
PRACTITIONERS = [
    ("Amira Hussain", "amira.hussain", "childminder", "Little Acorns Childminding"),
    ("Kirsty McBride", "kirsty.mcbride", "nursery", "Sunflowers Day Nursery"),
    ("Joanne Fletcher", "joanne.fletcher", "preschool", "St Mary's Community Pre-school"),
    ("Oliver Bennett", "oliver.bennett", "school", "Hollybank Primary School (Reception)"),
    ("Priya Chauhan", "priya.chauhan", "childrens_centre", "Riverside Children's Centre"),
    ("Bethan Morgan", "bethan.morgan", "health_visiting", "Eastbourne Health Visiting Team"),
    ("Lucy Adeyemi", "lucy.adeyemi", "other", "Hastings Library Rhyme Time"),
    ("Sarah Whitaker", "sarah.whitaker", "childminder", "Whitaker Family Childcare"),
    ("Emma Kowalski", "emma.kowalski", "nursery", "Busy Bees Lewes"),
]


def people(hubs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who the demo has, as create_user arguments (pure: easy to test)."""
    hub_ids = [str(h["id"]) for h in hubs]
    out: list[dict[str, Any]] = []
    for i, hub_id in enumerate(hub_ids):
        name, local = LEADS[i % len(LEADS)]
        suffix = "" if i < len(LEADS) else str(i // len(LEADS) + 1)
        out.append(
            {
                "email": f"{local}{suffix}@example.org",
                "name": name,
                "roles": ["hub_lead"],
                "hub_ids": [hub_id],
            }
        )
    for i, (name, local, _bio) in enumerate(MENTORS):
        out.append(
            {
                "email": f"{local}@example.org",
                "name": name,
                "roles": ["mentor"],
                "hub_ids": [hub_ids[i % len(hub_ids)]] if hub_ids else [],
            }
        )
    for i, (name, local, setting_type, setting_name) in enumerate(PRACTITIONERS):
        out.append(
            {
                "email": f"{local}@example.org",
                "name": name,
                "roles": ["practitioner"],
                "hub_ids": [hub_ids[i % len(hub_ids)]] if hub_ids else [],
                "setting_type": setting_type,
                "setting_name": setting_name,
            }
        )
    return out


def seed(settings: Settings, hubs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Create the demo people; return (role, email, password) rows for the logins banner."""
    db = Database(settings.database_url("gateway"), name="gateway")
    try:
        operations.ensure_admin(db, settings)
        wanted = people(hubs)
        operations.create_users(db, wanted, DEMO_PASSWORD)
    finally:
        db.dispose()
    rows = [("admin", operations.normalise_email(settings.admin_email), settings.admin_password)]
    for role in ("hub_lead", "mentor", "practitioner"):
        first = next((p for p in wanted if role in p["roles"]), None)
        if first:
            rows.append((role, first["email"], DEMO_PASSWORD))
    return rows
