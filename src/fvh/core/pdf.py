"""PDF documents of the app (statements, QR cards): one look, core fonts, page numbers."""

from __future__ import annotations

import unicodedata

from fpdf import FPDF


def _showable(char: str) -> str:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        # "ş" -> "s": the base letter without its accent, else a question mark.
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        return base if base and base.isascii() else "?"
    return char


def pdf_text(text: str) -> str:
    """What the PDF core fonts can show (Windows-1252: German, € and most of Western Europe)."""
    return "".join(_showable(char) for char in text)


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = "windows-1252"
        self.footer_text = footer_text
        self.set_auto_page_break(auto=True, margin=15)
        self.set_creator("FVH")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.cell(0, 5, pdf_text(f"{self.footer_text} · {self.page_no()}"), align="C")


def new_document(footer_text: str) -> FPDF:
    """An A4 document with the shared look (core fonts, page numbers in the footer)."""
    return _Document(footer_text)
