"""An admin's first steps in headless chromium against the real server: the forced password
change leads to the dashboard, whose one-line System hint leaves the members in a phone's
first screen; a new API key stays on one line (desktop and phone) and its copy button puts it
on the clipboard. No console error, page error or CSP violation on the way."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENSHOTS, Problems, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_CODE = "9999999999"
NEW_PASSWORD = "Schlauchturm-2026!"


def _one_line(page, selector: str) -> tuple[float, float]:
    """The element's height and its line height, in CSS pixels."""
    return page.evaluate(
        """(selector) => { const el = document.querySelector(selector);
             const style = getComputedStyle(el);
             const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
             return [el.clientHeight - parseFloat(style.paddingTop)
                     - parseFloat(style.paddingBottom), line]; }""",
        selector,
    )


def test_first_steps_of_an_admin(browser_context, server: Server, problems: Problems):
    from playwright.sync_api import expect

    base = server.base_url
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = browser_context.new_page()
    page.goto(f"{base}/login")
    page.fill("#identifier", ADMIN_CODE)
    page.fill("#password", server.admin_password)
    page.locator("main").get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(f"{base}/password")
    page.fill("#current_password", server.admin_password)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.locator("main").get_by_role("button", name="Speichern").click()

    # The first login ends on the dashboard; mail, PUBLIC_URL, RESPONSIBLE_EMAIL are not set.
    expect(page).to_have_url(f"{base}/admin/")
    expect(page.locator(".flash-success")).to_contain_text("Das Passwort wurde geändert.")
    expect(page.locator("#system-hint")).to_have_text(
        re.compile(r"^\s*3 Einstellungen fehlen – System ansehen\s*$")
    )

    phone = browser_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{base}/admin/")
    height, line = _one_line(phone, "#system-hint")
    assert height < 2.5 * line, f"the hint takes {height}px of a {line}px line"
    table_top = phone.evaluate(
        "() => document.querySelector('#members').getBoundingClientRect().top"
    )
    assert table_top < 844, f"the members start below the first screen ({table_top}px)"
    phone.screenshot(path=SCREENSHOTS / "15-phone-dashboard-system-hint.png", animations="disabled")
    phone.get_by_role("link", name="System ansehen").click()
    expect(phone.locator("#mail-status")).to_contain_text("SMTP_HOST")
    phone.screenshot(path=SCREENSHOTS / "18-phone-system.png", animations="disabled")
    phone.close()

    # A new key: one line, copied by its button.
    page.goto(f"{base}/admin/api-clients")
    page.fill("#name", "Kasse Theke")
    page.get_by_role("button", name="Anlegen").click()
    page.fill("#name", "Theke links")
    page.get_by_role("button", name="Schlüssel erzeugen").click()
    key = page.locator("#secret").inner_text().strip()
    assert key.startswith("fvh_"), key
    height, line = _one_line(page, "#secret")
    assert height < 1.5 * line, f"the key wraps: {height}px for a {line}px line"
    copy = page.get_by_role("button", name="Kopieren")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator("#copy-status")).to_have_text("Kopiert.")
    assert page.evaluate("() => navigator.clipboard.readText()") == key
    page.screenshot(path=SCREENSHOTS / "16-api-key-created.png", animations="disabled")

    page.set_viewport_size({"width": 390, "height": 844})
    height, line = _one_line(page, "#secret")
    assert height < 1.5 * line, f"the key wraps on a phone: {height}px for a {line}px line"
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the key page scrolls sideways on a phone: {widths}"
    page.screenshot(path=SCREENSHOTS / "17-phone-api-key-created.png", animations="disabled")

    assert problems.items == [], "the browser reported problems:\n" + "\n".join(problems.items)
