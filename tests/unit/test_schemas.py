"""The kernel's API fields: one UTC datetime on the wire, one cursor format for every list."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import Schema, ValidationError
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import UTCDateTime as UTCDateTimeColumn
from shared.fields import UTCDateTime
from shared.pagination import decode_cursor, encode_cursor, page, text_key
from shared.problems import Problem


class When(Schema):
    at = UTCDateTime(required=True)
    maybe = UTCDateTime(allow_none=True)


# -- UTCDateTime: dump --------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        datetime(2027, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2027, 3, 1, 9, 30, 0, 999_999, tzinfo=UTC),  # fractions dropped, not rounded
        datetime(2027, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1))),  # BST wall clock
        datetime(2027, 3, 1, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_dump_is_utc_with_z_in_whole_seconds(value: datetime) -> None:
    assert When().dump({"at": value})["at"] == "2027-03-01T09:30:00Z"


def test_dump_passes_none_and_refuses_naive() -> None:
    assert When().dump({"at": datetime(2027, 3, 1, tzinfo=UTC), "maybe": None})["maybe"] is None
    with pytest.raises(ValueError, match="naive"):
        When().dump({"at": datetime(2027, 3, 1, 9, 30)})


# -- UTCDateTime: load --------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "2027-03-01T09:30:00Z",
        "2027-03-01T09:30:00+00:00",
        "2027-03-01T10:30:00+01:00",
        "2027-03-01T04:30:00-05:00",
        "2027-03-01T09:30Z",
    ],
)
def test_load_accepts_z_or_an_offset_and_converts_to_utc(text: str) -> None:
    loaded = When().load({"at": text})["at"]
    assert loaded == datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
    assert loaded.utcoffset() == timedelta(0) and loaded.tzinfo is UTC


def test_load_keeps_fractions_a_client_sent() -> None:
    loaded = When().load({"at": "2027-03-01T09:30:00.250Z"})["at"]
    assert loaded.microsecond == 250_000


def test_load_refuses_naive_times_saying_what_to_add() -> None:
    with pytest.raises(ValidationError) as err:
        When().load({"at": "2027-03-01T09:30:00"})
    (message,) = err.value.messages["at"]  # type: ignore[call-overload,index]
    assert "Give a time zone" in message and "Z" in message


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("2027-13-01T09:30:00Z", "ISO 8601"),
        ("next tuesday", "ISO 8601"),
        ("2027-03-01T09:30:00Z" + " " * 30, "ISO 8601"),  # over the length bound
        (1_804_000_000, "ISO 8601"),  # a number is not a date-time
        ("1999-12-31T23:59:59Z", "between the years 2000 and 2099"),
        ("2100-01-01T00:30:00+01:00", None),  # 23:30 UTC on 31 Dec 2099: in range
        ("2100-01-01T00:00:00Z", "between the years 2000 and 2099"),
        ("0001-01-01T00:00:00+01:00", "ISO 8601"),  # overflows converting to UTC
    ],
)
def test_load_refuses_what_is_not_a_sane_instant(value: object, needle: str | None) -> None:
    if needle is None:
        assert When().load({"at": value})["at"].year == 2099
        return
    with pytest.raises(ValidationError) as err:
        When().load({"at": value})
    assert needle in err.value.messages["at"][0]  # type: ignore[call-overload,index]


def test_round_trip_is_stable() -> None:
    text = When().dump({"at": When().load({"at": "2027-10-25T01:30:00+01:00"})["at"]})["at"]
    assert text == "2027-10-25T00:30:00Z"
    assert When().dump(When().load({"at": text}))["at"] == text


# -- cursors ------------------------------------------------------------------------
def test_cursor_round_trips_timestamp_and_text_keys() -> None:
    ident = uuid.uuid4()
    when = datetime(2027, 3, 1, 9, 30, 0, 123_456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, ident)) == (when, ident)
    email = "odd|local@example.org"  # "|" is legal in an address's local part
    assert decode_cursor(encode_cursor(email, ident), text_key) == (email, ident)


FIXED_ID = uuid.UUID("6f1c2a3e-0000-4000-8000-000000000001")


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        _b64(f"2027-03-01T09:30:00|{FIXED_ID}"),  # naive: never one of ours
        _b64("2027-03-01T09:30:00+00:00|not-a-uuid"),
        _b64(f"|{FIXED_ID}"),
    ],
    ids=["not-base64", "naive-time", "bad-id", "empty-key"],  # the same on every xdist worker
)
def test_foreign_cursors_are_a_422_naming_cursor(cursor: str) -> None:
    with pytest.raises(Problem) as err:
        decode_cursor(cursor)
    assert err.value.status == 422
    assert err.value.errors is not None and "cursor" in err.value.errors


class _Base(DeclarativeBase):
    """A metadata of its own for the table below."""


class _Row(_Base):
    __tablename__ = "rows"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTimeColumn)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def rows() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    base = datetime(2027, 3, 1, tzinfo=UTC)
    with Session(engine) as s:
        # Pairs share a timestamp, so only the id tie-break keeps pages exact.
        s.add_all(
            _Row(id=uuid.uuid4(), at=base + timedelta(hours=i // 2), name=f"n{i:02}")
            for i in range(11)
        )
        s.commit()
        yield s
    engine.dispose()


def _all_pages(s: Session, limit: int, **keyset: object) -> list[list[_Row]]:
    pages, cursor = [], None
    while True:
        items, cursor = page(s, select(_Row), limit=limit, cursor=cursor, **keyset)  # type: ignore[arg-type]
        pages.append(items)
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2, 3, 11, 50])
def test_pages_cover_every_row_once_in_key_then_id_order(rows: Session, limit: int) -> None:
    pages = _all_pages(rows, limit, key=_Row.at, ident=_Row.id)
    seen = [r for p in pages for r in p]
    assert [(r.at, r.id) for r in seen] == sorted((r.at, r.id) for r in seen)
    assert len(seen) == len({r.id for r in seen}) == 11
    assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit


def test_text_keyed_pages_and_rows_inserted_behind_the_cursor(rows: Session) -> None:
    first, cursor = page(
        rows, select(_Row), key=_Row.name, ident=_Row.id, limit=4, cursor=None, parse=text_key
    )
    assert [r.name for r in first] == ["n00", "n01", "n02", "n03"] and cursor
    rows.add(_Row(id=uuid.uuid4(), at=datetime(2027, 3, 1, tzinfo=UTC), name="n00a"))
    rows.commit()
    rest, cursor = page(
        rows, select(_Row), key=_Row.name, ident=_Row.id, limit=50, cursor=cursor, parse=text_key
    )
    assert [r.name for r in rest] == [f"n{i:02}" for i in range(4, 11)] and cursor is None
