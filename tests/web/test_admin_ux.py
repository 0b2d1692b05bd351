"""Faster everyday work for admins: the forced password change leads an admin to the dashboard,
and a new API key has a copy button and stays on one line."""

from __future__ import annotations

import re

from fvh.core import members
from tests.builders import TEST_ACTOR
from tests.web.conftest import PASSWORD, Browser

NEW_PASSWORD = "mein-neues-pw-42"


def _change(browser: Browser, current: str):
    return browser.post(
        "/password",
        {"current_password": current, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/password",
    )


def test_after_the_forced_change_the_bootstrap_admin_lands_on_the_dashboard(browser, database):
    with database.session() as session:
        one_time = members.ensure_bootstrap_admin(session)
    assert browser.login(members.BOOTSTRAP_ADMIN_CODE, one_time).headers["Location"] == "/password"
    response = _change(browser, one_time)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    html = browser.get("/admin/").get_data(as_text=True)
    assert "Das Passwort wurde geändert." in html


def test_after_the_forced_change_a_member_lands_on_their_own_page(app, database):
    with database.session() as session:
        members.create(
            session,
            members.NewMember(
                "Neu", "Ling", code="2100000021", password=PASSWORD, must_change_password=True
            ),
            TEST_ACTOR,
        )
    browser = Browser(app.test_client())
    browser.login("2100000021")
    response = _change(browser, PASSWORD)
    assert response.headers["Location"] == "/"


def test_a_chosen_change_returns_an_admin_to_the_own_page(admin_browser):
    response = _change(admin_browser, PASSWORD)
    assert response.headers["Location"] == "/"


def _new_key_page(admin_browser: Browser, build) -> str:
    build.api_key(client="Kasse Theke")
    page = admin_browser.get("/admin/api-clients")
    client_path = re.search(r'href="(/admin/api-clients/\d+)"', page.get_data(as_text=True))
    path = client_path.group(1)
    response = admin_browser.post(path, {"name": "Theke", "scope": "terminal"}, page=path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_new_key_has_a_copy_button_without_inline_script(admin_browser, build):
    html = _new_key_page(admin_browser, build)
    key = re.search(r'<p class="secret mono" id="secret">([^<]+)</p>', html).group(1)
    assert key.startswith("fvh_")
    button = re.search(r"<button[^>]*data-copy=\"secret\"[^>]*>([^<]+)</button>", html)
    assert button and button.group(1) == "Kopieren"
    assert " hidden>" in button.group(0)  # shown by copy.js: no dead button without it
    assert 'data-done="Kopiert."' in button.group(0)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all('src="' in attributes and not body.strip() for attributes, body in scripts)
    copy_js = re.search(r'<script src="([^"]*copy\.js[^"]*)" defer>', html).group(1)
    with admin_browser.get(copy_js.replace("&amp;", "&")) as script:
        assert script.status_code == 200 and "javascript" in script.mimetype
        assert "clipboard" in script.get_data(as_text=True)


def test_the_copy_button_in_english(admin_browser, build):
    admin_browser.client.set_cookie("fvh_lang", "en")
    html = _new_key_page(admin_browser, build)
    assert re.search(r"<button[^>]*data-copy=\"secret\"[^>]*>Copy</button>", html)
    assert 'data-done="Copied."' in html


def test_the_key_never_breaks_mid_string(admin_browser):
    """The stylesheet keeps the key on one line (scrolling in its box on a phone)."""
    with admin_browser.get("/assets/fvh.css") as response:
        css = response.get_data(as_text=True)
    rule = re.search(r"\.secret-row \.secret \{([^}]*)\}", css).group(1)
    assert "white-space: nowrap" in rule and "word-break: normal" in rule
    assert "overflow-x: auto" in rule
