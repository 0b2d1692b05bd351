"""A member's two QR codes, as the QR terminals read them, and a printable card with both.

The content is the ten-digit code followed by one letter: `a` books the default amount,
`k` asks for the balance (see the API contract). Nothing else is ever encoded.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

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


# Where the card sits on the A4 page (mm from the top left), and its inner margin.
CARD_LEFT_MM = 20.0
CARD_TOP_MM = 25.0
_PADDING_MM = 4.0
_QR_SIZE_MM = 32.0
# The organisation's name: one line from 10 pt down to 7 pt, else wrapped in up to three lines
# from 7 pt down to 5.5 pt, the last one cut with an ellipsis if even that is not enough.
_ONE_LINE_SIZES = (10.0, 9.0, 8.0, 7.0)
_WRAPPED_SIZES = (7.0, 6.5, 6.0, 5.5)
_MAX_LINES = 3
_PT_TO_MM = 25.4 / 72


def card_pdf(code: str, name: str, organisation: str, words: Mapping[str, str]) -> bytes:
    """An A4 page with a bank-card-sized card to cut out: name, code and both QR codes.

    `words`: title, book, balance, cut (translated by the door). A long organisation name
    gets a smaller font and wraps, a long member name is cut: everything stays inside the
    cut line.
    """
    from fvh.core.pdf import new_document, pdf_text  # fpdf2 loads in 0.3 s: only when needed

    pdf = new_document(f"{organisation} · {name} ({code})")
    pdf.set_title(pdf_text(f"{words['title']} {code}"))
    pdf.add_page()
    left, top = CARD_LEFT_MM, CARD_TOP_MM
    width = CARD_WIDTH_MM - 2 * _PADDING_MM
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(left, top - 8)
    pdf.cell(0, 5, pdf_text(words["cut"]))
    pdf.set_dash_pattern(dash=1, gap=1)
    pdf.rect(left, top, CARD_WIDTH_MM, CARD_HEIGHT_MM)
    pdf.set_dash_pattern()
    y = _heading(pdf, pdf_text(organisation), left + _PADDING_MM, top + 3, width)
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(left + _PADDING_MM, y + 0.5)
    suffix = pdf_text(f" · {code}")
    shown = _cut(pdf, pdf_text(name), width - 2 * pdf.c_margin - pdf.get_string_width(suffix))
    pdf.cell(width, 5, shown + suffix)
    qr_top = max(top + 14, y + 6)
    for index, kind in enumerate((BOOK, BALANCE)):
        x = left + 6 + index * (_QR_SIZE_MM + 9.6)
        pdf.image(io.BytesIO(png(code, kind)), x=x, y=qr_top, w=_QR_SIZE_MM, h=_QR_SIZE_MM)
        pdf.set_xy(x, qr_top + _QR_SIZE_MM)
        pdf.set_font("helvetica", size=8)
        pdf.cell(_QR_SIZE_MM, 4, pdf_text(words[kind]), align="C")
    return bytes(pdf.output())


def _heading(pdf: Any, text: str, x: float, y: float, width: float) -> float:
    """The organisation's name at (x, y) within `width` mm; returns the y below it."""
    room = width - 2 * pdf.c_margin
    for size in _ONE_LINE_SIZES:
        pdf.set_font("helvetica", "B", size)
        if pdf.get_string_width(text) <= room:
            pdf.set_xy(x, y)
            pdf.cell(width, 5, text)
            return y + 5
    for size in _WRAPPED_SIZES:
        pdf.set_font("helvetica", "B", size)
        lines = pdf.multi_cell(width, 1, text, dry_run=True, output="LINES")
        if len(lines) <= _MAX_LINES:
            break
    else:
        rest = " ".join(lines[_MAX_LINES - 1 :])
        lines = [*lines[: _MAX_LINES - 1], _cut(pdf, rest, room)]
    height = pdf.font_size_pt * _PT_TO_MM * 1.15
    for line in lines:
        pdf.set_xy(x, y)
        pdf.cell(width, height, line)
        y += height
    return y


def _cut(pdf: Any, text: str, width: float) -> str:
    """`text`, shortened with an ellipsis if it is wider than `width` mm in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"
