"""A feed poll is answered 304 from the feed's version, without building the calendar,
so the version must change with everything the calendar shows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.bookings import operations as ops
from services.bookings.models import Booking
from shared import feeds as shared_feeds
from tests.bookings.conftest import BookingsApp, future


def _feed(bapp: BookingsApp, token: str) -> str:
    resp = bapp.client.post(
        "/api/bookings/calendar-feeds", json={"scope": "me"}, headers=bapp.headers(token)
    )
    assert resp.status_code == 201
    return resp.get_json()["url"].removeprefix(bapp.settings.public_url)


def _etag(bapp: BookingsApp, path: str) -> str:
    resp = bapp.client.get(path)
    assert resp.status_code == 200
    return resp.headers["ETag"]


def test_an_unchanged_feed_is_answered_without_rendering(
    bookings_app: BookingsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = bookings_app.token()
    bookings_app.book(token, bookings_app.add_session()["id"])
    path = _feed(bookings_app, token)
    first = bookings_app.client.get(path)
    again = bookings_app.client.get(path)
    assert (again.headers["ETag"], again.data) == (first.headers["ETag"], first.data)

    def no_render(*_a: object, **_k: object) -> bytes:
        raise AssertionError("a 304 must not build the calendar")

    monkeypatch.setattr(shared_feeds, "render", no_render)
    for header, value in (
        ("If-None-Match", first.headers["ETag"]),
        ("If-Modified-Since", first.headers["Last-Modified"]),
    ):
        resp = bookings_app.client.get(path, headers={header: value})
        assert resp.status_code == 304 and resp.data == b""
        assert resp.headers["ETag"] == first.headers["ETag"]
        assert "private" in resp.headers["Cache-Control"]


def test_the_version_follows_what_the_feed_shows(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    me, other = bapp.token(), bapp.token()
    full = bapp.add_session(capacity=1, title="Full one")
    bapp.book(bapp.token(), full["id"])  # takes the place
    ahead = bapp.book(other, full["id"]).get_json()  # waiting list, 1
    assert bapp.book(me, full["id"]).get_json()["waitlist_position"] == 2
    later = bapp.add_session(title="Later", starts_at=future(days=20))
    mine = bapp.book(me, later["id"]).get_json()
    path = _feed(bapp, me)
    seen = {_etag(bapp, path)}

    def changed() -> bool:
        tag = _etag(bapp, path)
        fresh = tag not in seen
        seen.add(tag)
        return fresh

    assert not changed()
    # The one ahead of me leaves the waiting list: my position (in the summary) moves up.
    bapp.client.post(f"/api/bookings/{ahead['id']}/cancel", headers=bapp.headers(other))
    assert changed()
    assert b"Waiting list (1): Full one" in bapp.client.get(path).data
    # The catalogue renames a session.
    with bapp.db.transaction() as s:
        ops.apply_session_snapshot(s, bapp.settings, {**later, "title": "Renamed", "sequence": 1})
    assert changed()
    # I cancel; then the date of the cancelled session passes and it leaves the feed.
    bapp.client.post(f"/api/bookings/{mine['id']}/cancel", headers=bapp.headers(me))
    assert changed()
    bapp.set_past(later["id"])
    assert changed()
    assert b"Renamed" not in bapp.client.get(path).data


def test_a_change_stamped_before_the_latest_one_still_shows(bookings_app: BookingsApp) -> None:
    """Two transactions may commit out of the order of their stamps: a version made of
    the latest stamp alone would keep answering 304 for the earlier one."""
    bapp = bookings_app
    token = bapp.token()
    older = uuid.UUID(bapp.book(token, bapp.add_session()["id"]).get_json()["id"])
    bapp.book(token, bapp.add_session(starts_at=future(days=9))["id"])
    path = _feed(bapp, token)

    def stamp_older(seconds_before_latest: int) -> None:
        with bapp.db.transaction() as s:
            latest = s.scalar(select(func.max(Booking.updated_at)))
            s.execute(
                update(Booking)
                .where(Booking.id == older)
                .values(updated_at=latest - timedelta(seconds=seconds_before_latest))
            )

    stamp_older(10)
    before = _etag(bapp, path)
    stamp_older(5)  # changed again, still stamped before the latest change
    assert _etag(bapp, path) != before


def test_leaving_the_window_changes_the_version(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    sess = bookings_app.add_session()
    bookings_app.book(token, sess["id"])
    path = _feed(bookings_app, token)
    before = _etag(bookings_app, path)
    bookings_app.set_past(sess["id"], hours_ago=24 * 30)  # in the past, still in the window
    shown = _etag(bookings_app, path)
    assert shown != before
    bookings_app.set_past(sess["id"], hours_ago=24 * 91)
    assert _etag(bookings_app, path) != shown
    assert b"BEGIN:VEVENT" not in bookings_app.client.get(path).data
