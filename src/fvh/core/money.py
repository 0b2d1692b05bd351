"""Money is an integer number of cents. This module is the one place that parses and formats it."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.core import UnknownLocaleError
from babel.numbers import NumberPattern, parse_pattern

from fvh.core.errors import N_, ValidationError

MAX_ABS_CENTS = 10_000_000_00  # ten million units: far beyond any tally list, well inside BIGINT
_AMOUNT_RE = re.compile(r"^[+-]?\d{1,12}([.,]\d{1,6})?$")
_ISO_CODE_RE = re.compile(r"^[A-Z]{3}$")


def parse_amount(text: str | int, *, decimals: int = 2, field: str = "amount") -> int:
    """Parse "10", "-2.50" or "-2,50" into cents; refuse more decimals than the currency has."""
    raw = str(text).strip().replace(" ", "")
    if not _AMOUNT_RE.match(raw):
        raise ValidationError(N_("Kein gültiger Betrag: %(value)r"), field, value=text)
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation as exc:  # defensive: the pattern admits only valid decimals
        raise ValidationError(N_("Kein gültiger Betrag: %(value)r"), field, value=text) from exc
    if value != value.quantize(Decimal(1).scaleb(-decimals)):
        raise ValidationError(
            N_("Höchstens %(decimals)d Nachkommastellen erlaubt."), field, decimals=decimals
        )
    cents = int(value * 100)
    if abs(cents) > MAX_ABS_CENTS:
        raise ValidationError(N_("Betrag außerhalb des erlaubten Bereichs."), field)
    return cents


def cents_to_number(cents: int) -> int | float:
    """The JSON number terminals read: an int for whole amounts, a float otherwise."""
    if cents % 100 == 0:
        return cents // 100
    return cents / 100


@functools.lru_cache(maxsize=4096)  # terminals say the same amounts over and over
def format_cents(cents: int, currency: str = "EUR", decimals: int = 2, locale: str = "de") -> str:
    """Format an amount for people: `12,50 €` in German, `€12.50` in English.

    An ISO currency code gets the locale's currency pattern; any other unit (say "Striche")
    is written after the number.
    """
    loc, pattern = _number_format(locale, currency, decimals)
    value = Decimal(cents) / 100
    if _ISO_CODE_RE.match(currency):
        return pattern.apply(value, loc, currency=currency, currency_digits=False)
    return f"{pattern.apply(value, loc)} {currency}".strip()


@functools.lru_cache(maxsize=64)
def _number_format(locale: str, currency: str, decimals: int) -> tuple[Locale, NumberPattern]:
    """The locale and its parsed number pattern, prepared once: terminals format every tap."""
    try:
        loc = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        loc = Locale.parse("de")
    digits = "0" * decimals
    if _ISO_CODE_RE.match(currency):
        pattern = loc.currency_formats["standard"].pattern.split(";")[0]
        pattern = re.sub(r"0\.0+", "0" + (f".{digits}" if digits else ""), pattern)
    else:
        pattern = "#,##0" + (f".{digits}" if digits else "")
    return loc, parse_pattern(pattern)
