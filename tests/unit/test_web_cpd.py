"""The CPD pages' pure parts: the certificate PDF (any name, one page) and the
financial years the record groups hours by."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from gateway.web.certificates import Certificate, certificate_pdf, printable
from gateway.web.cpd import hours_by_financial_year

ISSUED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _read(cert: Certificate) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(certificate_pdf(cert, issued=ISSUED)))
    return reader, " ".join(reader.pages[0].extract_text().split())


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Zoë Ålund-O\u2019Brien", "Zoë Ålund-O\u2019Brien"),  # all in Windows-1252: kept as is
        ("Łucja Wąs", "Lucja Was"),
        ("Nguyễn Thị Minh", "Nguyên Thi Minh"),  # keeps the accent the encoding has
        ("ﬁona", "fiona"),
        ("王芳", "??"),
    ],
)
def test_printable_keeps_what_helvetica_can_draw(name: str, shown: str) -> None:
    assert printable(name) == shown


def test_certificate_is_one_a4_page_with_the_facts_and_the_exact_name() -> None:
    name = "Łucja Nguyễn-Zoë"
    reader, text = _read(
        Certificate(
            name=name,
            title="Talking with babies",
            starts_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC),  # 1 July in London
            cpd_hours=2.5,
            reference="0d9c1f7e-booking",
            hub_name="East Sussex Early Years Hub",
        )
    )
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    for fact in (
        "Lucja Nguyên-Zoë",
        "Talking with babies",
        "Wednesday 1 July 2026",
        "East Sussex Early Years Hub",
        "CPD: 2.5 hours",
        "0d9c1f7e-booking",
        "Issued Thursday 3 December 2026",
    ):
        assert fact in text
    assert name in reader.metadata.title  # the metadata keeps every character


def test_the_longest_name_and_title_still_fit_one_page() -> None:
    reader, text = _read(
        Certificate(
            name=("Wolfeschlegelsteinhausenbergerdorff " * 6)[:200],
            title=("Supporting early language and communication " * 5)[:200],
            starts_at=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
            cpd_hours=1,
            reference="ref-1",
            hub_name=("A very long practice hub name " * 7)[:200],
        )
    )
    assert len(reader.pages) == 1 and "CPD: 1 hour" in text and "ref-1" in text


def test_hours_by_financial_year_uses_the_london_day() -> None:
    items = [
        {"starts_at": "2026-03-31T23:30:00Z", "hours": 1.5},  # 1 April in London (BST)
        {"starts_at": "2026-03-31T10:00:00Z", "hours": 2},
        {"starts_at": "2026-04-02T10:00:00Z", "hours": 0.25},
    ]
    assert hours_by_financial_year(items) == {"2025/26": 2.0, "2026/27": 1.75}
