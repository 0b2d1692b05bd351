"""A treasurer's first evening with FVH, in headless chromium against the real server.

Log in as the bootstrap admin with the one-time password from `fvh db upgrade`, set an own
password (and land on the dashboard), name the brigade, create members with German names
(listed in the German order, found without accents), add an NFC token, book a deposit with a
preset, be refused an ambiguous "1.000", let a terminal debit (API key made in the GUI), book
for four members at once after a preview (nothing booked before "Jetzt buchen", a double
click books once), reverse a booking after the question naming member and amount, see the
taps a terminal refused (below the minimum, locked, unknown) on the dashboard and the
member's page, check the balances the GUI shows, read the audit log in words, and use the
GUI in English (texts and amounts). Along the way: no console error, no page error, no CSP
violation (a planted inline script proves violations are seen), the dark theme toggle, a
phone-sized (375 px) dashboard and member page without horizontal scrolling, and screenshots
of every main page in test-artifacts/screenshots/ (`publish_screenshots.py` copies the ones
the README shows to docs/screenshots/).
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
OEZTUERK = ("3456789012", "Ömer", "Öztürk", "")
WEISS = ("4567890123", "Zoë", "Weiß", "")
TOKEN_HEX = "04:A2:2B:1C"
UNKNOWN_TOKEN = bytes.fromhex("DEADBEEF")
TERMINAL = "Kühlschrank Gerätehaus"  # terminals send their place as the booking text
CLIENT = "Kasse Theke"
DARK_BACKGROUND = "rgb(20, 23, 27)"  # --bg of the dark theme in fvh.css
PLANTED_SCRIPT = "window.__fvhPlanted = true;"
PHONE = {"width": 375, "height": 812}
MINUS = "[-−]"  # Babel's minus sign, whichever the locale data uses


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page, animations="disabled")


def success(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".flash-success")).to_contain_text(text)


def stat(page, label: str):
    """The value of the figure box (`.stat`) with this label."""
    box = page.locator(".stat").filter(has=page.get_by_text(label, exact=True))
    return box.locator(".value")


def amount(text: str) -> re.Pattern[str]:
    """Text with amounts as shown, e.g. "-7,50 €": either minus sign, any space before €."""
    parts = {"-": MINUS, " ": r"\s"}
    return re.compile("".join(parts.get(char, re.escape(char)) for char in text))


def _put(server: Server, path: str, key: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.base_url}{path}",
        data=json.dumps(payload).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def terminal_tap(server: Server, key: str, token: bytes) -> tuple[int, dict]:
    """What an NFC terminal sends when a token is held to it."""
    payload = {"token": base64.b64encode(token).decode(), "beschreibung": TERMINAL}
    return _put(server, "/api/nfc-transaktion", key, payload)


def code_tap(server: Server, key: str, code: str) -> tuple[int, dict]:
    """What a QR terminal sends when a member's booking code is shown to it."""
    return _put(server, f"/api/person/{code}/transaktion", key, {"beschreibung": TERMINAL})


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


def open_member(page, member: tuple[str, str, str, str]) -> None:
    from playwright.sync_api import expect

    _code, first, last, _email = member
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    page.get_by_role("link", name=f"{last}, {first}").click()
    expect(page.locator("h1")).to_contain_text(f"{first} {last}")


def switch_language(page, language: str) -> None:
    """The language menu in the header submits itself on change (fvh.js) and comes back."""
    from playwright.sync_api import expect

    with page.expect_navigation():
        page.select_option("#language", language)
    expect(page.locator("html")).to_have_attribute("lang", language)


def journal_count(page):
    """The number of bookings the journal's heading states, "(N)"."""
    return page.locator("h1")


