"""Admin lists: dates and page numbers beyond sane bounds are a 400 with a message, not a 500."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from fvh.db.models import Transaction


@pytest.fixture
def booked(build):
    return build.member(code="3000000003", last_name="Zahlemann", balance_cents=500)


def journal_count(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Transaction)) or 0


def field_error(html: str, name: str) -> str:
    match = re.search(rf'id="{name}-error">([^<]+)<', html)
    assert match, f"no message at the field {name!r}"
    return match.group(1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=9999-12-31", "to"),  # +1 day overflowed Python's date (a 500 before)
        ("from=9999-12-31", "from"),
        ("from=0001-01-01", "from"),
        ("to=1899-12-31", "to"),
        ("from=3000-01-01", "from"),
        ("to=kein-datum", "to"),
    ],
)
def test_journal_date_out_of_range_is_a_400_at_the_field(
    admin_browser, booked, database, query, field
):
    before = journal_count(database)
    for path in ("/admin/journal", "/admin/journal.csv"):
        response = admin_browser.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert response.mimetype == "text/html", path
        html = response.get_data(as_text=True)
        message = field_error(html, field)
        assert "1900" in message or "Ungültiges Datum" in message
        assert 'aria-invalid="true"' in html
        assert "Startguthaben" not in html  # no list for a wrong filter
    assert journal_count(database) == before


def test_the_messages_speak_the_gui_language(admin_browser, booked):
    admin_browser.post("/language", {"language": "en"})
    response = admin_browser.get("/admin/journal?to=9999-12-31")
    assert field_error(response.get_data(as_text=True), "to") == (
        "The date must lie between 1900 and 2999."
    )
    response = admin_browser.get("/admin/journal?page=1000001")
    assert "The page number may be at most 1000000." in response.get_data(as_text=True)


def test_journal_dates_at_the_bounds_are_accepted(admin_browser, booked):
    response = admin_browser.get("/admin/journal?from=1900-01-01&to=2999-12-31")
    assert response.status_code == 200
    assert "Startguthaben" in response.get_data(as_text=True)


PAGED = ["/", "/admin/", "/admin/journal", "/admin/tokens/", "/admin/audit", "/admin/journal.csv"]


@pytest.mark.parametrize("path", PAGED)
def test_oversized_page_number_is_a_400_with_a_message(admin_browser, booked, path):
    response = admin_browser.get(f"{path}?page=99999999999999999999")
    if path.endswith(".csv"):  # the CSV has no pages: the number is ignored
        assert response.status_code == 200
        return
    assert response.status_code == 400, path
    assert "Die Seitenzahl darf höchstens 1000000 sein." in response.get_data(as_text=True)
    assert admin_browser.get(f"{path}?page=1000000").status_code == 200
