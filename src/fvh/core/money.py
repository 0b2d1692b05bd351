"""Money is an integer number of cents. This module is the one place that parses and formats it."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.core import UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    NumberPattern,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
    parse_pattern,
)

from fvh.core.errors import N_, ValidationError

MAX_ABS_CENTS = 10_000_000_00  # ten million units: far beyond any tally list, well inside BIGINT
MAX_TEXT_LENGTH = 40  # "-10.000.000,00 EUR" with room to spare; longer input is no amount
DEFAULT_LOCALE = "de"
_ISO_CODE_RE = re.compile(r"^[A-Z]{3}$")
# What people type for a minus: the Unicode minus sign, dashes, and the full-width forms.
_MINUS_SIGNS = str.maketrans(dict.fromkeys("\u2212\u2012\u2013\u2014\ufe63\uff0d", "-"))
_SPACES_RE = re.compile(r"\s+")  # str patterns match NBSP, narrow NBSP and thin space too
# Thousands written with spaces ("1 000", "1 000 000,50"): groups of three after the first.
_SPACED_GROUPS_RE = re.compile(r"^\d{1,3}( \d{3})+([.,]\d*)?$")


def parse_amount(
    text: str | int,
    *,
    locale: str = DEFAULT_LOCALE,
    currency: str = "EUR",
    decimals: int = 2,
    field: str = "amount",
) -> int:
    """Parse an amount as people of `locale` write it into cents.

    German takes "1.000,00", "1000", "20,5", "5 €", "−2" and spaces between thousands;
    English the same with its own separators. The number itself goes through Babel's strict
    parser, so a misplaced separator is refused instead of guessed. "1.000" is refused too:
    it is a thousand in German and one in English, and a wrong guess books the wrong money.
    """
    raw = str(text)
    loc = _locale(locale)
    decimals = max(0, min(decimals, 2))  # cents are the smallest unit
    unsigned = _unwrap(raw, loc, currency) if len(raw) <= MAX_TEXT_LENGTH else None
    if unsigned is None:
        raise ValidationError(N_("Kein gültiger Betrag: %(value)r"), field, value=raw.strip())
    negative, number = unsigned
    sign = -1 if negative else 1
    readings = _ambiguous_readings(number, loc, decimals)
    if readings:
        raise _did_you_mean(
            raw, [sign * cents for cents in readings], loc, currency, decimals, field
        )
    try:
        value = parse_decimal(number, locale=loc, strict=True)
    except NumberFormatError as exc:
        guesses = [_cents(s, loc, decimals) for s in exc.suggestions or ()]
        options = [sign * cents for cents in dict.fromkeys(guesses) if cents is not None]
        if options:
            raise _did_you_mean(raw, options, loc, currency, decimals, field) from None
        raise ValidationError(
            N_("Kein gültiger Betrag: %(value)r"), field, value=raw.strip()
        ) from None
    fraction = number.rpartition(get_decimal_symbol(loc))[2] if _has_decimal(number, loc) else ""
    if len(fraction) > decimals:
        raise ValidationError(
            N_("Höchstens %(decimals)d Nachkommastellen erlaubt."), field, decimals=decimals
        )
    cents = sign * int(value.scaleb(2))
    if abs(cents) > MAX_ABS_CENTS:
        raise ValidationError(N_("Betrag außerhalb des erlaubten Bereichs."), field)
    return cents


def _unwrap(raw: str, loc: Locale, currency: str) -> tuple[bool, str] | None:
    """Split "−1.000,00 €" into the sign and the bare number ("1.000,00"); None: no amount.

    The currency (its code, the locale's symbol, or a unit such as "Striche") may stand
    before or after the number, the sign before either.
    """
    text = _SPACES_RE.sub(" ", raw.translate(_MINUS_SIGNS)).strip()
    symbols = _currency_words(currency, str(loc))
    negative, text = _take_sign(text)
    text = _take_symbol(text, symbols, prefix=True)
    if negative is None:
        negative, text = _take_sign(text)
    text = _take_symbol(text, symbols, prefix=False)
    if " " in text:
        if not _SPACED_GROUPS_RE.match(text):
            return None
        text = text.replace(" ", "")
    allowed = re.escape(get_group_symbol(loc) + get_decimal_symbol(loc) + ".,")
    if not text or not re.fullmatch(rf"[0-9{allowed}]+", text) or not re.search(r"\d", text):
        return None
    return bool(negative), text


def _take_sign(text: str) -> tuple[bool | None, str]:
    if text[:1] in ("-", "+"):
        return text[0] == "-", text[1:].lstrip()
    return None, text


def _take_symbol(text: str, symbols: tuple[str, ...], *, prefix: bool) -> str:
    folded = text.casefold()
    for symbol in symbols:
        word = symbol.casefold()
        if prefix and folded.startswith(word):
            return text[len(symbol) :].lstrip()
        if not prefix and folded.endswith(word):
            return text[: len(text) - len(symbol)].rstrip()
    return text


@functools.lru_cache(maxsize=64)
def _currency_words(currency: str, locale: str) -> tuple[str, ...]:
    """What may stand for the currency: its code and the locale's symbol, longest first."""
    words = {currency}
    if _ISO_CODE_RE.match(currency):
        words.add(get_currency_symbol(currency, locale))
    return tuple(sorted((w for w in words if w), key=len, reverse=True))


def _has_decimal(number: str, loc: Locale) -> bool:
    return get_decimal_symbol(loc) in number


def _ambiguous_readings(number: str, loc: Locale, decimals: int) -> list[int]:
    """Both readings of "1.000" or "1,000" (a thousand, or one with three decimals), in cents.

    Only a single separator followed by exactly three digits is read both ways, and only
    when both readings are amounts of this currency; anything else has one reading.
    """
    match = re.fullmatch(r"([1-9]\d{0,2})([.,])(\d{3})", number)
    if match is None or match[2] not in (get_group_symbol(loc), get_decimal_symbol(loc)):
        return []
    whole, fraction = match[1], match[3]
    as_thousands = int(whole + fraction) * 100
    as_decimal = Decimal(f"{whole}.{fraction}")
    if as_decimal != as_decimal.quantize(Decimal(1).scaleb(-decimals)):
        return []
    return [as_thousands, int(as_decimal.scaleb(2))]


def _cents(number: str, loc: Locale, decimals: int) -> int | None:
    """A suggestion of Babel's as cents, if it is an amount of this currency."""
    try:
        value = parse_decimal(number, locale=loc, strict=True)
    except (NumberFormatError, InvalidOperation):
        return None
    if value != value.quantize(Decimal(1).scaleb(-decimals)) or abs(value) * 100 > MAX_ABS_CENTS:
        return None
    return int(value.scaleb(2))


def _did_you_mean(
    raw: str, options: list[int], loc: Locale, currency: str, decimals: int, field: str
) -> ValidationError:
    """Refuse with the readings shown as amounts: "1.000 – meinten Sie 1.000,00 € oder 1,00 €?"."""
    shown = [format_cents(cents, currency, decimals, str(loc)) for cents in options[:2]]
    if len(shown) == 1:
        return ValidationError(
            N_("%(value)s – meinten Sie %(first)s?"), field, value=raw.strip(), first=shown[0]
        )
    return ValidationError(
        N_("%(value)s – meinten Sie %(first)s oder %(second)s?"),
        field,
        value=raw.strip(),
        first=shown[0],
        second=shown[1],
    )


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
def _locale(locale: str) -> Locale:
    """The Babel locale of a language code; an unknown one falls back to German."""
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


@functools.lru_cache(maxsize=64)
def _number_format(locale: str, currency: str, decimals: int) -> tuple[Locale, NumberPattern]:
    """The locale and its parsed number pattern, prepared once: terminals format every tap."""
    loc = _locale(locale)
    digits = "0" * decimals
    if _ISO_CODE_RE.match(currency):
        pattern = loc.currency_formats["standard"].pattern.split(";")[0]
        pattern = re.sub(r"0\.0+", "0" + (f".{digits}" if digits else ""), pattern)
    else:
        pattern = "#,##0" + (f".{digits}" if digits else "")
    return loc, parse_pattern(pattern)
