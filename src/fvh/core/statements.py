"""A member's statement (journal with running balance) as CSV or PDF, and data for their charts.

Plain domain code: the door passes the words (translated), the money formatter, the time
zone and, for the PDF, the locale; nothing here knows about requests.

The PDF is for people and shows times in the locale's format (`fvh.core.dates.date_time`); the
CSV is for spreadsheet programs and keeps ISO dates in the local zone (`2026-11-27 14:05`),
which they read as dates in any language.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fvh.core import dates
from fvh.core.errors import N_, ValidationError
from fvh.db.models import Member, Transaction

TERMINAL_KIND = "api_key"
MAX_CHART_POINTS = 500
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Money = Callable[[int], str]


@dataclass(frozen=True)
class Line:
    created_at: datetime  # UTC
    amount_cents: int
    description: str
    booked_by: str
    balance_cents: int  # after this entry


@dataclass(frozen=True)
class Statement:
    member_code: str
    member_name: str
    date_from: datetime | None  # inclusive, UTC
    date_to: datetime | None  # exclusive, UTC
    opening_balance_cents: int
    closing_balance_cents: int
    lines: list[Line]


class TooManyLines(ValidationError):
    """The period holds more entries than one statement of this kind may show."""


def build(
    session: Session,
    member: Member,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    *,
    max_lines: int | None = None,
) -> Statement:
    """The member's entries in [date_from, date_to), oldest first, with the balance after each.

    With `max_lines`, a longer period is refused (TooManyLines) before anything is built: a
    statement's cost grows with its lines, and one request must stay short.
    """
    opening = 0
    if date_from is not None:
        opening = int(
            session.scalar(
                select(func.coalesce(func.sum(Transaction.amount_cents), 0)).where(
                    Transaction.member_id == member.id, Transaction.created_at < date_from
                )
            )
            or 0
        )
    conditions = [Transaction.member_id == member.id]
    if date_from is not None:
        conditions.append(Transaction.created_at >= date_from)
    if date_to is not None:
        conditions.append(Transaction.created_at < date_to)
    query = select(Transaction).where(*conditions).order_by(Transaction.created_at, Transaction.id)
    if max_lines is not None:
        query = query.limit(max_lines + 1)
    entries = list(session.scalars(query))
    if max_lines is not None and len(entries) > max_lines:
        raise TooManyLines(
            N_("Der Zeitraum hat mehr als %(max)d Buchungen. Bitte einen kürzeren wählen."),
            "from",
            max=max_lines,
        )
    balance = opening
    lines = []
    for entry in entries:
        balance += entry.amount_cents
        lines.append(
            Line(
                entry.created_at,
                entry.amount_cents,
                entry.description,
                entry.booked_by_label,
                balance,
            )
        )
    return Statement(member.code, member.full_name, date_from, date_to, opening, balance, lines)


def local_time(value: datetime, zone: tzinfo) -> str:
    """A stored UTC time as `2026-11-27 14:05` in the given zone, as the CSV carries it."""
    return dates.spreadsheet(value, zone)


def _cell(text: str) -> str:
    """Neutralise text that a spreadsheet would otherwise run as a formula."""
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def to_csv(statement: Statement, headers: Sequence[str], money: Money, zone: tzinfo) -> bytes:
    """UTF-8 CSV (with BOM, `;`-separated, as spreadsheet programs in Germany expect).

    `headers`: time, amount, description, booked by, balance.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(headers)
    for line in statement.lines:
        writer.writerow(
            [
                local_time(line.created_at, zone),
                money(line.amount_cents),
                _cell(line.description),
                _cell(line.booked_by),
                money(line.balance_cents),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# The statement's columns: word key, width (mm, 190 in all: A4 within its margins), alignment.
_COLUMNS = (
    ("time", 37, "L"),  # "Nov 27, 2026, 12:05 PM" in English
    ("description", 63, "L"),
    ("booked_by", 40, "L"),
    ("amount", 25, "R"),
    ("balance", 25, "R"),
)
_ROW_HEIGHT = 5


def to_pdf(
    statement: Statement,
    words: Mapping[str, str],
    money: Money,
    zone: tzinfo,
    organisation: str,
    locale: str = dates.DEFAULT_LOCALE,
) -> bytes:
    """A printable statement. `words`: title, period, opening, closing, time, description,
    booked_by, amount, balance, none, all (translated by the door); times and dates in the
    `locale`'s format.

    The entries are plain cells, one row each, cut to their column: fpdf2's table layout
    measured and wrapped every cell and took six times as long (BENCHMARKS.md), and a
    download should stay short."""
    from fvh.core.pdf import new_document, pdf_text

    pdf = new_document(f"{organisation} · {statement.member_name} ({statement.member_code})")
    pdf.set_title(pdf_text(f"{words['title']} {statement.member_code}"))
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 9, pdf_text(words["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    for text in (
        organisation,
        f"{statement.member_name} ({statement.member_code})",
        f"{words['period']}: {_period(statement, zone, words, locale)}",
        f"{words['opening']}: {money(statement.opening_balance_cents)}",
    ):
        pdf.cell(0, 6, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_draw_color(160)
    _pdf_row(pdf, [words[key] for key, _width, _align in _COLUMNS], bold=True)
    for line in statement.lines:
        if pdf.will_page_break(_ROW_HEIGHT):
            pdf.add_page()
            _pdf_row(pdf, [words[key] for key, _width, _align in _COLUMNS], bold=True)
        _pdf_row(
            pdf,
            [
                dates.date_time(line.created_at, zone, locale),
                line.description,
                line.booked_by,
                money(line.amount_cents),
                money(line.balance_cents),
            ],
        )
    if not statement.lines:
        pdf.cell(0, 6, pdf_text(words["none"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("helvetica", "B", 11)
    pdf.cell(0, 6, pdf_text(f"{words['closing']}: {money(statement.closing_balance_cents)}"))
    return bytes(pdf.output())


def _pdf_row(pdf: Any, texts: Sequence[str], *, bold: bool = False) -> None:
    """One row of the statement's table (the heading row in bold), a line below it."""
    from fvh.core.pdf import pdf_text

    pdf.set_font("helvetica", "B" if bold else "", 9)
    for (_key, width, align), text in zip(_COLUMNS, texts, strict=True):
        pdf.cell(width, _ROW_HEIGHT, _cut(pdf, pdf_text(text), width), border="B", align=align)
    pdf.ln(_ROW_HEIGHT)


def _cut(pdf: Any, text: str, width: float) -> str:
    """`text`, shortened with an ellipsis if it is wider than a cell of `width` mm."""
    room = width - 2 * pdf.c_margin
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def _period(statement: Statement, zone: tzinfo, words: Mapping[str, str], locale: str) -> str:
    """`1.11.2026 – 30.11.2026`: the local days the statement covers (its end is exclusive)."""
    if statement.date_from is None and statement.date_to is None:
        return words["all"]

    def local_day(value: datetime) -> str:
        return dates.day(dates.to_local(value, zone).date(), locale)

    start = local_day(statement.date_from) if statement.date_from else "…"
    end = local_day(statement.date_to - timedelta(seconds=1)) if statement.date_to else "…"
    return f"{start} – {end}"


# --- Chart data -------------------------------------------------------------------------


def balance_history(session: Session, member: Member) -> list[tuple[datetime, int]]:
    """(time, balance after) of the member's newest entries, oldest first.

    Counted backwards from the current balance, so the journal before them need not be read.
    """
    entries = session.execute(
        select(Transaction.created_at, Transaction.amount_cents)
        .where(Transaction.member_id == member.id)
        .order_by(Transaction.created_at.desc(), Transaction.id.desc())
        .limit(MAX_CHART_POINTS)
    ).all()
    balance = member.balance_cents
    points = []
    for created_at, amount in entries:
        points.append((created_at, balance))
        balance -= amount
    points.reverse()
    return points


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month(day: date) -> date:
    return (day - timedelta(days=1)).replace(day=1)


def consumption(
    session: Session, member: Member, now: datetime, zone: tzinfo, periods: int = 12
) -> dict[str, list[tuple[str, int]]]:
    """What the member consumed at terminals (not undone), per week and per month.

    Returns {"week": [("2026-W47", cents), ...], "month": [("2026-11", cents), ...]}, the
    last `periods` of each, oldest first, empty periods included.
    """
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    weeks = [_week_start(today) - timedelta(weeks=n) for n in reversed(range(periods))]
    months = [_month_start(today)]
    for _ in range(periods - 1):
        months.insert(0, _previous_month(months[0]))
    earliest = min(weeks[0], months[0])
    # A little earlier in UTC than local midnight, so no local day is cut off.
    since = datetime.combine(earliest, datetime.min.time()) - timedelta(days=1)
    undone = select(Transaction.reverses_id).where(Transaction.reverses_id.is_not(None))
    rows = session.execute(
        select(Transaction.created_at, Transaction.amount_cents).where(
            Transaction.member_id == member.id,
            Transaction.booked_by_kind == TERMINAL_KIND,
            Transaction.amount_cents < 0,
            Transaction.created_at >= since,
            Transaction.id.not_in(undone),
        )
    ).all()
    per_week = dict.fromkeys(weeks, 0)
    per_month = dict.fromkeys(months, 0)
    for created_at, amount in rows:
        day = created_at.replace(tzinfo=UTC).astimezone(zone).date()
        if _week_start(day) in per_week:
            per_week[_week_start(day)] -= amount
        if _month_start(day) in per_month:
            per_month[_month_start(day)] -= amount
    return {
        "week": [
            (f"{w.isocalendar().year}-W{w.isocalendar().week:02d}", c) for w, c in per_week.items()
        ],
        "month": [(f"{m.year}-{m.month:02d}", c) for m, c in per_month.items()],
    }
