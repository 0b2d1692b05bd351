"""Admin pages as people read them: amounts in the language's format, a readable audit log,
reversals told apart from what they reverse, a compact dashboard, an icon, a foldable menu."""

from __future__ import annotations

import re

from sqlalchemy import select

from fvh.db.models import Transaction


def test_settings_amounts_use_the_languages_decimal_sign(admin_browser):
    assert 'value="1,00"' in admin_browser.get("/admin/settings").get_data(as_text=True)
    admin_browser.client.set_cookie("fvh_lang", "en")
    assert 'value="1.00"' in admin_browser.get("/admin/settings").get_data(as_text=True)


def reverse(admin_browser, entry_id: int) -> None:
    """Storno as the admin does it: asked first, then confirmed for the entry seen."""
    url = f"/admin/transactions/{entry_id}/reverse"
    asked = admin_browser.post(url, page="/admin/journal").get_data(as_text=True)
    seen = re.search(r'name="entry" value="([^"]+)"', asked).group(1)
    confirmed = admin_browser.post(url, {"confirm": "1", "entry": seen}, page="/admin/journal")
    assert confirmed.status_code == 302


def test_audit_log_shows_fields_and_meaningful_targets(admin_browser, build, database):
    member = build.member(code="3000000003", first_name="Erika", last_name="Beispiel")
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/lock", {"locked": "1"}, page=page)
    admin_browser.post(
        "/admin/settings",
        {
            "organisation_name": "FF Musterdorf",
            "default_amount": "-1,50",
            "min_balance": "0",
            "currency": "EUR",
            "decimals": "2",
        },
        page="/admin/settings",
    )
    admin_browser.post(f"{page}/book", {"amount": "5", "description": "Bar"}, page=page)
    with database.session() as session:
        entry_id = session.scalar(select(Transaction.id).where(Transaction.description == "Bar"))
    reverse(admin_browser, entry_id)

    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert '{"' not in html and "&#34;" not in html  # no raw JSON any more
    assert "Erika Beispiel (3000000003)" in html  # the member behind the code
    assert re.search(r"gesperrt:</span>\s*<span class=\"old\">nein</span> → ja", html)
    assert "-1,00\xa0€</span> → -1,50\xa0€" in html  # cents as money, before → after
    assert f"Buchung #{entry_id} · Erika Beispiel" in html


def test_a_reversal_is_marked_as_such_and_only_the_original_looks_cancelled(
    admin_browser, build, database
):
    build.member(code="3000000003", balance_cents=500)
    with database.session() as session:
        original = session.scalar(select(Transaction.id))
    reverse(admin_browser, original)
    html = admin_browser.get("/admin/journal").get_data(as_text=True)
    rows = dict(re.findall(r'<tr id="tx-(\d+)"( class="reversed")?>', html))
    assert rows[str(original)] == ' class="reversed"'
    (reversal,) = [key for key in rows if key != str(original)]
    assert rows[reversal] == ""
    assert f'href="#tx-{original}">Storno von #{original}</a>' in html


def test_dashboard_card_keeps_to_four_columns(admin_browser, build):
    build.member(code="3000000003", balance_cents=500)
    html = admin_browser.get("/admin/").get_data(as_text=True)
    card = html[html.index("table journal compact") :]
    card = card[: card.index("</table>")]
    assert len(re.findall(r"<th[ >]", card)) == 4 and "Gebucht von" not in card
    assert "Startguthaben" in card


def test_pages_link_an_icon_and_fold_the_menu(admin_browser):
    html = admin_browser.get("/admin/").get_data(as_text=True)
    match = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert match
    with admin_browser.get(match.group(1).replace("&amp;", "&")) as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.get_data().startswith(b"<svg")
    assert '<details class="menu">' in html and 'class="menu-button"' in html
