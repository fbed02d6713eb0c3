"""The CPD certificate: a one-page A4 PDF, built with fpdf2 from the API's data only.

fpdf2's core fonts (Helvetica) need no font files, but they only draw the Windows-1252
(WinAnsi) characters. No Unicode TrueType font ships with a package we pin, so text is
made printable by ``printable``: a character outside Windows-1252 keeps as many of its
accents as the encoding has (``ễ`` becomes ``ê``), letters with no decomposition are
spelled the usual ASCII way (``Ł`` becomes ``L``), and anything else (e.g. a name in a
non-Latin script) becomes ``?``. The exact name still goes into the PDF's metadata
(title and subject are UTF-16 there), so no reader loses it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from gateway.web.formatting import hours, london_day

#: What the core fonts can draw (fpdf2 writes them with /WinAnsiEncoding).
ENCODING = "windows-1252"
#: Letters that do not decompose into a base letter and accents (NFD leaves them whole).
_SPELLED = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "\u0131": "i",  # dotless i (Turkish)
    "Ŀ": "L",
    "ŀ": "l",
    "Ŧ": "T",
    "ŧ": "t",
    "ŋ": "ng",
    "Ŋ": "NG",
    "ĸ": "k",
    "\u017f": "s",  # long s
    "Ə": "E",
    "ə": "e",
}


def _fits(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _char(c: str) -> str:
    if _fits(c):
        return c
    if c in _SPELLED:
        return _SPELLED[c]
    base, *marks = unicodedata.normalize("NFD", c)
    for keep in range(len(marks), -1, -1):  # as many accents as the encoding has
        composed = unicodedata.normalize("NFC", base + "".join(marks[:keep]))
        if _fits(composed):
            return composed
    compat = unicodedata.normalize("NFKD", c)  # ligatures, full-width forms, ...
    stripped = "".join(ch for ch in compat if not unicodedata.combining(ch))
    return stripped if stripped and _fits(stripped) else "?"


def printable(text: str) -> str:
    """``text`` in the characters Helvetica can draw (see the module's docstring)."""
    text = unicodedata.normalize("NFC", text)
    return text if _fits(text) else "".join(_char(c) for c in text)


@dataclass(frozen=True)
class Certificate:
    name: str
    title: str
    starts_at: datetime
    cpd_hours: float
    reference: str
    hub_name: str | None = None


#: Where the body must end: the reference and issue date sit below it.
_FOOTER_Y = 237.0
#: Font scales tried in turn until the body fits above the footer (names and titles
#: may be up to 200 characters each).
_SCALES = (1.0, 0.85, 0.7, 0.6, 0.5)


def certificate_pdf(cert: Certificate, *, issued: datetime | None = None) -> bytes:
    """One A4 page: who attended what, when (London time), for how many CPD hours."""
    issued = issued or datetime.now(UTC)
    for scale in _SCALES:
        pdf, bottom = _render(cert, issued, scale)
        if bottom <= _FOOTER_Y:
            break
    return bytes(pdf.output())


def _render(cert: Certificate, issued: datetime, scale: float) -> tuple[FPDF, float]:
    """The page at ``scale`` (1: full size), and where its body ended (mm from the top)."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(25, 25, 25)
    pdf.set_title(f"CPD certificate: {cert.name}, {cert.title}")
    pdf.set_subject(f"{cert.name} attended {cert.title}")
    pdf.set_author(cert.hub_name or "eyhub")
    pdf.set_creator("eyhub")
    pdf.set_lang("en-GB")
    pdf.set_creation_date(issued)
    pdf.add_page()

    # A border and a band: the certificate look, in GOV.UK's black and blue.
    pdf.set_draw_color(11, 12, 12)
    pdf.set_line_width(1.5)
    pdf.rect(12, 12, pdf.w - 24, pdf.h - 24)
    pdf.set_fill_color(29, 112, 184)
    pdf.rect(12, 12, pdf.w - 24, 12, style="F")

    def line(
        text: str, size: float, style: str = "", gap: float = 4, *, fixed: bool = False
    ) -> None:
        size = size if fixed else size * scale
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(
            0, size * 0.5, printable(text), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        pdf.ln(gap if fixed else gap * scale)

    pdf.set_y(45)
    pdf.set_text_color(11, 12, 12)
    line("Certificate of continuing professional development", 20, "B", 14)
    line("This is to certify that", 14, gap=6)
    line(cert.name, 28, "B", 8)
    line("attended", 14, gap=6)
    line(cert.title, 20, "B", 8)
    line(f"on {london_day(cert.starts_at)}", 14, gap=4)
    if cert.hub_name:
        line(f"run by {cert.hub_name}", 14, gap=4)
    pdf.ln(6 * scale)
    line(f"CPD: {hours(cert.cpd_hours)}", 18, "B", 0)
    bottom = pdf.get_y()

    pdf.set_y(pdf.h - 55)
    pdf.set_text_color(80, 90, 95)
    line(f"Certificate reference: {cert.reference}", 10, gap=2, fixed=True)
    line(
        f"Issued {london_day(issued)} by eyhub for early years practice hubs in England.",
        10,
        fixed=True,
    )
    return pdf, bottom
