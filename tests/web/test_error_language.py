"""Domain errors speak the GUI's language: German templates, translated by the web door."""

from __future__ import annotations

import pytest

from fvh.core import money
from fvh.core.errors import N_, DomainError, DuplicateToken, ValidationError
from fvh.web import i18n


def test_a_domain_error_keeps_its_template_and_renders_german():
    exc = ValidationError(N_("Kein gültiger Betrag: %(value)r"), "amount", value="zwanzig")
    assert exc.message == str(exc) == "Kein gültiger Betrag: 'zwanzig'"
    assert exc.template == "Kein gültiger Betrag: %(value)r"
    assert exc.params == {"value": "zwanzig"}
    assert exc.field == "amount"
    # Without values a template is the text itself, a "%" included.
    assert DomainError("100 % sicher").message == "100 % sicher"
    assert DuplicateToken("schon vergeben", "Max Muster").owner_name == "Max Muster"


def test_error_text_translates_in_the_current_language(app):
    with pytest.raises(ValidationError) as caught:
        money.parse_amount("zwanzig")
    with app.test_request_context(headers={"Cookie": f"{i18n.LANGUAGE_COOKIE}=en"}):
        assert i18n.error_text(caught.value) == "Not a valid amount: 'zwanzig'"
        assert i18n.error_text(DomainError()) == ""  # not the catalog header
    with app.test_request_context():
        assert i18n.error_text(caught.value) == "Kein gültiger Betrag: 'zwanzig'"


def test_english_gui_shows_english_domain_errors(admin_browser, member):
    admin_browser.post("/language", {"language": "en"})
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(
        f"{page}/book", {"amount": "zwanzig", "description": "x"}, page=page
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not a valid amount: &#39;zwanzig&#39;" in html
    assert "Kein gültiger Betrag" not in html

    response = admin_browser.post(
        "/admin/members/new",
        {"code": member.code, "first_name": "Doppel", "last_name": "Code"},
        page="/admin/members/new",
    )
    html = response.get_data(as_text=True)
    assert f"The code {member.code} is already taken." in html
    assert "bereits vergeben" not in html


def test_german_gui_keeps_the_german_domain_errors(admin_browser, member):
    response = admin_browser.post(
        "/admin/members/new",
        {"code": member.code, "first_name": "Doppel", "last_name": "Code"},
        page="/admin/members/new",
    )
    assert f"Der Code {member.code} ist bereits vergeben." in response.get_data(as_text=True)
