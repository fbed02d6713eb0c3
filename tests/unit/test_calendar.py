"""Invites and feeds are read correctly by a real client (ical.js), around DST too.

Every file built here is parsed by ical.js; instants are the ones ical.js computes from
the file's own VTIMEZONE, so a missing or misread zone shows up as an hour's error.
"""

from __future__ import annotations

import email
import email.policy
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from icalendar import Calendar

from shared.calendar import (
    LONDON,
    Attendee,
    CalendarItem,
    attach_invite,
    build_calendar,
    calendar_mime_part,
    domain_from_url,
    feed_response,
    invite_uid,
)
from tests.support.icaljs import parse_with_icaljs

STAMP = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def item(
    uid: str = "booking-1@eyhub.example.org",
    start: datetime = datetime(2026, 10, 21, 18, 0, tzinfo=LONDON),
    minutes: int = 90,
    **kw: object,
) -> CalendarItem:
    fields: dict[str, object] = {
        "summary": "Communication and language network",
        "description": "Bring an observation.\nTea from 17:45.",
        "location": "Leeds Hub, Room 2",
        "url": "https://meet.example.org/abc?pwd=x",
        "organizer_email": "hub@eyhub.example.org",
        "organizer_name": "North Leeds Hub",
        "attendees": (Attendee("pat@example.org", "Pat O'Neil, Jr"),),
        "categories": ("network_meeting", "communication_language"),
        "dtstamp": STAMP,
    }
    fields.update(kw)
    return CalendarItem(
        uid=uid,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        **fields,  # type: ignore[arg-type]
    )


def lines(ics: bytes) -> list[str]:
    return ics.decode("utf-8").split("\r\n")


# --- instants as ical.js reads them -------------------------------------------------


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        ((2026, 10, 21), "2026-10-21T17:00:00Z"),  # BST, before clocks go back on 25 Oct
        ((2026, 10, 28), "2026-10-28T18:00:00Z"),  # GMT after
        ((2027, 3, 24), "2027-03-24T18:00:00Z"),  # GMT, before clocks go forward on 28 Mar
        ((2027, 3, 31), "2027-03-31T17:00:00Z"),  # BST after
    ],
)
def test_london_18_00_is_the_right_instant_either_side_of_dst(
    day: tuple[int, int, int], utc: str
) -> None:
    start = datetime(*day, 18, 0, tzinfo=LONDON)
    ics = build_calendar([item(start=start)], method="PUBLISH")
    assert f"DTSTART;TZID=Europe/London:{day[0]:04d}{day[1]:02d}{day[2]:02d}T180000" in lines(ics)

    [ev] = parse_with_icaljs(ics)["events"]
    assert ev["tzid"] == "Europe/London"
    assert ev["dtstart"]["zone"] == "Europe/London"  # resolved, not floating
    assert ev["start"] == ev["dtstart"]["utc"] == utc
    end = datetime.fromisoformat(ev["end"]) - datetime.fromisoformat(ev["start"])
    assert end == timedelta(minutes=90)


def test_times_given_in_utc_are_written_in_london_local_time() -> None:
    start = datetime(2027, 3, 31, 17, 0, tzinfo=UTC)
    ics = build_calendar([item(start=start)], method="PUBLISH")
    assert "DTSTART;TZID=Europe/London:20270331T180000" in lines(ics)
    assert "DTEND;TZID=Europe/London:20270331T193000" in lines(ics)
    assert parse_with_icaljs(ics)["events"][0]["start"] == "2027-03-31T17:00:00Z"


def test_harness_notices_a_tzid_without_its_vtimezone() -> None:
    """Guards the check above: without the VTIMEZONE ical.js would be an hour out."""
    ics = build_calendar(
        [item(start=datetime(2027, 3, 31, 18, 0, tzinfo=LONDON))], method="PUBLISH"
    )
    text = ics.decode()
    stripped = text[: text.index("BEGIN:VTIMEZONE")] + text[text.index("BEGIN:VEVENT") :]
    [ev] = parse_with_icaljs(stripped)["events"]
    assert ev["dtstart"]["zone"] == "floating"
    assert ev["start"] != "2027-03-31T17:00:00Z"


