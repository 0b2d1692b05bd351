import pytest

from fvh.core.errors import ValidationError
from fvh.core.money import cents_to_number, format_cents, parse_amount


@pytest.mark.parametrize(
    ("text", "cents"),
    [("10", 1000), ("-2.50", -250), ("-2,50", -250), ("+0.01", 1), (" 3 ", 300), ("7.5", 750)],
)
def test_parse_amount(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e3", "--1", "1.2.3", "nan", "10000000000"])
def test_parse_amount_rejects(text):
    with pytest.raises(ValidationError):
        parse_amount(text)


def test_parse_amount_respects_decimals():
    assert parse_amount("3", decimals=0) == 300
    with pytest.raises(ValidationError):
        parse_amount("3.5", decimals=0)


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
