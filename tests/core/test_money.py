import pytest
from babel.numbers import get_group_symbol
from hypothesis import given, settings
from hypothesis import strategies as st

from fvh.core.errors import ValidationError
from fvh.core.money import MAX_ABS_CENTS, cents_to_number, format_cents, parse_amount

UI_LOCALES = ("de", "en")  # the GUI's languages (fvh.web.i18n.LANGUAGES)
NBSP, NARROW_NBSP = "\xa0", "\u202f"


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("10", 1000),
        ("1000", 100000),
        ("1.000,00", 100000),
        ("1.000.000,5", 100000050),
        ("20,5", 2050),
        ("5 €", 500),
        ("5€", 500),
        ("€ 5", 500),
        ("5 EUR", 500),
        ("-2,50", -250),
        ("\u22122", -200),  # the Unicode minus sign
        ("\u2013 2,50 €", -250),  # an en dash
        ("+0,01", 1),
        (" 3 ", 300),
        (f"1{NBSP}000,00{NBSP}€", 100000),
        (f"1{NARROW_NBSP}000", 100000),
        ("1 000 000", 100000000),
        ("1.234", 123400),  # not a decimal with two places: one reading only
        (",5", 50),
        ("0", 0),
    ],
)
def test_parse_german_amounts(text, cents):
    assert parse_amount(text) == cents
    assert parse_amount(text, locale="de") == cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("10", 1000),
        ("1,000.00", 100000),
        ("20.5", 2050),
        ("€5", 500),
        ("-€7.50", -750),
        ("€-7.50", -750),
        ("\u22122", -200),
        (f"1{NBSP}000.25", 100025),
        ("12,345", 1234500),
    ],
)
def test_parse_english_amounts(text, cents):
    assert parse_amount(text, locale="en") == cents


@pytest.mark.parametrize(
    ("locale", "text", "message"),
    [
        ("de", "1.000", "1.000 – meinten Sie 1.000,00\xa0€ oder 1,00\xa0€?"),
        ("de", "2.500", "2.500 – meinten Sie 2.500,00\xa0€ oder 2,50\xa0€?"),
        ("de", "-1,000", "-1,000 – meinten Sie -1.000,00\xa0€ oder -1,00\xa0€?"),
        ("de", "1.5", "1.5 – meinten Sie 15,00\xa0€ oder 1,50\xa0€?"),
        ("en", "1,000", "1,000 – meinten Sie €1,000.00 oder €1.00?"),
        ("en", "1.000", "1.000 – meinten Sie €1,000.00 oder €1.00?"),
        ("en", "20,5", "20,5 – meinten Sie €205.00 oder €20.50?"),
    ],
)
def test_ambiguous_amounts_are_refused_with_both_readings(locale, text, message):
    with pytest.raises(ValidationError) as caught:
        parse_amount(text, locale=locale)
    assert caught.value.message == message
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1e3",
        "--1",
        "+-1",
        "1,2,3",
        "nan",
        "€",
        "-",
        "1 0",
        "5 €€",
        "5 $",
        "½",
        "1_000",
    ],
)
def test_parse_amount_rejects(text):
    with pytest.raises(ValidationError) as caught:
        parse_amount(text)
    assert caught.value.message.startswith("Kein gültiger Betrag")


def test_more_decimals_than_the_currency_has_are_refused():
    for text, locale in (("0,001", "de"), ("12,345", "de"), ("1.234", "en"), ("1,505", "de")):
        with pytest.raises(ValidationError) as caught:
            parse_amount(text, locale=locale)
        assert caught.value.message == "Höchstens 2 Nachkommastellen erlaubt."
    assert parse_amount("3", decimals=0) == 300
    with pytest.raises(ValidationError):
        parse_amount("3,5", decimals=0)
    # With whole units "1.000" is still a thousand or one.
    with pytest.raises(ValidationError) as caught:
        parse_amount("1.000", currency="EUR", decimals=0)
    assert caught.value.message == "1.000 – meinten Sie 1.000\xa0€ oder 1\xa0€?"


def test_the_bounds_apply():
    limit = MAX_ABS_CENTS // 100
    assert parse_amount(f"-{limit}") == -MAX_ABS_CENTS
    for text in (f"{limit},01", "10000000000", "9" * 30, "1" * 41):
        with pytest.raises(ValidationError):
            parse_amount(text)


def test_a_unit_stands_for_the_currency():
    assert parse_amount("12 Striche", currency="Striche", decimals=0) == 1200
    with pytest.raises(ValidationError):
        parse_amount("12 €", currency="Striche", decimals=0)


# No deadline: the machine's CPU is shared, and a slow example is not a wrong one.
@pytest.mark.parametrize("locale", UI_LOCALES)
@settings(deadline=None, max_examples=300)
@given(cents=st.integers(min_value=-MAX_ABS_CENTS, max_value=MAX_ABS_CENTS))
def test_format_then_parse_round_trips(locale, cents):
    shown = format_cents(cents, "EUR", 2, locale)
    assert parse_amount(shown, locale=locale) == cents
    # As typed: without the currency, then with narrow no-break spaces between thousands.
    bare = shown.replace("€", "").replace(NBSP, "").strip()
    assert parse_amount(bare, locale=locale) == cents
    spaced = bare.replace(get_group_symbol(locale), NARROW_NBSP)
    assert parse_amount(spaced, locale=locale) == cents


@pytest.mark.parametrize("locale", UI_LOCALES)
@settings(deadline=None)
@given(tenths=st.integers(-MAX_ABS_CENTS // 10, MAX_ABS_CENTS // 10).map(lambda n: n * 10))
def test_format_then_parse_round_trips_with_one_decimal_and_other_currencies(locale, tenths):
    for currency in ("CHF", "USD"):
        shown = format_cents(tenths, currency, 1, locale)
        assert parse_amount(shown, locale=locale, currency=currency, decimals=1) == tenths


@pytest.mark.parametrize("locale", UI_LOCALES)
@settings(deadline=None, max_examples=300)
@given(
    text=st.text(alphabet=st.sampled_from("0123456789.,-+ €\u2212\xa0\u202feEUR$aN_٣"), max_size=24)
    | st.text(max_size=50)
)
def test_any_text_is_an_amount_in_range_or_a_validation_error(locale, text):
    """Whatever is typed: cents within the bounds, or a message for the field, never a crash."""
    try:
        cents = parse_amount(text, locale=locale)
    except ValidationError as exc:
        refusal = exc
    else:
        assert isinstance(cents, int) and abs(cents) <= MAX_ABS_CENTS
        # What was read is shown back the same way.
        assert parse_amount(format_cents(cents, "EUR", 2, locale), locale=locale) == cents
        return
    assert refusal.field == "amount" and refusal.message


def test_cents_to_number_is_int_when_whole():
    assert cents_to_number(500) == 5
    assert isinstance(cents_to_number(500), int)
    assert cents_to_number(-450) == -4.5
    assert isinstance(cents_to_number(-450), float)


def test_format_cents_per_locale():
    assert format_cents(1250) == "12,50\xa0€"
    assert format_cents(-1250, locale="en") == "-€12.50"
    assert format_cents(300, "EUR", 0) == "3\xa0€"
    assert format_cents(300, "Striche", 0) == "3 Striche"
    assert format_cents(123456) == "1.234,56\xa0€"