def test_vtimezone_is_rrule_based_and_matches_the_tzid_used() -> None:
    ics = build_calendar([item()], method="PUBLISH")
    text = ics.decode()
    vtz = text[text.index("BEGIN:VTIMEZONE") : text.index("END:VTIMEZONE")]
    assert text.count("BEGIN:VTIMEZONE") == 1
    assert "RDATE" not in vtz

    parsed = parse_with_icaljs(ics)
    [tz] = parsed["timezones"]
    assert tz["tzid"] == "Europe/London" == parsed["events"][0]["tzid"]
    observances = {o["kind"]: o for o in tz["observances"]}
    assert observances["standard"] == {
        "kind": "standard",
        "dtstart": "1970-10-25T02:00:00",
        "rrule": "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "rdate_count": 0,
        "tzname": "GMT",
        "offset_from": "+01:00",
        "offset_to": "+00:00",
    }
    assert observances["daylight"] == {
        "kind": "daylight",
        "dtstart": "1970-03-29T01:00:00",
        "rrule": "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "rdate_count": 0,
        "tzname": "BST",
        "offset_from": "+00:00",
        "offset_to": "+01:00",
    }


# --- calendar and event properties --------------------------------------------------


@pytest.mark.parametrize("method", ["PUBLISH", "REQUEST", "CANCEL"])
def test_method_round_trips(method: str) -> None:
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    ics = build_calendar([item(status=status)], method=method.lower())
    parsed = parse_with_icaljs(ics)
    assert parsed["method"] == method
    assert Calendar.from_ical(ics)["METHOD"] == method


def test_cancelled_item_keeps_uid_and_carries_status_and_sequence() -> None:
    ics = build_calendar([item(status="CANCELLED", sequence=3)], method="CANCEL")
    assert "STATUS:CANCELLED" in lines(ics)
    assert "SEQUENCE:3" in lines(ics)
    [ev] = parse_with_icaljs(ics)["events"]
    assert (ev["uid"], ev["status"], ev["sequence"]) == (
        "booking-1@eyhub.example.org",
        "CANCELLED",
        3,
    )


def test_feed_calendar_properties() -> None:
    ics = build_calendar(
        [item()], method="PUBLISH", name="Leeds, Bradford hub", refresh_interval=timedelta(hours=6)
    )
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in lines(ics)
    assert "X-PUBLISHED-TTL:PT6H" in lines(ics)
    parsed = parse_with_icaljs(ics)
    assert parsed["version"] == "2.0"
    assert parsed["prodid"] == "-//eyhub//eyhub//EN"
    assert parsed["calscale"] == "GREGORIAN"
    assert parsed["calname"] == "Leeds, Bradford hub"
    assert parsed["refresh_interval"] == {"value": "PT6H", "type": "duration"}


def test_no_name_or_refresh_unless_asked() -> None:
    text = build_calendar([item()], method="PUBLISH").decode()
    assert "X-WR-CALNAME" not in text
    assert "REFRESH-INTERVAL" not in text


def test_event_fields_as_ical_js_reads_them() -> None:
    london_stamp = datetime(2026, 9, 1, 13, 0, tzinfo=LONDON)  # 12:00Z
    ics = build_calendar(
        [
            item(
                sequence=2,
                dtstamp=london_stamp,
                last_modified=london_stamp,
                extra={"X-EYHUB-KIND": "network, meeting"},
            )
        ],
        method="REQUEST",
    )
    assert "DTSTAMP:20260901T120000Z" in lines(ics)
    assert "X-EYHUB-KIND:network\\, meeting" in lines(ics)
    [ev] = parse_with_icaljs(ics)["events"]
    assert ev["summary"] == "Communication and language network"
    assert ev["description"] == "Bring an observation.\nTea from 17:45."
    assert ev["location"] == "Leeds Hub, Room 2"
    assert ev["url"] == "https://meet.example.org/abc?pwd=x"
    assert ev["sequence"] == 2
    assert ev["status"] == "CONFIRMED"
    assert ev["dtstamp"] == ev["last_modified"] == "2026-09-01T12:00:00Z"
    assert ev["categories"] == ["network_meeting", "communication_language"]
    assert ev["organizer"] == {
        "value": "mailto:hub@eyhub.example.org",
        "params": {"CN": "North Leeds Hub"},
    }
    assert ev["attendees"] == [
        {
            "value": "mailto:pat@example.org",
            "params": {
                "CN": "Pat O'Neil, Jr",
                "PARTSTAT": "NEEDS-ACTION",
                "RSVP": "TRUE",
                "ROLE": "REQ-PARTICIPANT",
            },
        }
    ]


