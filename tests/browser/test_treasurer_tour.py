"""A treasurer's first evening with FVH, in headless chromium against the real server.

Log in as the bootstrap admin with the one-time password from `fvh db upgrade`, set an own
password, name the brigade, create members, add an NFC token, book a deposit, let a terminal
debit (API key made in the GUI), book for two members at once, reverse a booking, and check
the balances the GUI shows. Along the way: no console error, no page error, no CSP violation
(a planted inline script proves violations are seen), the dark theme toggle, a phone-sized
dashboard without horizontal scrolling, and screenshots of every main page in
test-artifacts/screenshots/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import SCREENSHOTS, Problems, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_CODE = "9999999999"
NEW_PASSWORD = "Schlauchturm-2026!"
ORGANISATION = "Freiwillige Feuerwehr Musterstadt"
MAX = ("1234567890", "Max", "Muster", "max@example.org")
ERIKA = ("2345678901", "Erika", "Beispiel", "")
TOKEN_HEX = "04:A2:2B:1C"
UNKNOWN_TOKEN = bytes.fromhex("DEADBEEF")
TERMINAL = "Kühlschrank Gerätehaus"  # terminals send their place as the booking text
DARK_BACKGROUND = "rgb(20, 23, 27)"  # --bg of the dark theme in fvh.css
PLANTED_SCRIPT = "window.__fvhPlanted = true;"


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page, animations="disabled")


def success(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".flash-success")).to_contain_text(text)


def stat(page, label: str):
    """The value of the figure box (`.stat`) with this label."""
    box = page.locator(".stat").filter(has=page.get_by_text(label, exact=True))
    return box.locator(".value")


def terminal_tap(server: Server, key: str, token: bytes) -> tuple[int, dict]:
    """What an NFC terminal sends when a token is held to it."""
    body = json.dumps(
        {"token": base64.b64encode(token).decode(), "beschreibung": TERMINAL}
    ).encode()
    request = urllib.request.Request(
        f"{server.base_url}/api/nfc-transaktion",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def create_member(page, code: str, first: str, last: str, email: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Mitglieder", exact=True).click()
    page.get_by_role("link", name="Neues Mitglied").click()
    expect(page.locator("h1")).to_have_text("Neues Mitglied")
    page.fill("#code", code)
    page.fill("#first_name", first)
    page.fill("#last_name", last)
    if email:
        page.fill("#email", email)
    page.locator("main").get_by_role("button", name="Speichern").click()
    success(page, f"Mitglied {first} {last} ({code}) angelegt.")
    expect(page.locator("h1")).to_contain_text(f"{first} {last}")


def test_treasurer_tour(browser_context, server: Server, problems: Problems):
    from playwright.sync_api import expect

    page = browser_context.new_page()
    base = server.base_url

    # --- First login of the bootstrap admin: the password must be changed first ----------
    response = page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_have_text("Anmelden")
    shot(page, "01-login", full_page=False)
    page.fill("#identifier", ADMIN_CODE)
    page.fill("#password", server.admin_password)
    page.locator("main").get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(f"{base}/password")
    expect(page.locator(".flash-info")).to_contain_text("zuerst ein eigenes Passwort")
    expect(page.locator("nav.mainnav")).to_have_count(0)  # nothing else until it is changed
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(f"{base}/password")
    page.fill("#current_password", server.admin_password)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    shot(page, "02-password-change", full_page=False)
    page.locator("main").get_by_role("button", name="Speichern").click()
    success(page, "Das Passwort wurde geändert.")
    expect(page).to_have_url(f"{base}/")

    # --- Name the brigade -------------------------------------------------------------------
    page.get_by_role("link", name="Einstellungen").click()
    page.fill("#organisation_name", ORGANISATION)
    page.locator("main").get_by_role("button", name="Speichern").click()
    success(page, "Einstellungen gespeichert.")
    expect(page.locator(".brand")).to_contain_text(ORGANISATION)
    expect(page.locator("#default_amount")).to_have_value(re.compile(r"^-1[.,]00$"))
    shot(page, "09-settings")

    # --- Members, an NFC token, a deposit ---------------------------------------------------
    create_member(page, *MAX)
    max_url = page.url
    page.fill("#token_hex", TOKEN_HEX.lower().replace(":", " "))
    page.fill("#name", "Schlüsselanhänger")
    page.get_by_role("button", name="Token hinzufügen").click()
    success(page, f"Token {TOKEN_HEX} hinzugefügt.")
    expect(page.locator("#tokens li", has_text=TOKEN_HEX)).to_contain_text("nie benutzt")
    page.fill("#amount", "20")
    page.fill("#description", "Einzahlung")
    page.get_by_role("button", name="Buchen", exact=True).click()
    success(page, "Gebucht: 20,00 €. Neues Guthaben: 20,00 €.")
    create_member(page, *ERIKA)

    # --- A terminal key made in the GUI; the terminal debits Max and reports a stranger ----
    page.get_by_role("link", name="API", exact=True).click()
    page.fill("#name", "Kasse Theke")
    page.get_by_role("button", name="Anlegen").click()
    success(page, "API-Benutzer Kasse Theke angelegt.")
    page.fill("#name", "Theke links")
    expect(page.locator("#scope")).to_have_value("terminal")
    page.get_by_role("button", name="Schlüssel erzeugen").click()
    key = page.locator("#secret").inner_text().strip()
    assert key.startswith("fvh_"), key
    status, answer = terminal_tap(server, key, bytes.fromhex(TOKEN_HEX.replace(":", "")))
    assert (status, answer["saldo"]) == (200, 19), answer
    assert terminal_tap(server, key, UNKNOWN_TOKEN)[0] == 404
    page.get_by_role("link", name="Fertig").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody tr")).to_contain_text("Theke links")
    page.get_by_role("link", name="Alle API-Benutzer").click()
    expect(page.locator("table tbody tr", has_text="Kasse Theke")).to_contain_text("1")
    shot(page, "08-api-clients")

    # --- Bulk booking for both, then one of them is reversed --------------------------------
    page.get_by_role("link", name="Sammelbuchung").click()
    page.fill("#amount", "-2,50")
    page.fill("#description", "Grillfest")
    for code in (MAX[0], ERIKA[0]):
        page.locator("tbody tr", has_text=code).locator('input[name="member_ids"]').check()
    shot(page, "05-bulk-booking")
    page.locator("main").get_by_role("button", name="Buchen").click()
    success(page, "2 Buchungen ausgeführt.")
    expect(page).to_have_url(re.compile(r"/admin/journal$"))
    expect(page.locator("h1")).to_contain_text("(4)")
    max_grill = page.locator("tbody tr", has_text="Grillfest").filter(has_text="Max Muster")
    max_grill.get_by_role("button", name="Stornieren").click()
    success(page, "Buchung storniert (2,50 €).")
    expect(page.locator("h1")).to_contain_text("(5)")
    expect(page.locator("tbody tr", has_text="Storno: Grillfest")).to_contain_text("2,50 €")
    expect(max_grill.locator(".badge")).to_have_text("storniert")
    expect(page.locator("tbody tr", has_text=TERMINAL)).to_contain_text("Kasse Theke")
    shot(page, "06-journal")

    # --- The balances as the dashboard and the member page show them ------------------------
    # Max: +20,00 deposit, -1,00 terminal, -2,50 Grillfest, +2,50 reversal = 19,00
    # Erika: -2,50 Grillfest; the admin: 0,00; together 16,50
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    expect(stat(page, "Summe der Guthaben")).to_have_text("16,50 €")
    expect(stat(page, "Im Minus")).to_have_text("1")
    expect(stat(page, "Mitglieder")).to_have_text("3")
    rows = page.locator("#members tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=MAX[0]).locator("td.num")).to_have_text("19,00 €")
    expect(rows.filter(has_text=ERIKA[0]).locator("td.num")).to_have_text("-2,50 €")
    expect(rows.filter(has_text=ERIKA[0])).to_contain_text("unter Minimum")
    expect(rows.filter(has_text=ADMIN_CODE).locator("td.num")).to_have_text("0,00 €")
    expect(page.locator("section", has_text="Unbekannte Tokens")).to_contain_text("DE:AD:BE:EF")
    shot(page, "03-dashboard")

    page.get_by_role("link", name="Muster, Max").click()
    expect(page).to_have_url(max_url)
    expect(stat(page, "Guthaben")).to_have_text("19,00 €")
    expect(page.locator(".facts")).to_contain_text(MAX[3])
    expect(page.locator("#tokens li", has_text=TOKEN_HEX)).to_contain_text("zuletzt")
    expect(page.locator("h2", has_text="Buchungen")).to_contain_text("(4)")
    shot(page, "04-member")

    # --- Tokens and the audit log ------------------------------------------------------------
    page.get_by_role("link", name="Tokens", exact=True).click()
    expect(page.locator("tbody tr", has_text="DE:AD:BE:EF")).to_contain_text(TERMINAL)
    shot(page, "07-tokens")
    page.get_by_role("link", name="Protokoll").click()
    for action, target in (
        ("member.password", ADMIN_CODE),
        ("settings.update", "settings"),
        ("member.create", MAX[0]),
        ("token.add", MAX[0]),
        ("api_key.create", "Kasse Theke"),
        ("transaction.reverse", ""),
    ):
        row = page.locator("tbody tr").filter(has_text=action).filter(has_text=target)
        expect(row.first).to_be_visible()
    shot(page, "10-audit-log")

    # --- Dark theme: the toggle switches, the choice survives a reload, and back ------------
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    html, body = page.locator("html"), page.locator("body")
    expect(body).not_to_have_css("background-color", DARK_BACKGROUND)
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(body).to_have_css("background-color", DARK_BACKGROUND)
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(body).to_have_css("background-color", DARK_BACKGROUND)
    shot(page, "11-dashboard-dark")
    page.get_by_role("link", name="Muster, Max").click()
    expect(body).to_have_css("background-color", DARK_BACKGROUND)
    shot(page, "12-member-dark")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "light")
    expect(body).not_to_have_css("background-color", DARK_BACKGROUND)

    # --- A phone: the dashboard fits the width, nothing scrolls sideways --------------------
    phone = browser_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{base}/admin/")
    expect(phone.locator("#members tbody tr")).to_have_count(3)
    widths = phone.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the phone dashboard scrolls sideways: {widths}"
    shot(phone, "13-phone-dashboard", full_page=False)
    shot(phone, "14-phone-dashboard-full")
    phone.close()

    # --- The CSP holds: a planted inline script is refused, and the console says so ---------
    digest = base64.b64encode(hashlib.sha256(PLANTED_SCRIPT.encode()).digest()).decode()
    with page.expect_console_message(lambda m: digest in m.text) as refused:
        page.evaluate(
            """(code) => { const s = document.createElement("script");
                           s.textContent = code; document.head.appendChild(s); }""",
            PLANTED_SCRIPT,
        )
    assert "Content Security Policy" in refused.value.text
    assert page.evaluate("() => window.__fvhPlanted") is None

    unexpected = [item for item in problems.items if digest not in item]
    assert unexpected == [], "the browser reported problems:\n" + "\n".join(unexpected)