def test_treasurer_tour(browser_context, server: Server, problems: Problems):
    from playwright.sync_api import expect

    page = browser_context.new_page()
    base = server.base_url

    # --- First login of the bootstrap admin: the password must be changed first ----------
    response = page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_have_text("Anmelden")
    # No mail server here: no reset link, but whom to ask
    expect(page.get_by_role("link", name="Passwort vergessen?")).to_have_count(0)
    expect(page.locator("#forgot-ask")).to_contain_text("Bitte wenden Sie sich an")
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
    expect(page).to_have_url(f"{base}/admin/")  # an admin lands on the dashboard
    expect(page.locator("h1")).to_have_text("Mitglieder")
    # One short hint on the dashboard; the configuration advice is on the System page
    hint = page.locator("#system-hint")
    expect(hint).to_contain_text("Einstellungen fehlen")
    hint.get_by_role("link", name="System ansehen").click()
    expect(page.locator("h1")).to_have_text("System")
    expect(page.locator("section.finding").first).to_be_visible()
    shot(page, "09b-system")

    # --- Name the brigade; the tap price is a positive price --------------------------------
    page.get_by_role("link", name="Einstellungen").click()
    expect(page.locator("#default_amount")).to_have_value("1,00")
    page.fill("#organisation_name", ORGANISATION)
    page.locator("main").get_by_role("button", name="Speichern").click()
    success(page, "Einstellungen gespeichert.")
    expect(page.locator(".brand")).to_contain_text(ORGANISATION)
    expect(page.locator("#default_amount")).to_have_value("1,00")
    shot(page, "09-settings")

    # --- Members, an NFC token, a deposit with a preset -------------------------------------
    create_member(page, *MAX)
    max_url = page.url
    page.fill("#token_hex", TOKEN_HEX.lower().replace(":", " "))
    page.fill("#name", "Schlüsselanhänger")
    page.get_by_role("button", name="Token hinzufügen").click()
    success(page, f"Token {TOKEN_HEX} hinzugefügt.")
    expect(page.locator("#tokens li", has_text=TOKEN_HEX)).to_contain_text("nie benutzt")
    booking = page.locator("#booking")
    expect(booking.get_by_label("Einzahlung", exact=True)).to_be_checked()  # the default
    booking.locator("fieldset.presets label", has_text="20,00").click()
    expect(page.locator("#amount")).to_have_value("20,00")  # forms.js fills it in
    expect(page.locator("#description")).to_have_value("")
    booking.get_by_role("button", name="Buchen", exact=True).click()
    success(page, "Gebucht: 20,00 €. Neues Guthaben: 20,00 €.")
    expect(stat(page, "Guthaben")).to_have_text("20,00 €")
    deposit = page.locator("main table tbody tr", has_text="Einzahlung")
    expect(deposit).to_have_count(1)
    expect(deposit).to_contain_text("20,00 €")

    # "1.000" is a thousand or one: refused with both readings, nothing booked
    booking.get_by_label("Korrektur: gutschreiben").check()
    page.fill("#amount", "1.000")
    page.fill("#description", "Kasse gezählt")
    booking.get_by_role("button", name="Buchen", exact=True).click()
    expect(page.locator("#booking .error").first).to_contain_text(
        "1.000 – meinten Sie 1.000,00 € oder 1,00 €?"
    )
    expect(stat(page, "Guthaben")).to_have_text("20,00 €")

    create_member(page, *ERIKA)
    create_member(page, *OEZTUERK)
    create_member(page, *WEISS)

    # --- The German order and a search without accents --------------------------------------
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    names = page.locator("#members tbody tr td:nth-child(2)")
    expect(names).to_have_text(
        ["Beispiel, Erika", "FVH, Admin", "Muster, Max", "Öztürk, Ömer", "Weiß, Zoë"]
    )
    page.fill("#q", "oz")
    page.locator("form.filters").get_by_role("button", name="Suchen").click()
    expect(names).to_have_text(["Öztürk, Ömer"])

    # --- A terminal key made in the GUI; the terminal debits Max and reports a stranger ----
    page.get_by_role("link", name="API", exact=True).click()
    page.fill("#name", CLIENT)
    page.get_by_role("button", name="Anlegen").click()
    success(page, f"API-Benutzer {CLIENT} angelegt.")
    page.fill("#name", "Theke links")
    expect(page.locator("#scope")).to_have_value("terminal")
    page.get_by_role("button", name="Schlüssel erzeugen").click()
    key = page.locator("#secret").inner_text().strip()
    expect(page.get_by_role("button", name="Kopieren")).to_be_visible()  # copy.js shows it
    assert key.startswith("fvh_"), key
    shot(page, "08-api-key-created", full_page=False)
    status, answer = terminal_tap(server, key, bytes.fromhex(TOKEN_HEX.replace(":", "")))
    assert (status, answer["saldo"]) == (200, 19), answer
    assert terminal_tap(server, key, UNKNOWN_TOKEN)[0] == 404
    page.get_by_role("link", name="Fertig").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody tr")).to_contain_text("Theke links")
    page.get_by_role("link", name="Alle API-Benutzer").click()
    expect(page.locator("table tbody tr", has_text=CLIENT)).to_contain_text("1")
    shot(page, "08-api-clients")

    # --- Bulk booking: a preview first, nothing booked before "Jetzt buchen" ---------------
    page.get_by_role("link", name="Sammelbuchung").click()
    expect(page.locator("h1")).to_have_text("Sammelbuchung")
    rows = page.locator("main tbody tr")
    expect(rows).to_have_count(4)  # the admin is not listed unless asked for
    expect(rows.filter(has_text=ADMIN_CODE)).to_have_count(0)
    expect(page.get_by_label("Abziehen")).to_be_checked()  # a share of the costs
    page.fill("#amount", "7,50")
    page.fill("#description", "Grillfest")
    page.locator("input.select-all").check()
    expect(page.locator('input[name="member_ids"]:checked')).to_have_count(4)
    shot(page, "05-bulk-booking")
    page.get_by_role("button", name="Weiter zur Prüfung").click()

    preview = page.locator("#confirmation")
    expect(preview.locator("h1")).to_have_text("Sammelbuchung prüfen")
    expect(preview.locator(".confirm-warning")).to_have_text(
        re.compile(rf"4 Mitglieder × {MINUS}7,50\s€ = {MINUS}30,00\s€ – „Grillfest“")
    )
    details = preview.locator(".confirm-details li")
    expect(details).to_have_text(
        [
            amount("Erika Beispiel (2345678901): 0,00 € → -7,50 €"),
            amount("Max Muster (1234567890): 19,00 € → 11,50 €"),
            amount("Ömer Öztürk (3456789012): 0,00 € → -7,50 €"),
            amount("Zoë Weiß (4567890123): 0,00 € → -7,50 €"),
        ]
    )
    shot(page, "05b-bulk-preview")
    journal = browser_context.new_page()  # a second tab: nothing is booked yet
    journal.goto(f"{base}/admin/journal")
    expect(journal_count(journal)).to_contain_text("(2)")
    expect(journal.locator("tbody tr", has_text="Grillfest")).to_have_count(0)
    journal.close()

    # "Ändern" returns to the filled-in form, which previews again
    preview.get_by_role("button", name="Ändern").click()
    expect(page.locator("h1")).to_have_text("Sammelbuchung")
    expect(page.locator("#amount")).to_have_value("7,50")
    expect(page.locator("#description")).to_have_value("Grillfest")
    expect(page.locator('input[name="member_ids"]:checked')).to_have_count(4)
    page.get_by_role("button", name="Weiter zur Prüfung").click()
    # A double click on "Jetzt buchen" books once (forms.js and the one-time form token)
    preview.get_by_role("button", name="Jetzt buchen").dblclick()
    success(page, "4 Buchungen ausgeführt.")
    expect(page).to_have_url(re.compile(r"/admin/journal$"))
    expect(journal_count(page)).to_contain_text("(6)")
    expect(page.locator("tbody tr", has_text="Grillfest")).to_have_count(4)
    expect(page.locator(".flash-error")).to_have_count(0)

    # --- Storno asks first, naming member and amount; "Abbrechen" books nothing ------------
    max_grill = page.locator("tbody tr", has_text="Grillfest").filter(has_text="Max Muster")
    max_grill.get_by_role("button", name="Stornieren").click()
    question = page.locator("#confirmation")
    expect(question.locator("h1")).to_have_text("Buchung stornieren")
    expect(question.locator(".confirm-warning")).to_have_text(
        re.compile(
            rf"Buchung #\d+ von Max Muster über {MINUS}7,50\s€ \(„Grillfest“\) stornieren\? "
            r"Eine Gegenbuchung über 7,50\s€ wird angelegt\."
        )
    )
    shot(page, "05c-storno-confirm")
    question.get_by_role("link", name="Abbrechen").click()
    expect(page).to_have_url(re.compile(r"/admin/journal$"))
    expect(journal_count(page)).to_contain_text("(6)")
    expect(page.locator("tbody tr", has_text="Storno:")).to_have_count(0)
    max_grill.get_by_role("button", name="Stornieren").click()
    question.get_by_role("button", name="Stornieren").click()
    success(page, "Buchung storniert (7,50 €).")
    expect(journal_count(page)).to_contain_text("(7)")
    expect(page.locator("tbody tr", has_text="Storno: Grillfest")).to_contain_text("7,50 €")
    expect(max_grill.locator(".badge")).to_have_text("storniert")
    expect(page.locator("tbody tr", has_text=TERMINAL)).to_contain_text(CLIENT)
    shot(page, "06-journal")

    # --- The journal by member name: suggestions while typing, accents aside ---------------
    page.locator("#journal-member").press_sequentially("öz")
    suggestion = page.locator("#member-suggestions option")
    expect(suggestion).to_have_count(1)
    expect(suggestion).to_have_attribute("value", f"Öztürk, Ömer ({OEZTUERK[0]})")
    page.fill("#journal-member", f"Öztürk, Ömer ({OEZTUERK[0]})")
    page.locator("form.filters").get_by_role("button", name="Filtern").click()
    expect(journal_count(page)).to_have_text(re.compile(r"^Buchungen: Ömer Öztürk\s*\(1\)$"))
    expect(page.locator("main tbody tr")).to_contain_text("Grillfest")

    # --- Deleting a member says that the bookings go too, and offers their CSV first ------
    open_member(page, OEZTUERK)
    page.locator("main").get_by_role("link", name="Löschen", exact=True).click()
    question = page.locator("#confirmation")
    expect(question.locator("h1")).to_have_text("Mitglied löschen")
    expect(question.locator(".confirm-warning")).to_contain_text(
        "Ömer Öztürk wird gelöscht, mit allen Tokens und 1 Buchung; sie verschwindet aus dem "
        "Journal"
    )
    expect(question.locator("#export-first")).to_have_attribute(
        "href", re.compile(rf"/admin/journal\.csv\?member={OEZTUERK[0]}$")
    )
    question.get_by_role("link", name="Abbrechen").click()
    expect(page.locator("h1")).to_contain_text("Ömer Öztürk")  # still there

    # --- Refused taps: below the minimum, locked, unknown ----------------------------------
    open_member(page, WEISS)
    page.get_by_role("button", name="Sperren").click()
    success(page, "Mitglied gesperrt.")
    status, answer = code_tap(server, key, ERIKA[0])
    assert (status, answer.get("action")) == (200, "block"), answer
    status, answer = code_tap(server, key, WEISS[0])
    assert (status, answer.get("action")) == (200, "locked"), answer

    # --- The balances and the refusals as the dashboard shows them -------------------------
    # Max: +20,00 deposit, -1,00 terminal, -7,50 Grillfest, +7,50 reversal = 19,00
    # Erika, Ömer, Zoë: -7,50 Grillfest each; the admin: 0,00; together -3,50
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    expect(stat(page, "Summe der Guthaben")).to_have_text(amount("-3,50 €"))
    expect(stat(page, "Im Minus")).to_have_text("3")
    expect(stat(page, "Mitglieder")).to_have_text("5")
    rows = page.locator("#members tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text=MAX[0]).locator("td.num")).to_have_text("19,00 €")
    for member in (ERIKA, OEZTUERK, WEISS):
        expect(rows.filter(has_text=member[0]).locator("td.num")).to_have_text(amount("-7,50 €"))
        expect(rows.filter(has_text=member[0])).to_contain_text("unter Minimum")
    expect(rows.filter(has_text=WEISS[0])).to_contain_text("gesperrt")
    expect(rows.filter(has_text=ADMIN_CODE).locator("td.num")).to_have_text("0,00 €")
    expect(page.locator("section", has_text="Unbekannte Tokens")).to_contain_text("DE:AD:BE:EF")
    refused = page.locator("#refused-today")
    expect(refused.locator("h2")).to_contain_text("Heute abgewiesen (3)")
    refused_rows = refused.locator("tbody tr")
    expect(refused_rows).to_have_count(3)
    erika_refused = refused_rows.filter(has_text="Erika Beispiel")
    expect(erika_refused).to_contain_text("Guthaben reicht nicht")
    expect(erika_refused).to_contain_text(amount("-7,50 €"))
    expect(refused_rows.filter(has_text="Zoë Weiß")).to_contain_text("Konto gesperrt")
    expect(refused_rows.filter(has_text="unbekannter Token oder Code")).to_have_count(1)
    for row in range(3):
        expect(refused_rows.nth(row)).to_contain_text(CLIENT)
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the dashboard scrolls sideways on a desktop: {widths}"
    shot(page, "03-dashboard")

    # The member's page lists their own refusals, so the treasurer can remind them to pay
    erika_refused.get_by_role("link", name="Erika Beispiel").click()
    expect(page.locator("h1")).to_contain_text("Erika Beispiel")
    own = page.locator("#refused")
    expect(own.locator("tbody tr")).to_have_count(1)
    expect(own.locator("tbody tr")).to_contain_text("Guthaben reicht nicht")
    expect(own).to_contain_text(TERMINAL)
    shot(page, "04b-refused-taps")

    page.get_by_role("link", name="Mitglieder", exact=True).click()
    page.get_by_role("link", name="Muster, Max").click()
    expect(page).to_have_url(max_url)
    expect(stat(page, "Guthaben")).to_have_text("19,00 €")
    expect(page.locator(".facts")).to_contain_text(MAX[3])
    expect(page.locator("#tokens li", has_text=TOKEN_HEX)).to_contain_text("zuletzt")
    expect(page.locator("h2", has_text="Buchungen")).to_contain_text("(4)")
    expect(page.locator("#refused")).to_have_count(0)  # Max was never turned away
    shot(page, "04-member")

    # --- Tokens and the audit log, in words ---------------------------------------------------
    page.get_by_role("link", name="Tokens", exact=True).click()
    expect(page.locator("tbody tr", has_text="DE:AD:BE:EF")).to_contain_text(CLIENT)
    shot(page, "07-tokens")
    page.get_by_role("link", name="Protokoll").click()
    for action, target in (
        ("Passwort geändert", ADMIN_CODE),
        ("Einstellungen geändert", ""),
        ("Mitglied angelegt", MAX[0]),
        ("Token hinzugefügt", MAX[0]),
        ("API-Schlüssel erzeugt", CLIENT),
        ("Mitglied gesperrt", WEISS[0]),
        ("Buchung storniert", ""),
    ):
        row = page.locator("tbody tr").filter(has_text=action).filter(has_text=target)
        expect(row.first).to_be_visible()
    expect(page.locator("tbody tr", has_text="token.add")).to_have_count(0)
    shot(page, "10-audit-log")

    # --- English: texts and amounts as English speakers write them ---------------------------
    page.get_by_role("link", name="Mitglieder", exact=True).click()
    switch_language(page, "en")
    expect(page.locator("h1")).to_have_text("Members")
    expect(stat(page, "Sum of balances")).to_have_text(amount("-€3.50"))
    expect(stat(page, "In debt")).to_have_text("3")
    rows = page.locator("#members tbody tr")
    expect(rows.filter(has_text=MAX[0]).locator("td.num")).to_have_text("€19.00")
    expect(rows.filter(has_text=ERIKA[0])).to_contain_text("below minimum")
    expect(page.locator("#refused-today h2")).to_contain_text("Refused today (3)")
    expect(page.locator("#refused-today")).to_contain_text("Balance too low")
    expect(page.locator("#refused-today")).to_contain_text("Account locked")
    shot(page, "15-dashboard-en")
    page.get_by_role("link", name="Muster, Max").click()
    expect(stat(page, "Balance")).to_have_text("€19.00")
    booking = page.locator("#booking")
    expect(booking.locator("h2")).to_have_text("Book")
    expect(booking.get_by_label("Deposit", exact=True)).to_be_checked()
    expect(booking.locator("fieldset.presets")).to_contain_text("Deposit in one tap")
    expect(booking.locator("fieldset.presets label")).to_have_text(["€10.00", "€20.00", "€50.00"])
    grill = page.locator("main table tbody tr", has_text="Grillfest")
    expect(grill.locator(".badge")).to_have_text("reversed")
    shot(page, "16-member-en")
    page.get_by_role("link", name="Bulk booking").click()
    expect(page.locator("h1")).to_have_text("Bulk booking")
    page.fill("#amount", "1,000.50")  # English separators: a thousand and fifty cents
    page.fill("#description", "Kameradschaftskasse")
    page.locator("tbody tr", has_text=OEZTUERK[0]).locator('input[name="member_ids"]').check()
    page.get_by_role("button", name="Continue to check").click()
    expect(page.locator("#confirmation h1")).to_have_text("Check the bulk booking")
    expect(page.locator("#confirmation .confirm-warning")).to_contain_text(
        amount("1 member × -€1,000.50 = -€1,000.50")
    )
    page.locator("#confirmation").get_by_role("link", name="Cancel").click()
    expect(page.locator("h1")).to_have_text("Bulk booking")
    page.get_by_role("link", name="Bookings", exact=True).click()
    expect(journal_count(page)).to_contain_text("(7)")  # the cancelled preview booked nothing
    expect(page.locator("tbody tr").get_by_role("button", name="Reverse").first).to_be_visible()
    switch_language(page, "de")
    expect(page.locator("h1")).to_contain_text("Buchungen")

    # --- An address that does not exist: the styled page in the GUI's frame ---------------
    missing = page.goto(f"{base}/admin/gibt-es-nicht")
    assert missing.status == 404
    expect(page.locator(".error-page h1")).to_have_text("Seite nicht gefunden")
    expect(page.locator(".error-page .error-code")).to_have_text("Fehler 404")
    expect(page.locator(".brand")).to_contain_text(ORGANISATION)

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

    # --- A phone: nothing scrolls sideways, the brigade's name on one line, bookings first --
    phone = browser_context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{base}/admin/")
    expect(phone.locator("#members tbody tr")).to_have_count(5)
    assert_fits_the_phone(phone, "the dashboard")
    shot(phone, "13-phone-dashboard", full_page=False)
    shot(phone, "14-phone-dashboard-full")
    phone.goto(max_url)
    expect(phone.locator("h1")).to_contain_text("Max Muster")
    assert_fits_the_phone(phone, "the member page")
    bookings = phone.locator("section.card", has=phone.locator("h2", has_text="Buchungen"))
    bookings_top = bookings.first.bounding_box()["y"]
    form_top = phone.locator("#booking").bounding_box()["y"]
    assert bookings_top < form_top, "on a phone the member's bookings come before the forms"
    shot(phone, "17-phone-member", full_page=False)
    phone.close()

    # --- The CSP holds: a planted inline script is refused, and the console says so ---------
    digest = base64.b64encode(hashlib.sha256(PLANTED_SCRIPT.encode()).digest()).decode()
    with page.expect_console_message(lambda m: digest in m.text) as refused_script:
        page.evaluate(
            """(code) => { const s = document.createElement("script");
                           s.textContent = code; document.head.appendChild(s); }""",
            PLANTED_SCRIPT,
        )
    assert "Content Security Policy" in refused_script.value.text
    assert page.evaluate("() => window.__fvhPlanted") is None

    # The refused "1.000" was answered 400 with the form again and the missing page 404,
    # which chromium logs as failed loads; nothing else may be reported
    expected = (
        f"status of 400 (BAD REQUEST) ({max_url}/book)",
        f"status of 404 (NOT FOUND) ({base}/admin/gibt-es-nicht)",
    )
    for text in expected:
        assert any(text in item for item in problems.items), (text, problems.items)
    unexpected = [
        item
        for item in problems.items
        if digest not in item and not any(text in item for text in expected)
    ]
    assert unexpected == [], "the browser reported problems:\n" + "\n".join(unexpected)


def assert_fits_the_phone(page, what: str) -> None:
    """No sideways scrolling, and the brigade's name in the header takes one line."""
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways on a phone: {widths}"
    lines = page.locator(".brand").evaluate(
        """(el) => { const style = getComputedStyle(el);
                     const line = parseFloat(style.lineHeight) || 1.3 * parseFloat(style.fontSize);
                     return el.getBoundingClientRect().height / line; }"""
    )
    assert lines < 1.8, f"the brigade's name takes {lines:.1f} lines on a phone ({what})"