def test_crlf_and_lines_folded_at_75_octets() -> None:
    long = "Écoute et langage — " * 10
    ics = build_calendar([item(summary=long, description=long)], method="PUBLISH")
    assert ics.endswith(b"\r\n")
    assert b"\n" not in ics.replace(b"\r\n", b"")
    assert max(len(line) for line in ics.split(b"\r\n")) <= 75
    assert parse_with_icaljs(ics)["events"][0]["summary"] == long


def test_empty_feed_is_still_a_calendar() -> None:
    ics = build_calendar([], method="PUBLISH", name="Nothing yet")
    parsed = parse_with_icaljs(ics)
    assert parsed["events"] == []
    assert parsed["method"] == "PUBLISH"
    assert len(parsed["timezones"]) == 1


# --- deterministic bytes (strong ETags rely on them) --------------------------------


def _several() -> list[CalendarItem]:
    base = datetime(2026, 11, 4, 10, 0, tzinfo=LONDON)
    return [
        item(uid="b@x", start=base),
        item(uid="a@x", start=base),  # same start: UID breaks the tie
        item(uid="c@x", start=base - timedelta(days=7), status="CANCELLED", sequence=1),
        item(uid="d@x", start=base + timedelta(days=30), status="TENTATIVE"),
    ]


def test_bytes_are_stable_and_independent_of_input_order() -> None:
    items = _several()
    first = build_calendar(items, method="PUBLISH", name="Hub", refresh_interval=timedelta(hours=1))
    for seed in range(5):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        again = build_calendar(
            shuffled, method="PUBLISH", name="Hub", refresh_interval=timedelta(hours=1)
        )
        assert again == first
    uids = [ev["uid"] for ev in parse_with_icaljs(first)["events"]]
    assert uids == ["c@x", "a@x", "b@x", "d@x"]


def test_a_change_changes_the_bytes() -> None:
    items = _several()
    before = build_calendar(items, method="PUBLISH")
    items[0] = replace(items[0], sequence=items[0].sequence + 1)
    assert build_calendar(items, method="PUBLISH") != before


# --- guards -------------------------------------------------------------------------


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        item(start=datetime(2026, 10, 21, 18, 0))


def test_invites_need_organizer_and_attendee() -> None:
    with pytest.raises(ValueError, match="organizer"):
        build_calendar([item(organizer_email=None)], method="REQUEST")
    with pytest.raises(ValueError, match="organizer"):
        build_calendar([item(attendees=())], method="REQUEST")
    build_calendar([item(organizer_email=None, attendees=())], method="PUBLISH")


def test_cancel_needs_cancelled_items_and_methods_are_checked() -> None:
    with pytest.raises(ValueError, match="CANCELLED"):
        build_calendar([item()], method="CANCEL")
    with pytest.raises(ValueError, match="method"):
        build_calendar([item()], method="REPLY")
    with pytest.raises(ValueError, match="status"):
        item(status="cancelled")


def test_uids_and_domains() -> None:
    assert domain_from_url("http://127.0.0.1:8080") == "127.0.0.1"
    assert domain_from_url("https://eyhub.example.org/") == "eyhub.example.org"
    assert invite_uid("booking", 42, "eyhub.example.org") == "booking-42@eyhub.example.org"
    with pytest.raises(ValueError):
        domain_from_url("not a url")


