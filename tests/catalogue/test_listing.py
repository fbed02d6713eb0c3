"""The public listing: what is listed, every filter, keyset paging, bounded queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from tests.catalogue.conftest import CatalogueApp, future, iso


def _all_pages(catalogue: CatalogueApp, query: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(200):
        url = f"/api/catalogue/sessions?limit={limit}{query}"
        if cursor:
            url += f"&cursor={cursor}"
        resp = catalogue.get(url)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("paging did not end")


@pytest.fixture
def programme(catalogue: CatalogueApp) -> dict[str, Any]:
    """Two hubs, events of every kind and format, some draft, one cancelled session."""
    north, south = catalogue.hub("North Hub"), catalogue.hub("South Hub")
    made: dict[str, Any] = {"north": north, "south": south}
    made["webinar"] = catalogue.event(
        north["id"],
        title="Supporting speech and language online",
        kind="webinar",
        format="online",
        venue=None,
        online_url="https://meet.example.org/talk",
        audience=["childminder"],
        topics=["communication_language"],
        summary="Ideas for 100% of your day, with songs",
    )
    made["training"] = catalogue.event(
        north["id"],
        title="Phonics foundations",
        kind="training",
        audience=["school", "nursery"],
        topics=["early_reading", "literacy"],
    )
    made["moderation"] = catalogue.event(
        south["id"],
        title="EYFS profile moderation",
        kind="moderation",
        format="hybrid",
        online_url="https://meet.example.org/mod",
        audience=["school"],
        topics=["moderation"],
    )
    made["network"] = catalogue.event(
        south["id"],
        title="Childminder network meeting",
        kind="network_meeting",
        audience=["childminder"],
        topics=["childminding_practice", "psed"],
    )
    made["draft"] = catalogue.event(north["id"], title="Secret draft phonics")
    for i, key in enumerate(("webinar", "training", "moderation", "network", "draft")):
        catalogue.sessions(
            made[key],
            starts_at=future(days=3 + i, hour=9),
            rrule="FREQ=WEEKLY;COUNT=5",
        )
        if key != "draft":
            catalogue.publish(made[key])
    # Same start time for two sessions of different events: the id breaks the tie.
    catalogue.sessions(made["training"], starts_at=future(days=4, hour=9))
    gone = catalogue.sessions(made["network"], starts_at=future(days=40, hour=18))[0]
    resp = catalogue.post(
        f"/api/catalogue/sessions/{gone['id']}/cancel", {"reason": "x"}, catalogue.lead(south["id"])
    )
    assert resp.status_code == 200
    made["cancelled_session"] = gone
    return made


def test_paging_walks_everything_once_in_order(
    catalogue: CatalogueApp, programme: dict[str, Any]
) -> None:
    everything = _all_pages(catalogue, "", 100)
    assert len(everything) == 4 * 5 + 1
    for limit in (1, 3, 7):
        paged = _all_pages(catalogue, "", limit)
        assert [i["id"] for i in paged] == [i["id"] for i in everything]
    keys = [(i["starts_at"], i["id"]) for i in everything]
    assert keys == sorted(keys)
    assert len({i["id"] for i in everything}) == len(everything)
    titles = {i["title"] for i in everything}
    assert "Secret draft phonics" not in titles
    assert programme["cancelled_session"]["id"] not in {i["id"] for i in everything}
    first = everything[0]
    for key in (
        "hub_name",
        "title",
        "kind",
        "format",
        "audience",
        "topics",
        "cpd_hours",
        "price_pence",
        "funded_places",
        "cost_per_funded_place_pence",
        "venue",
        "online_url",
        "capacity",
        "event_id",
        "hub_id",
        "sequence",
        "status",
        "summary",
    ):
        assert key in first, key


#: (query, the events whose sessions it finds), all read from one programme.
FILTER_CASES = [
    ("&kind=webinar", {"webinar"}),
    ("&kind=network_meeting", {"network"}),
    ("&format=hybrid", {"moderation"}),
    ("&format=in_person", {"training", "network"}),
    ("&audience=childminder", {"webinar", "network"}),
    ("&audience=school", {"training", "moderation"}),
    ("&audience=health_visiting", set()),
    ("&topic=early_reading", {"training"}),
    ("&topic=psed", {"network"}),
    ("&topic=read", set()),  # a topic is matched whole
    ("&q=phonics", {"training"}),
    ("&q=PHONICS%20foundations", {"training"}),
    ("&q=early%20reading", {"training"}),  # topics are searched with spaces too
    ("&q=network", {"network"}),
    ("&q=100%25", {"webinar"}),  # LIKE wildcards are literal
    ("&q=%25", {"webinar"}),
    ("&q=h_nics", set()),  # "_" is not a wildcard either
    ("&q=songs", {"webinar"}),  # the summary
    ("&q=nothing-like-this", set()),
    ("&kind=training&audience=school&topic=literacy&q=phonics", {"training"}),
]


def test_every_filter_filters(catalogue: CatalogueApp, programme: dict[str, Any]) -> None:
    """Every case against one programme (the filters only read; building the programme
    is the cost, so it is built once, and every wrong case is reported together)."""
    ids = {programme[k]["id"]: k for k in ("webinar", "training", "moderation", "network")}
    wrong = {}
    for query, expected in FILTER_CASES:
        found = {ids[i["event_id"]] for i in _all_pages(catalogue, query, 100)}
        if found != expected:
            wrong[query] = (found, expected)
    assert not wrong, f"query: (found, expected): {wrong}"


def test_hub_and_time_filters(catalogue: CatalogueApp, programme: dict[str, Any]) -> None:
    north = _all_pages(catalogue, f"&hub_id={programme['north']['id']}", 100)
    assert {i["hub_name"] for i in north} == {"North Hub"} and len(north) == 11
    start, end = future(days=10, hour=0), future(days=17, hour=0)
    window = _all_pages(
        catalogue, f"&from={iso(start).replace('+', '%2B')}&to={iso(end).replace('+', '%2B')}", 100
    )
    assert window and all(
        iso(start) <= i["starts_at"].replace("Z", "+00:00") < iso(end) for i in window
    )
    later = _all_pages(catalogue, f"&from={iso(future(days=35)).replace('+', '%2B')}", 100)
    assert later == []  # the cancelled one at day 40 is not listed


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "kind=party",
        "audience=parents",
        "format=x",
        "hub_id=nope",
        "from=yesterday",
        "to=2027-01-01T10:00:00",
        "cursor=not-a-cursor",
        "cursor=" + "A" * 300,
        "cursor=MjAyNy0wMS0wMXxub3QtYS11dWlk",  # "2027-01-01|not-a-uuid"
        "q=" + "x" * 101,
        "topic=Bad%20Topic",
        "q=maths%00",
        "hub_id=%00",
    ],
)
def test_bad_queries_are_422(catalogue: CatalogueApp, query: str) -> None:
    resp = catalogue.get(f"/api/catalogue/sessions?{query}")
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"


@contextmanager
def count_queries(catalogue: CatalogueApp) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = catalogue.db.engine

    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa_event.listen(engine, "before_cursor_execute", _count)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", _count)


def test_a_page_is_one_query_whatever_its_size(
    catalogue: CatalogueApp, programme: dict[str, Any]
) -> None:
    counts = {}
    for limit in (2, 20):
        with count_queries(catalogue) as seen:
            resp = catalogue.get(f"/api/catalogue/sessions?limit={limit}")
        assert len(resp.get_json()["items"]) == limit
        counts[limit] = len(seen)
    assert counts[2] == counts[20] == 1


def test_session_added_later_sorts_by_time(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    catalogue.sessions(event, starts_at=future(days=20))
    catalogue.publish(event)
    catalogue.sessions(event, starts_at=future(days=5), ends_at=future(days=5) + timedelta(hours=1))
    items = catalogue.get("/api/catalogue/sessions").get_json()["items"]
    assert [i["starts_at"] for i in items] == sorted(i["starts_at"] for i in items)
