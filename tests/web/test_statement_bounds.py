"""A member's statement is bounded: sane dates, and a limit of entries per statement."""

from __future__ import annotations

import time

import pytest

from fvh.web import heavy, me
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_me_pages import deposit


@pytest.mark.parametrize(
    "query", ["from=0001-01-01", "to=9999-12-31", "from=1899-12-31", "to=3000-01-01"]
)
@pytest.mark.parametrize("kind", ["csv", "pdf"])
def test_statement_dates_outside_sane_years_are_a_400(member_browser, member, query, kind):
    response = member_browser.get(f"/me/statement.{kind}?{query}")
    assert response.status_code == 400
    assert "Das Datum muss zwischen 1900 und 2999 liegen." in response.get_data(as_text=True)


def test_a_statement_with_too_many_entries_is_refused(
    member_browser, database, member, monkeypatch
):
    monkeypatch.setattr(me, "PDF_MAX_LINES", 3)
    for _ in range(4):
        deposit(database, member, 100)
    refused = member_browser.get("/me/statement.pdf")
    assert refused.status_code == 400
    assert "mehr als 3 Buchungen" in refused.get_data(as_text=True)
    assert member_browser.get("/me/statement.csv").status_code == 200  # CSV's limit is higher
    monkeypatch.setattr(me, "PDF_MAX_LINES", 4)
    allowed = member_browser.get("/me/statement.pdf")
    assert allowed.status_code == 200
    assert allowed.mimetype == "application/pdf"


def test_statement_downloads_are_limited_per_member(app, member_browser, build, monkeypatch):
    """PDF and CSV count together, per member: the member over the limit gets a 429 (no
    statement built), another member still downloads."""
    monkeypatch.setattr(me, "DOWNLOAD_LIMIT", "4 per minute")
    built: list[int] = []
    monkeypatch.setattr(me.statements, "build", _counting(me.statements.build, built))
    statuses = [
        member_browser.get(f"/me/statement.{kind}").status_code for kind in ["pdf", "csv"] * 3
    ]
    assert statuses == [200] * 4 + [429] * 2
    assert len(built) == 4
    refused = member_browser.get("/me/statement.csv?from=2020-01-01")
    assert refused.status_code == 429
    assert "Zu viele Anfragen" in refused.get_data(as_text=True)
    other = build.member(code="2000000003", password=PASSWORD)
    browser = Browser(app.test_client())
    assert browser.login(other.code).status_code == 302
    assert browser.get("/me/statement.pdf").status_code == 200


def _counting(function, calls: list[int]):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def test_a_statement_while_another_renders_is_a_503_at_once(member_browser, config):
    """One statement renders at a time per server: a second one does not wait (a waiting
    sync worker is lost to the terminals as well) but says to try again."""
    with heavy.slot(str(config["DATA_DIR"]), "statement") as free:
        assert free
        started = time.monotonic()
        busy = member_browser.get("/me/statement.pdf")
        assert time.monotonic() - started < 2
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "3"
        assert "anderer Download" in busy.get_data(as_text=True)
        assert member_browser.get("/me/statement.csv").status_code == 503
    assert member_browser.get("/me/statement.pdf").status_code == 200
    assert member_browser.get("/me/statement.csv").status_code == 200
