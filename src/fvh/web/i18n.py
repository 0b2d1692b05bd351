"""Languages of the GUI: German (the source strings) and English (a catalog).

Compiled catalogs (.mo) are not versioned; `compile_catalogs` builds each one from its .po
when it is missing or older, at app start.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol
from flask import Flask, g, request
from flask_babel import Babel, get_locale, gettext
from flask_babel import format_datetime as babel_format_datetime

from fvh.core import dates, system_settings
from fvh.core.errors import DomainError
from fvh.core.money import format_cents, parse_amount
from fvh.http.context import app_config, db_session

log = logging.getLogger(__name__)

LANGUAGES = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE = "de"
LANGUAGE_COOKIE = "fvh_lang"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every `<lang>/LC_MESSAGES/*.po` whose .mo is missing or stale; returns those."""
    compiled = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            # Write beside and rename: several workers may start at once.
            fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as tmp:
                write_mo(tmp, catalog)
            os.replace(tmp_name, mo_path)
            compiled.append(mo_path)
        except OSError as exc:  # e.g. a read-only installation: run without this catalog
            log.warning("cannot compile %s: %s", po_path, exc)
    return compiled


def select_locale() -> str:
    """The language the member chose (cookie), otherwise German."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def system() -> system_settings.SystemSettings:
    """The business settings, read once per request."""
    if "fvh_system" not in g:
        g.fvh_system = system_settings.load(db_session())
    return g.fvh_system


def money(cents: int | None) -> str:
    """Cents in the configured currency, formatted for the current language."""
    if cents is None:
        return ""
    current = system()
    return format_cents(cents, current.currency, current.decimals, locale=str(get_locale()))


def amount_input(cents: int | None) -> str:
    """Cents as a form field shows them, with the language's decimal sign (`-2,50`, `-2.50`).

    No grouping: `parse_money` reads it back in the same language.
    """
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    decimals = system().decimals
    if decimals == 0:
        return f"{sign}{whole}"
    point = "," if get_decimal_symbol(str(get_locale() or DEFAULT_LANGUAGE)) == "," else "."
    return f"{sign}{whole}{point}{rest:02d}"[: len(f"{sign}{whole}") + 1 + decimals]


def parse_money(text: str | None, *, field: str = "amount", decimals: int | None = None) -> int:
    """An amount typed into a form, read as people of the request's language write it.

    `decimals` overrides the configured ones (the settings form changes them).
    """
    current = system()
    return parse_amount(
        text or "",
        locale=str(get_locale() or DEFAULT_LANGUAGE),
        currency=current.currency,
        decimals=current.decimals if decimals is None else decimals,
        field=field,
    )


def error_text(exc: DomainError) -> str:
    """A domain error's message in the current language.

    The domain words its messages as German templates marked with `N_`; this looks the
    template up in the catalog and fills in the values. Unmarked texts come back as they are.
    """
    if not exc.template:  # gettext("") would answer the catalog header
        return exc.message
    return gettext(exc.template, **exc.params)


def locale_name() -> str:
    """The request's language as Babel names it (`de`, `en`)."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def _zone() -> ZoneInfo:
    return ZoneInfo(app_config().timezone)


def local_datetime(value: datetime | None, fmt: str | None = None) -> str:
    """A stored UTC time in the configured zone, as people of the current language write it
    (`27.11.2026, 14:05`; see `fvh.core.dates`). `fmt`, a Babel pattern, is for files that
    programs read (`yyyy-MM-dd HH:mm:ss`)."""
    if value is None:
        return ""
    if fmt is not None:
        return babel_format_datetime(value, fmt)
    return dates.date_time(value, _zone(), locale_name())


def local_date(value: date | datetime | None) -> str:
    """A day (`27.11.2026`, `Nov 27, 2026`); a stored UTC time counts by its local day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = dates.to_local(value, _zone()).date()
    return dates.day(value, locale_name())


def local_time(value: datetime | None) -> str:
    """The time of day with seconds (`14:05:09`), for deadlines a few minutes away."""
    if value is None:
        return ""
    return dates.time_of_day(value, _zone(), locale_name())


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Berlin")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    compile_catalogs()
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["amount_input"] = amount_input
    app.jinja_env.filters["datetime"] = local_datetime
    app.jinja_env.filters["date"] = local_date
    app.jinja_env.filters["time"] = local_time
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["get_locale"] = get_locale
