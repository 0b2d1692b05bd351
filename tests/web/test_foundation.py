"""The GUI's plumbing: cookies, CSRF, languages, assets, catalogs, error pages."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

from fvh.web import i18n
from fvh.web.auth import LOGIN_AT_KEY
from tests.web.conftest import PASSWORD


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("fvh_session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_flags_over_http(browser, member):
    cookie = _session_cookie(browser.login(member.code))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(browser, member):
    https = "https://localhost"
    page = browser.client.get("/login", base_url=https)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    response = browser.client.post(
        "/login",
        data={"csrf_token": token.group(1), "identifier": member.code, "password": PASSWORD},
        base_url=https,
        headers={"Referer": https + "/login"},
    )
    assert response.status_code == 302
    assert "Secure" in _session_cookie(response)


def test_session_cookie_secure_when_forced(app, browser, member):
    app.config["SESSION_COOKIE_SECURE"] = True
    assert "Secure" in _session_cookie(browser.login(member.code))


def test_idle_timeout_is_refreshed_per_request(app, member_browser):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
    response = member_browser.get("/")
    cookie = _session_cookie(response)  # every request re-issues the cookie
    assert "Expires=" in cookie


def test_absolute_session_lifetime(member_browser):
    assert member_browser.get("/").status_code == 200
    with member_browser.client.session_transaction() as session:
        session[LOGIN_AT_KEY] = time.time() - 12 * 3600 - 1
    response = member_browser.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_post_without_csrf_token_is_rejected(client, member):
    response = client.post("/login", data={"identifier": member.code, "password": PASSWORD})
    assert response.status_code == 400
    assert "Formular" in response.get_data(as_text=True)


def test_post_with_a_wrong_csrf_token_is_rejected(browser, admin, member):
    browser.login(admin.code)
    response = browser.client.post(
        f"/admin/members/{member.id}/lock", data={"csrf_token": "forged", "locked": "1"}
    )
    assert response.status_code == 400


def test_api_is_exempt_from_csrf(client, build, member):
    key = build.api_key()
    response = client.put(
        f"/api/person/{member.code}/transaktion",
        json={"beschreibung": "Strich"},
        headers={"X-API-Key": key},
    )
    assert response.status_code != 400 or "CSRF" not in response.get_data(as_text=True)
    assert response.is_json


def test_german_is_the_default_language(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="de"' in html
    assert "Anmelden" in html


def test_language_switch_to_english_and_back(browser):
    response = browser.post("/language", {"language": "en", "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    html = browser.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in html
    assert "Log in" in html
    browser.post("/language", {"language": "de", "next": "/login"})
    assert "Anmelden" in browser.get("/login").get_data(as_text=True)


def test_language_switch_ignores_foreign_redirects(browser):
    response = browser.post("/language", {"language": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_money_is_formatted_per_language(admin_browser, build):
    build.member(code="3000000003", balance_cents=123456)
    assert "1.234,56\xa0€" in admin_browser.get("/admin/").get_data(as_text=True)
    admin_browser.post("/language", {"language": "en"})
    assert "€1,234.56" in admin_browser.get("/admin/").get_data(as_text=True)


def test_assets_are_served_and_pages_have_no_inline_script(client):
    with client.get("/assets/fvh.css") as css:
        assert css.status_code == 200
        assert "prefers-color-scheme: dark" in css.get_data(as_text=True)
    with client.get("/assets/fvh.js") as js:
        assert js.status_code == 200
    with client.get("/assets/../auth.py") as outside:
        assert outside.status_code == 404
    html = client.get("/login").get_data(as_text=True)
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag
    assert "style=" not in html
    assert 'name="viewport"' in html
    assert "theme-toggle" in html


def test_compile_catalogs_builds_missing_and_stale_mo(tmp_path):
    source = i18n.TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
    target = tmp_path / "en" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "messages.po").write_bytes(source.read_bytes())
    assert i18n.compile_catalogs(tmp_path) == [target / "messages.mo"]
    assert i18n.compile_catalogs(tmp_path) == []  # up to date
    stale = time.time() - 100
    os.utime(target / "messages.mo", (stale, stale))
    assert i18n.compile_catalogs(tmp_path) == [target / "messages.mo"]


def test_gui_error_pages_are_html(admin_browser):
    response = admin_browser.get("/admin/members/999999")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Diese Seite gibt es nicht." in response.get_data(as_text=True)


def test_gui_pages_are_not_cached(member_browser):
    assert member_browser.get("/").headers["Cache-Control"] == "no-store"


def test_every_gui_text_has_an_english_translation():
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.pofile import read_po

    fvh_dir = i18n.TRANSLATIONS_DIR.parent
    sources = [
        # The web door: gettext calls in views, forms and templates.
        (
            fvh_dir / "web",
            [("**.py", "python"), ("**/templates/**.html", "jinja2")],
            {**DEFAULT_KEYWORDS, "_l": None},
        ),
        # The domain modules: error messages marked with N_, which the web door translates.
        (fvh_dir / "core", [("*.py", "python")], {**DEFAULT_KEYWORDS, "N_": None}),
    ]
    used = {
        message if isinstance(message, str) else message[0]
        for directory, method_map, keywords in sources
        for _file, _line, message, _comments, _context in extract_from_dir(
            directory, method_map, keywords=keywords
        )
    }
    assert "Kein gültiger Betrag: %(value)r" in used  # the domain messages are extracted
    po_path = i18n.TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as po_file:
        # A plural entry is known by its singular, as the extraction above names it.
        translated = {
            m.id[0] if isinstance(m.id, tuple) else m.id
            for m in read_po(po_file)
            if m.id and m.string and all(m.string if isinstance(m.string, tuple) else [m.string])
        }
    assert sorted(used - translated) == []