# --- mail ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "status"), [("REQUEST", "CONFIRMED"), ("CANCEL", "CANCELLED")])
def test_mime_part_method_matches_the_file(method: str, status: str) -> None:
    ics = build_calendar([item(status=status)], method=method)
    part = calendar_mime_part(ics, method)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == method
    assert part.get_content_charset() == "utf-8"
    assert parse_with_icaljs(part.get_content())["method"] == method
    with pytest.raises(ValueError, match="METHOD"):
        calendar_mime_part(ics, "PUBLISH")


def test_attach_invite_gives_alternative_part_and_file() -> None:
    ics = build_calendar([item(summary="Café talk")], method="REQUEST")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["To"] = "pat@example.org"
    msg["Subject"] = "Booked"
    msg.set_content("You are booked.")
    attach_invite(msg, ics)

    sent = email.message_from_bytes(msg.as_bytes(), policy=email.policy.SMTP)
    assert sent.get_content_type() == "multipart/mixed"
    alternative, attachment = sent.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, cal = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert cal.get_content_type() == "text/calendar"
    assert cal["Content-Transfer-Encoding"] != "base64"
    body = cal.get_content()
    assert body.replace("\r\n", "\n") == ics.decode().replace("\r\n", "\n")
    parsed = parse_with_icaljs(body)
    assert cal.get_param("method") == parsed["method"] == "REQUEST"
    assert parsed["events"][0]["summary"] == "Café talk"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content() == ics


# --- HTTP ---------------------------------------------------------------------------


@pytest.fixture
def feed_app() -> Flask:
    app = Flask(__name__)
    app.config["feed"] = (
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        datetime(2026, 9, 1, 12, 0, 5, 123, UTC),
    )

    @app.get("/feed.ics")
    def feed():  # type: ignore[no-untyped-def]
        body, changed = app.config["feed"]
        return feed_response(body, changed, filename="hub.ics")

    return app


def test_feed_response_headers(feed_app: Flask) -> None:
    resp = feed_app.test_client().get("/feed.ics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert resp.headers["Cache-Control"] in ("private, max-age=300", "max-age=300, private")
    assert resp.headers["Content-Disposition"] == "inline; filename=hub.ics"
    assert resp.headers["Last-Modified"] == "Tue, 01 Sep 2026 12:00:05 GMT"
    etag = resp.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert resp.data == feed_app.config["feed"][0]


def test_if_none_match_gives_304_until_the_body_changes(feed_app: Flask) -> None:
    client = feed_app.test_client()
    etag = client.get("/feed.ics").headers["ETag"]
    resp = client.get("/feed.ics", headers={"If-None-Match": etag})
    assert resp.status_code == 304
    assert resp.data == b""
    assert resp.headers["ETag"] == etag

    feed_app.config["feed"] = (b"BEGIN:VCALENDAR\r\nX:1\r\nEND:VCALENDAR\r\n", datetime.now(UTC))
    resp = client.get("/feed.ics", headers={"If-None-Match": etag})
    assert resp.status_code == 200
    assert resp.headers["ETag"] != etag


def test_if_modified_since(feed_app: Flask) -> None:
    client = feed_app.test_client()
    last = client.get("/feed.ics").headers["Last-Modified"]
    assert client.get("/feed.ics", headers={"If-Modified-Since": last}).status_code == 304
    older = "Tue, 01 Sep 2026 12:00:04 GMT"
    assert client.get("/feed.ics", headers={"If-Modified-Since": older}).status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(feed_app: Flask) -> None:
    client = feed_app.test_client()
    last = client.get("/feed.ics").headers["Last-Modified"]
    resp = client.get("/feed.ics", headers={"If-None-Match": '"stale"', "If-Modified-Since": last})
    assert resp.status_code == 200


def test_the_files_method_is_read_from_the_header_and_checked() -> None:
    from shared.calendar import _file_method, calendar_mime_part

    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:cancel\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\n"
    assert _file_method(ics) == "CANCEL"
    inner = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nMETHOD:REQUEST\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    with pytest.raises(ValueError, match="no METHOD"):
        _file_method(inner)  # a METHOD inside a component is not the calendar's
    with pytest.raises(ValueError, match="differs"):
        calendar_mime_part(ics, "REQUEST")
