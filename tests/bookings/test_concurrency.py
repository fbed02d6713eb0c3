"""No overbooking under real concurrency: many clients, one real threaded HTTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests

from tests.bookings.conftest import BookingsApp
from tests.support.tokens import bearer


def _post_all(url: str, payloads: list[tuple[str, dict, dict]]) -> list[requests.Response]:
    """Fire every request at once (a barrier lines the threads up first)."""
    barrier = Barrier(len(payloads))

    def one(item: tuple[str, dict, dict]) -> requests.Response:
        token, body, headers = item
        with requests.Session() as http:
            barrier.wait()
            return http.post(
                url + "/api/bookings", json=body, headers={**bearer(token), **headers}, timeout=60
            )

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(one, payloads))


def test_sixty_clients_ten_places(bookings_app: BookingsApp, live_server: str) -> None:
    sess = bookings_app.add_session(capacity=10)
    payloads = [(bookings_app.token(), {"session_id": str(sess["id"])}, {}) for _ in range(60)]
    responses = _post_all(live_server, payloads)
    assert [r.status_code for r in responses] == [201] * 60, [r.text for r in responses][:3]
    bodies = [r.json() for r in responses]
    confirmed = [b for b in bodies if b["status"] == "confirmed"]
    waitlisted = [b for b in bodies if b["status"] == "waitlisted"]
    assert len(confirmed) == 10
    assert sorted(b["waitlist_position"] for b in waitlisted) == list(range(1, 51))
    stored = bookings_app.bookings(sess["id"])
    assert sum(b.status == "confirmed" for b in stored) == 10
    assert sorted(b.waitlist_position for b in stored if b.status == "waitlisted") == list(
        range(1, 51)
    )
    avail = requests.get(f"{live_server}/api/bookings/sessions/{sess['id']}/availability").json()
    assert avail == {
        "session_id": str(sess["id"]),
        "capacity": 10,
        "confirmed": 10,
        "waitlisted": 50,
        "remaining": 0,
    }


def test_one_user_racing_themselves_gets_one_booking(
    bookings_app: BookingsApp, live_server: str
) -> None:
    """Double clicks, with and without a key: one booking, the rest 409 or replays."""
    sess = bookings_app.add_session(capacity=5)
    token = bookings_app.token()
    body = {"session_id": str(sess["id"])}
    plain = _post_all(live_server, [(token, body, {}) for _ in range(10)])
    assert sorted(r.status_code for r in plain) == [201] + [409] * 9
    other = bookings_app.token()
    keyed = _post_all(live_server, [(other, body, {"Idempotency-Key": "dbl"}) for _ in range(10)])
    assert sorted(r.status_code for r in keyed) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in keyed}) == 1
    assert len(bookings_app.bookings(sess["id"])) == 2


def test_concurrent_cancellations_promote_each_place_once(
    bookings_app: BookingsApp, live_server: str
) -> None:
    sess = bookings_app.add_session(capacity=5)
    tokens = [bookings_app.token() for _ in range(15)]
    made = _post_all(live_server, [(t, {"session_id": str(sess["id"])}, {}) for t in tokens])
    confirmed = [(t, r.json()["id"]) for t, r in zip(tokens, made, strict=True)]
    confirmed = [
        (t, i)
        for (t, i), r in zip(confirmed, made, strict=True)
        if r.json()["status"] == "confirmed"
    ]
    barrier = Barrier(len(confirmed))

    def cancel(item: tuple[str, str]) -> int:
        token, booking_id = item
        barrier.wait()
        return requests.post(
            f"{live_server}/api/bookings/{booking_id}/cancel", headers=bearer(token), timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=len(confirmed)) as pool:
        assert list(pool.map(cancel, confirmed)) == [200] * 5
    stored = bookings_app.bookings(sess["id"])
    assert sum(b.status == "confirmed" for b in stored) == 5
    assert sorted(b.waitlist_position for b in stored if b.status == "waitlisted") == [
        1,
        2,
        3,
        4,
        5,
    ]
