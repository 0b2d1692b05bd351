"""The journal's text search covers members' names as the member search reads them
(case and accents ignored), besides the booking text (issue 13, item 5)."""

from __future__ import annotations

import re


def _codes(html: str) -> set[str]:
    return set(re.findall(r'<span class="muted">(43000000\d\d)</span>', html))


def test_journal_text_search_finds_names_codes_and_booking_texts(admin_browser, build):
    oeztuerk = build.member(
        code="4300000001", first_name="Mehmet", last_name="Öztürk", balance_cents=100
    )
    weiss = build.member(code="4300000002", first_name="Zoë", last_name="Weiß", balance_cents=100)

    def search(text: str) -> set[str]:
        response = admin_browser.get("/admin/journal", query_string={"q": text})
        assert response.status_code == 200
        return _codes(response.get_data(as_text=True))

    assert search("ÖZTÜRK") == {oeztuerk.code}
    assert search("oz") == {oeztuerk.code}
    assert search("zoe weiss") == {weiss.code}
    assert search(weiss.code) == {weiss.code}
    assert search("Startguthaben") == {oeztuerk.code, weiss.code}  # the booking text
    assert search("Niemand") == set()
