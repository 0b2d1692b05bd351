"""How times are shown: one format for people, one for programs.

People (pages, banners and PDFs such as the statement) read the locale's medium date
and short time in the configured zone: `27.11.2026, 14:05` in German, `Nov 27, 2026, 2:05 PM`
in English. Programs read ISO: the API's JSON and backups carry UTC, and CSV files carry the
local time as `2026-11-27 14:05`, which every spreadsheet program reads as a date in any
language (a locale's text such as `27.11.2026` is a date only in some). Times are stored as
naive UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from babel.dates import format_date, format_time, get_datetime_format

DEFAULT_LOCALE = "de"
SPREADSHEET_FORMAT = "%Y-%m-%d %H:%M"


def to_local(value: datetime, zone: tzinfo) -> datetime:
    """A stored (naive UTC) or aware time in `zone`."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def date_time(value: datetime, zone: tzinfo, locale: str = DEFAULT_LOCALE) -> str:
    """`27.11.2026, 14:05` (de) or `Nov 27, 2026, 2:05 PM` (en): the people's format."""
    local = to_local(value, zone)
    pattern = get_datetime_format("medium", locale=locale)  # "{1}, {0}": date, then time
    return pattern.replace("{1}", format_date(local, "medium", locale=locale)).replace(
        "{0}", format_time(local, "short", locale=locale)
    )


def day(value: date, locale: str = DEFAULT_LOCALE) -> str:
    """`27.11.2026` (de) or `Nov 27, 2026` (en): a date on its own (a local date already)."""
    return format_date(value, "medium", locale=locale)


def time_of_day(value: datetime, zone: tzinfo, locale: str = DEFAULT_LOCALE) -> str:
    """`14:05:09` (de) or `2:05:09 PM` (en): for deadlines within minutes, seconds count."""
    return format_time(to_local(value, zone), "medium", locale=locale)


def spreadsheet(value: datetime, zone: tzinfo) -> str:
    """`2026-11-27 14:05` in `zone`: what CSV files carry (see the module's docstring)."""
    return to_local(value, zone).strftime(SPREADSHEET_FORMAT)
