"""A member's two QR codes, as the QR terminals read them, and a printable card with both.

The content is the ten-digit code followed by one letter: `a` books the default amount,
`k` asks for the balance (see the API contract). Nothing else is ever encoded.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import segno

from fvh.core.members import validate_code

BOOK = "book"
BALANCE = "balance"
SUFFIXES = {BOOK: "a", BALANCE: "k"}
CARD_WIDTH_MM = 85.6  # ID-1, the size of a bank card
CARD_HEIGHT_MM = 54.0


def content(code: str, kind: str) -> str:
    """`2000000002a` or `2000000002k`: exactly 11 characters."""
    if kind not in SUFFIXES:
        raise ValueError(f"unknown QR kind {kind!r}")
    return validate_code(code) + SUFFIXES[kind]


def png(code: str, kind: str, scale: int = 10) -> bytes:
    """The QR code as a black-on-white PNG with the standard quiet zone."""
    out = io.BytesIO()
    segno.make_qr(content(code, kind), error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def card_pdf(code: str, name: str, organisation: str, words: Mapping[str, str]) -> bytes:
    """An A4 page with a bank-card-sized card to cut out: name, code and both QR codes.

    `words`: title, book, balance, cut (translated by the door).
    """
    from fvh.core.pdf import new_document, pdf_text  # fpdf2 loads in 0.3 s: only when needed

    pdf = new_document(f"{organisation} · {name} ({code})")
    pdf.set_title(pdf_text(f"{words['title']} {code}"))
    pdf.add_page()
    left, top = 20.0, 25.0
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(left, top - 8)
    pdf.cell(0, 5, pdf_text(words["cut"]))
    pdf.set_dash_pattern(dash=1, gap=1)
    pdf.rect(left, top, CARD_WIDTH_MM, CARD_HEIGHT_MM)
    pdf.set_dash_pattern()
    pdf.set_xy(left + 4, top + 3)
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(CARD_WIDTH_MM - 8, 5, pdf_text(organisation))
    pdf.set_xy(left + 4, top + 8)
    pdf.set_font("helvetica", size=9)
    pdf.cell(CARD_WIDTH_MM - 8, 5, pdf_text(f"{name} · {code}"))
    size = 32.0
    for index, kind in enumerate((BOOK, BALANCE)):
        x = left + 6 + index * (size + 9.6)
        pdf.image(io.BytesIO(png(code, kind)), x=x, y=top + 14, w=size, h=size)
        pdf.set_xy(x, top + 14 + size)
        pdf.set_font("helvetica", size=8)
        pdf.cell(size, 4, pdf_text(words[kind]), align="C")
    return bytes(pdf.output())
