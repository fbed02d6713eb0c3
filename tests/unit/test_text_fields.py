"""The kernel's one field for user-supplied text (shared/fields.py ``Text``) and the mail
layer's header guard (shared/mail.py ``header_text``): issue 15, "No 500 from any input"."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError

from shared.fields import Text, is_utf8
from shared.mail import header_text


class _Form(Schema):
    title = Text(max_length=20)
    notes = Text(max_length=50, multiline=True)
    password = Text(max_length=30, exact=True)


def _load(**data: str) -> dict[str, str]:
    return _Form().load(data)


def test_text_is_nfc_normalised_and_trimmed_to_its_limit() -> None:
    assert _load(title="Zoe\u0301")["title"] == "Zo\u00e9"
    with pytest.raises(ValidationError) as err:
        _load(title="x" * 21)
    assert set(err.value.messages) == {"title"}


@pytest.mark.parametrize("bad", ["A\nB", "A\r\nB", "A\x00B", "A\u2028B", "A\x85B", "A\tB"])
def test_one_line_text_refuses_line_breaks_and_controls(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        _load(title=bad)
    assert set(err.value.messages) == {"title"}


def test_multiline_text_keeps_newlines_and_tabs_but_not_other_controls() -> None:
    assert _load(notes="one\n\ttwo")["notes"] == "one\n\ttwo"
    with pytest.raises(ValidationError):
        _load(notes="one\x00two")


def test_lone_surrogates_are_refused_even_where_text_is_exact() -> None:
    assert not is_utf8("a\ud800") and is_utf8("a\U0001f600")
    for field in ("title", "notes", "password"):
        with pytest.raises(ValidationError) as err:
            _load(**{field: "a\ud800"})
        assert set(err.value.messages) == {field}
    # Passwords are compared byte for byte: not normalised, controls allowed.
    assert _load(password="Zoe\u0301\x01")["password"] == "Zoe\u0301\x01"


@pytest.mark.parametrize(
    "raw",
    ["Early maths\r\nBcc: victim@example.org", "A\u2028B", "A\x0bB\x0cC", "A\x1cB", "x\ud800y"],
)
def test_header_text_is_always_one_safe_line(raw: str) -> None:
    line = header_text(raw)
    assert line.splitlines() == [line]
    assert is_utf8(line)
    assert "\r" not in line and "\n" not in line
