"""Booking, the waiting list, cancellation with promotion, idempotency and access rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from services.bookings import operations as ops
from services.bookings.models import Booking
from tests.bookings.conftest import HUB, OTHER_HUB, BookingsApp, future


def _problem(resp, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json(force=True)


def test_an_unconfirmed_email_address_cannot_book(bookings_app: BookingsApp) -> None:
    from tests.support.tokens import make_token

    sess = bookings_app.add_session(capacity=2)
    token = make_token(bookings_app.settings, email_verified=False)
    body = _problem(bookings_app.book(token, sess["id"]), 403)
    assert body["type"].endswith("email-unconfirmed") and "Confirm your email" in body["detail"]
    with bookings_app.db.read() as s:
        assert s.query(Booking).count() == 0
    assert bookings_app.book(make_token(bookings_app.settings), sess["id"]).status_code == 201


def test_booking_confirms_then_waitlists_in_order(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=2)
    results = [bookings_app.book(bookings_app.token(), sess["id"]) for _ in range(4)]
    assert [r.status_code for r in results] == [201] * 4
    bodies = [r.get_json() for r in results]
    assert [b["status"] for b in bodies] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [b["waitlist_position"] for b in bodies] == [None, None, 1, 2]
    assert bodies[0]["session"]["title"] == "Early maths in play"
    assert bodies[0]["created_at"].endswith("Z")
    assert results[0].headers["Location"] == f"/api/bookings/{bodies[0]['id']}"
    avail = bookings_app.client.get(f"/api/bookings/sessions/{sess['id']}/availability")
    assert avail.get_json() == {
        "session_id": str(sess["id"]),
        "capacity": 2,
        "confirmed": 2,
        "waitlisted": 2,
        "remaining": 0,
    }


def test_a_hubs_availability_in_one_call(bookings_app: BookingsApp) -> None:
    """A programme page's figures: every session of the hub, soonest first, ended ones
    older than the window left out, other hubs' never in."""
    later = bookings_app.add_session(capacity=3, starts_at=future(days=9))
    sooner = bookings_app.add_session(capacity=1, starts_at=future(days=2))
    bookings_app.add_session(hub_id=OTHER_HUB)
    old = datetime.now(UTC) - timedelta(days=40)
    bookings_app.add_session(starts_at=old)
    for _ in range(2):
        bookings_app.book(bookings_app.token(), sooner["id"])
    resp = bookings_app.client.get(f"/api/bookings/hubs/{HUB}/availability")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["items"] == [
        {
            "session_id": str(sooner["id"]),
            "capacity": 1,
            "confirmed": 1,
            "waitlisted": 1,
            "remaining": 0,
        },
        {
            "session_id": str(later["id"]),
            "capacity": 3,
            "confirmed": 0,
            "waitlisted": 0,
            "remaining": 3,
        },
    ]
    since = (old - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wider = bookings_app.client.get(f"/api/bookings/hubs/{HUB}/availability?from={since}")
    assert len(wider.get_json()["items"]) == 3
    bad = bookings_app.client.get(f"/api/bookings/hubs/{HUB}/availability?limit=0")
    assert bad.status_code == 422


def test_confirmation_and_waitlist_mails_are_queued(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    first = bookings_app.book(bookings_app.token(), sess["id"]).get_json()
    second = bookings_app.book(bookings_app.token(), sess["id"]).get_json()
    mails = bookings_app.mails()
    assert [m["Subject"] for m in mails] == [
        "Booked: Early maths in play",
        "Waiting list: Early maths in play",
    ]
    assert "position 1" in mails[1].get_body(("plain",)).get_content()
    assert first["status"] == "confirmed" and second["status"] == "waitlisted"


def test_one_active_booking_per_user_and_session(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    token = bookings_app.token()
    first = bookings_app.book(token, sess["id"])
    assert first.status_code == 201
    body = _problem(bookings_app.book(token, sess["id"]), 409)
    assert body["type"] == "urn:eyhub:problem:already-booked"
    assert len(bookings_app.bookings(sess["id"])) == 1
    # After cancelling, booking again is allowed (a new booking).
    cancel = bookings_app.client.post(
        f"/api/bookings/{first.get_json()['id']}/cancel", headers=bookings_app.headers(token)
    )
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "cancelled"
    again = bookings_app.book(token, sess["id"])
    assert again.status_code == 201 and again.get_json()["id"] != first.get_json()["id"]


def test_the_database_refuses_two_active_bookings(bookings_app: BookingsApp) -> None:
    """The rule holds even for code that skips the API's check."""
    sess = bookings_app.add_session()
    with pytest.raises(IntegrityError), bookings_app.db.transaction() as s:
        for _ in range(2):
            s.add(Booking(session_id=sess["id"], user_id="u1", status="confirmed"))
            s.flush()
    with bookings_app.db.transaction() as s:  # ended bookings do not count
        for status in ("cancelled", "cancelled", "confirmed"):
            s.add(Booking(session_id=sess["id"], user_id="u1", status=status))
            s.flush()


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"status": "cancelled"}, "cancelled"),
        ({"event_status": "draft"}, "not published"),
        ({"event_status": "cancelled"}, "cancelled"),
    ],
)
def test_unbookable_sessions_are_409(bookings_app: BookingsApp, overrides: dict, kind: str) -> None:
    sess = bookings_app.add_session(**overrides)
    body = _problem(bookings_app.book(bookings_app.token(), sess["id"]), 409)
    assert kind in body["detail"]
    assert bookings_app.bookings(sess["id"]) == []


def test_started_session_is_409(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    bookings_app.set_past(sess["id"], hours_ago=0.5)
    body = _problem(bookings_app.book(bookings_app.token(), sess["id"]), 409)
    assert "started" in body["detail"]


def test_unknown_session_is_404_and_nothing_is_written(bookings_app: BookingsApp) -> None:
    missing = uuid.uuid4()
    _problem(bookings_app.book(bookings_app.token(), missing), 404)
    assert bookings_app.replica(missing) is None
    _problem(bookings_app.client.get(f"/api/bookings/sessions/{missing}/availability"), 404)


def test_unreplicated_session_is_read_through_once(bookings_app: BookingsApp) -> None:
    snap = bookings_app.publish_only_in_catalogue(capacity=3, title="Fresh off the press")
    resp = bookings_app.book(bookings_app.token(), snap["id"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "confirmed"
    replica = bookings_app.replica(snap["id"])
    assert replica is not None and replica.title == "Fresh off the press"
    bookings_app.catalogue_down = True  # now replicated: the catalogue is not needed
    assert bookings_app.book(bookings_app.token(), snap["id"]).status_code == 201


def test_catalogue_down_for_an_unknown_session_is_503(bookings_app: BookingsApp) -> None:
    bookings_app.catalogue_down = True
    _problem(bookings_app.book(bookings_app.token(), uuid.uuid4()), 503)


@pytest.mark.parametrize(
    "body",
    [{}, {"session_id": "not-a-uuid"}, {"session_id": 5}, {"session_id": None}, [], "x"],
)
def test_bad_input_is_422_and_changes_nothing(bookings_app: BookingsApp, body) -> None:  # type: ignore[no-untyped-def]
    sess = bookings_app.add_session()
    resp = bookings_app.client.post(
        "/api/bookings", json=body, headers=bookings_app.headers(bookings_app.token())
    )
    assert 400 <= resp.status_code < 500
    _problem(resp, resp.status_code)
    assert bookings_app.bookings(sess["id"]) == []
    assert bookings_app.mails() == []


def test_unknown_fields_are_rejected(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    resp = bookings_app.client.post(
        "/api/bookings",
        json={"session_id": str(sess["id"]), "status": "confirmed"},
        headers=bookings_app.headers(bookings_app.token()),
    )
    assert _problem(resp, 422)["errors"].keys() == {"status"}


def test_no_token_is_401(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    resp = bookings_app.client.post("/api/bookings", json={"session_id": str(sess["id"])})
    _problem(resp, 401)
    _problem(bookings_app.client.get("/api/bookings"), 401)


# -- idempotency --------------------------------------------------------------------
def test_idempotency_key_replays_the_same_booking(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    token = bookings_app.token()
    first = bookings_app.book(token, sess["id"], **{"Idempotency-Key": "k-1"})
    again = bookings_app.book(token, sess["id"], **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(bookings_app.bookings(sess["id"])) == 1
    assert len(bookings_app.mails()) == 1  # no second confirmation


def test_idempotency_key_with_another_body_is_422(bookings_app: BookingsApp) -> None:
    one, two = bookings_app.add_session(), bookings_app.add_session()
    token = bookings_app.token()
    assert bookings_app.book(token, one["id"], **{"Idempotency-Key": "k-2"}).status_code == 201
    body = _problem(bookings_app.book(token, two["id"], **{"Idempotency-Key": "k-2"}), 422)
    assert body["type"] == "urn:eyhub:problem:idempotency-key-reused"
    assert bookings_app.bookings(two["id"]) == []


def test_idempotency_keys_are_per_user(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    a = bookings_app.book(bookings_app.token(), sess["id"], **{"Idempotency-Key": "same"})
    b = bookings_app.book(bookings_app.token(), sess["id"], **{"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]


def test_a_malformed_idempotency_key_is_400(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    resp = bookings_app.book(bookings_app.token(), sess["id"], **{"Idempotency-Key": "x" * 300})
    _problem(resp, 400)
    assert bookings_app.bookings(sess["id"]) == []


# -- cancellation and promotion -------------------------------------------------------
def test_cancel_promotes_the_head_of_the_list_and_closes_up(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    tokens = [bookings_app.token() for _ in range(4)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    resp = bookings_app.client.post(
        f"/api/bookings/{ids[0]}/cancel", headers=bookings_app.headers(tokens[0])
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    by_id = {str(b.id): b for b in bookings_app.bookings(sess["id"])}
    assert by_id[ids[1]].status == "confirmed" and by_id[ids[1]].waitlist_position is None
    assert [by_id[i].waitlist_position for i in ids[2:]] == [1, 2]
    promoted_mail = bookings_app.mails(to=by_id[ids[1]].user_email)[-1]
    assert promoted_mail["Subject"] == "A place came up: Early maths in play"


def test_cancelling_a_waitlisted_booking_closes_the_gap(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    tokens = [bookings_app.token() for _ in range(4)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    bookings_app.client.post(
        f"/api/bookings/{ids[2]}/cancel", headers=bookings_app.headers(tokens[2])
    )
    by_id = {str(b.id): b for b in bookings_app.bookings(sess["id"])}
    assert by_id[ids[0]].status == "confirmed"
    assert (by_id[ids[1]].waitlist_position, by_id[ids[3]].waitlist_position) == (1, 2)


def test_paid_sessions_offer_a_freed_place_instead_of_booking_it(
    bookings_app: BookingsApp,
) -> None:
    """Nobody is charged for a place they did not choose: the first waiting is offered it."""
    sess = bookings_app.add_session(capacity=1, price_pence=2500)
    tokens = [bookings_app.token() for _ in range(2)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    bookings_app.client.post(
        f"/api/bookings/{ids[0]}/cancel", headers=bookings_app.headers(tokens[0])
    )
    offered = next(b for b in bookings_app.bookings(sess["id"]) if str(b.id) == ids[1])
    assert offered.status == "offered" and offered.waitlist_position is None
    assert offered.hold_expires_at is not None


def test_cancel_twice_is_harmless(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    token = bookings_app.token()
    booking_id = bookings_app.book(token, sess["id"]).get_json()["id"]
    for _ in range(2):
        resp = bookings_app.client.post(
            f"/api/bookings/{booking_id}/cancel", headers=bookings_app.headers(token)
        )
        assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    assert len(bookings_app.mails()) == 2  # booked + one cancellation


def test_practitioner_cannot_cancel_after_start_but_the_lead_can(
    bookings_app: BookingsApp,
) -> None:
    sess = bookings_app.add_session()
    token = bookings_app.token()
    booking_id = bookings_app.book(token, sess["id"]).get_json()["id"]
    bookings_app.set_past(sess["id"], hours_ago=0.5)
    url = f"/api/bookings/{booking_id}/cancel"
    _problem(bookings_app.client.post(url, headers=bookings_app.headers(token)), 409)
    lead = bookings_app.client.post(url, headers=bookings_app.headers(bookings_app.lead_token()))
    assert lead.status_code == 200 and lead.get_json()["status"] == "cancelled"


def test_cancel_with_a_bad_body_is_422(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    token = bookings_app.token()
    booking_id = bookings_app.book(token, sess["id"]).get_json()["id"]
    resp = bookings_app.client.post(
        f"/api/bookings/{booking_id}/cancel",
        json={"reason": 5},
        headers=bookings_app.headers(token),
    )
    _problem(resp, 422)
    assert bookings_app.bookings(sess["id"])[0].status == "confirmed"


def test_capacity_reduced_below_confirmed_bumps_no_one(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=3)
    for _ in range(4):
        bookings_app.book(bookings_app.token(), sess["id"])
    with bookings_app.db.transaction() as s:
        ops.upsert_session(s, {**sess, "capacity": 1})
    statuses = sorted(b.status for b in bookings_app.bookings(sess["id"]))
    assert statuses == ["confirmed", "confirmed", "confirmed", "waitlisted"]
    avail = bookings_app.client.get(f"/api/bookings/sessions/{sess['id']}/availability")
    assert avail.get_json()["remaining"] == 0 and avail.get_json()["confirmed"] == 3


# -- who sees what --------------------------------------------------------------------
def test_practitioners_see_and_cancel_only_their_own(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    alice, bob = bookings_app.token(), bookings_app.token()
    booking_id = bookings_app.book(alice, sess["id"]).get_json()["id"]
    own = bookings_app.client.get(
        f"/api/bookings/{booking_id}", headers=bookings_app.headers(alice)
    )
    assert own.status_code == 200 and own.get_json()["id"] == booking_id
    _problem(
        bookings_app.client.get(f"/api/bookings/{booking_id}", headers=bookings_app.headers(bob)),
        404,
    )
    _problem(
        bookings_app.client.post(
            f"/api/bookings/{booking_id}/cancel", headers=bookings_app.headers(bob)
        ),
        404,
    )
    assert bookings_app.bookings(sess["id"])[0].status == "confirmed"
    listed = bookings_app.client.get("/api/bookings", headers=bookings_app.headers(bob))
    assert listed.get_json() == {"items": [], "next_cursor": None}
    # Even naming the session does not show bob alice's booking.
    listed = bookings_app.client.get(
        f"/api/bookings?session_id={sess['id']}", headers=bookings_app.headers(bob)
    )
    assert listed.get_json()["items"] == []


def test_hub_leads_see_their_hubs_bookings_only(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    for _ in range(3):
        bookings_app.book(bookings_app.token(), sess["id"])
    lead = bookings_app.lead_token()
    other_lead = bookings_app.lead_token(OTHER_HUB)
    listed = bookings_app.client.get(
        f"/api/bookings?session_id={sess['id']}", headers=bookings_app.headers(lead)
    )
    assert len(listed.get_json()["items"]) == 3
    one = listed.get_json()["items"][0]["id"]
    assert (
        bookings_app.client.get(f"/api/bookings/{one}", headers=bookings_app.headers(lead))
    ).status_code == 200
    listed = bookings_app.client.get(
        f"/api/bookings?session_id={sess['id']}", headers=bookings_app.headers(other_lead)
    )
    assert listed.get_json()["items"] == []
    _problem(
        bookings_app.client.get(f"/api/bookings/{one}", headers=bookings_app.headers(other_lead)),
        404,
    )


def test_listing_pages_with_a_cursor(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    made = []
    for day in range(5):
        sess = bookings_app.add_session(starts_at=future(days=day + 2))
        made.append(bookings_app.book(token, sess["id"]).get_json()["id"])
    seen, cursor = [], None
    while True:
        url = "/api/bookings?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = bookings_app.client.get(url, headers=bookings_app.headers(token)).get_json()
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made
    bad = bookings_app.client.get(
        "/api/bookings?cursor=garbage", headers=bookings_app.headers(token)
    )
    _problem(bad, 422)
    _problem(
        bookings_app.client.get("/api/bookings?limit=0", headers=bookings_app.headers(token)), 422
    )
